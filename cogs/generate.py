"""/generate: parse the interaction, hand the request to the job runner, answer."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.messenger import DiscordMessenger
from bot.domain import sora
from bot.domain.guild_settings import GuildSettings
from bot.jobs.runner import JobRunner
from bot.storage.settings import SettingsStore
from cogs.characters_option import CharacterPicker
from cogs.flow import refuse, start_job
from cogs.options import ASPECT_CHOICES, DURATION_CHOICES, MODEL_CHOICES, RESOLUTION_CHOICES


def default_resolution(rules: GuildSettings, model: str) -> str:
    """The server's default, unless it needs Pro and the member picked Sora 2."""
    return rules.default_resolution if model == "sora-2-pro" or rules.default_resolution == "720p" else "720p"


class GenerateCog(commands.Cog):
    def __init__(
        self, runner: JobRunner, messenger: DiscordMessenger, picker: CharacterPicker, settings: SettingsStore
    ) -> None:
        self._settings = settings
        self._runner = runner
        self._messenger = messenger
        self._picker = picker

    @app_commands.command(name="generate", description="Make a video from a text prompt with Sora 2")
    @app_commands.describe(
        prompt="What the video shows (up to 5000 characters)",
        duration="Length in seconds (default 4, or the server's default)",
        aspect_ratio="Shape of the video (default 16:9, or the server's default)",
        model="Sora 2, or the slower and finer Sora 2 Pro (default Sora 2, or the server's default)",
        resolution="720p, or 1080p with Sora 2 Pro (default 720p, or the server's default)",
        characters="Up to two of this server's characters, separated by commas (name them in the prompt)",
    )
    # Two choices() decorators: each call takes choices of one type (int here, str below) for mypy.
    @app_commands.choices(duration=DURATION_CHOICES)
    @app_commands.choices(aspect_ratio=ASPECT_CHOICES, model=MODEL_CHOICES, resolution=RESOLUTION_CHOICES)
    @app_commands.guild_only()
    async def generate(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, 5000],
        duration: app_commands.Choice[int] | None = None,
        aspect_ratio: app_commands.Choice[str] | None = None,
        model: app_commands.Choice[str] | None = None,
        resolution: app_commands.Choice[str] | None = None,
        characters: str | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        rules = await self._settings.get(interaction.guild_id)  # the server's defaults fill what is left out
        chosen_model = model.value if model else rules.default_model
        try:
            ids = await self._picker.resolve(interaction.guild_id, characters)
            request = sora.text_to_video(
                prompt,
                duration=duration.value if duration else rules.default_duration,
                aspect_ratio=aspect_ratio.value if aspect_ratio else rules.default_aspect,
                model=chosen_model,
                resolution=resolution.value if resolution else default_resolution(rules, chosen_model),
                character_ids=ids,
            )
        except sora.InvalidRequest as exc:
            await refuse(interaction, exc.text)
            return
        await start_job(interaction, self._runner, self._messenger, request)

    @generate.autocomplete("characters")
    async def _characters(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await self._picker.suggest(interaction, current)
