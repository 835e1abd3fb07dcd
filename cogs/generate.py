"""/generate: parse the interaction, hand the request to the job runner, answer."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot import sora
from bot.discord_messenger import DiscordMessenger
from bot.jobs import JobRunner, Origin
from bot.quota import QuotaRefused

DURATION_CHOICES = [app_commands.Choice(name=f"{s} seconds", value=s) for s in (4, 8, 12, 16, 20)]
ASPECT_CHOICES = [
    app_commands.Choice(name="16:9 landscape", value="16:9"),
    app_commands.Choice(name="9:16 portrait", value="9:16"),
]
MODEL_CHOICES = [
    app_commands.Choice(name="Sora 2", value="sora-2"),
    app_commands.Choice(name="Sora 2 Pro", value="sora-2-pro"),
]
RESOLUTION_CHOICES = [
    app_commands.Choice(name="720p", value="720p"),
    app_commands.Choice(name="1080p (Pro only)", value="1080p"),
]
NEEDED = ("send_messages", "attach_files", "embed_links")


def missing_permissions(permissions: discord.Permissions) -> list[str]:
    return [name.replace("_", " ").title() for name in NEEDED if not getattr(permissions, name)]


class GenerateCog(commands.Cog):
    def __init__(self, runner: JobRunner, messenger: DiscordMessenger) -> None:
        self._runner = runner
        self._messenger = messenger

    @app_commands.command(name="generate", description="Make a video from a text prompt with Sora 2")
    @app_commands.describe(
        prompt="What the video shows (up to 5000 characters)",
        duration="Length in seconds (default 4)",
        aspect_ratio="Shape of the video (default 16:9)",
        model="Sora 2, or the slower and finer Sora 2 Pro (default Sora 2)",
        resolution="720p, or 1080p with Sora 2 Pro (default 720p)",
    )
    @app_commands.choices(
        duration=DURATION_CHOICES, aspect_ratio=ASPECT_CHOICES, model=MODEL_CHOICES, resolution=RESOLUTION_CHOICES
    )
    @app_commands.guild_only()
    async def generate(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, 5000],
        duration: app_commands.Choice[int] | None = None,
        aspect_ratio: app_commands.Choice[str] | None = None,
        model: app_commands.Choice[str] | None = None,
        resolution: app_commands.Choice[str] | None = None,
    ) -> None:
        try:
            request = sora.text_to_video(
                prompt,
                duration=duration.value if duration else 4,
                aspect_ratio=aspect_ratio.value if aspect_ratio else "16:9",
                model=model.value if model else "sora-2",
                resolution=resolution.value if resolution else "720p",
            )
        except sora.InvalidRequest as exc:
            await interaction.response.send_message(str(exc), ephemeral=True)
            return
        missing = missing_permissions(interaction.app_permissions)
        if missing:
            await interaction.response.send_message(
                f"I can't post videos in this channel: I'm missing {', '.join(missing)}. "
                "Ask an admin, or use another channel.",
                ephemeral=True,
            )
            return
        assert interaction.guild_id is not None and interaction.channel_id is not None
        origin = Origin(guild_id=interaction.guild_id, channel_id=interaction.channel_id, user_id=interaction.user.id)
        try:
            # The quota check and the reservation come first, so a refusal can still be private.
            job = await self._runner.accept(request, origin)
        except QuotaRefused as exc:
            await interaction.response.send_message(exc.user_message, ephemeral=True)
            return
        try:
            await interaction.response.defer(thinking=True)
        except discord.HTTPException:
            await self._runner.abandon(job, "Discord did not let the bot answer in time; nothing was charged.")
            raise
        self._messenger.attach(job.id, interaction)
        self._runner.start(job)
