"""/animate-attachment and the "Animate image" message menu: an image becomes a video's first frame."""

from __future__ import annotations

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.localize import localized
from bot.discord.messenger import DiscordMessenger
from bot.domain import custom_ids, sora
from bot.domain.text import Text
from bot.jobs import images
from bot.jobs.runner import JobRunner
from bot.storage.settings import SettingsStore
from cogs.characters_option import CharacterPicker
from cogs.components import PROMPT_INPUT, form_values, gone, prompt_form
from cogs.flow import refuse, start_job
from cogs.options import DURATION_CHOICES, MODEL_CHOICES

ASPECT_CHOICES = [
    app_commands.Choice(name="auto (from the image)", value="auto"),
    app_commands.Choice(name="16:9 landscape", value="16:9"),
    app_commands.Choice(name="9:16 portrait", value="9:16"),
]
RESOLUTION_CHOICES = [
    app_commands.Choice(name="auto", value="auto"),
    app_commands.Choice(name="720p", value="720p"),
    app_commands.Choice(name="1080p (Pro only)", value="1080p"),
    app_commands.Choice(name="true 1080p (Pro only)", value="true_1080p"),
]


class AnimateCog(commands.Cog):
    def __init__(
        self,
        runner: JobRunner,
        messenger: DiscordMessenger,
        http: aiohttp.ClientSession,
        picker: CharacterPicker,
        settings: SettingsStore,
    ) -> None:
        self._settings = settings
        self._runner = runner
        self._messenger = messenger
        self._http = http
        self._picker = picker
        # Context menus cannot live in a cog's class body; cogs.install adds these to the tree.
        menu = app_commands.ContextMenu(name="Animate image", callback=self.animate_menu)
        menu.guild_only = True
        self.context_menus = [menu]
        self.forms = {"animate": self.animate_form}

    @app_commands.command(name="animate-attachment", description="Make a video that starts from an image")
    @app_commands.describe(
        image="A PNG, JPEG or WEBP image (at most 20 MiB): the first frame",
        prompt="What happens in the video",
        duration="Length in seconds (default 4)",
        aspect_ratio="Shape of the video (default: from the image)",
        model="Sora 2, or Sora 2 Pro (default Sora 2)",
        resolution="auto, 720p, or with Pro 1080p / true 1080p (default auto)",
        characters="Up to two of this server's characters, separated by commas (name them in the prompt)",
    )
    # Two choices() decorators: each call takes choices of one type (int here, str below) for mypy.
    @app_commands.choices(duration=DURATION_CHOICES)
    @app_commands.choices(aspect_ratio=ASPECT_CHOICES, model=MODEL_CHOICES, resolution=RESOLUTION_CHOICES)
    @app_commands.guild_only()
    async def animate_attachment(
        self,
        interaction: discord.Interaction,
        image: discord.Attachment,
        prompt: app_commands.Range[str, 1, 5000],
        duration: app_commands.Choice[int] | None = None,
        aspect_ratio: app_commands.Choice[str] | None = None,
        model: app_commands.Choice[str] | None = None,
        resolution: app_commands.Choice[str] | None = None,
        characters: str | None = None,
    ) -> None:
        await self._animate(
            interaction,
            image,
            prompt,
            duration=duration.value if duration else None,
            aspect_ratio=aspect_ratio.value if aspect_ratio else "auto",
            model=model.value if model else None,
            resolution=resolution.value if resolution else "auto",
            characters=characters,
        )

    @animate_attachment.autocomplete("characters")
    async def _characters(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await self._picker.suggest(interaction, current)

    async def animate_menu(self, interaction: discord.Interaction, message: discord.Message) -> None:
        if _first_image(message) is None:
            await refuse(interaction, Text("That message has no image to animate."))
            return
        title, label = [
            await localized(interaction, t) for t in (Text("Animate image"), Text("What happens in the video?"))
        ]
        await interaction.response.send_modal(prompt_form(custom_ids.animate(message.id), title, label))

    async def animate_form(self, interaction: discord.Interaction, message_id: int) -> None:
        """The form's submit, by its custom id: the message is read again from this channel, so the form
        works after a restart and cannot name a message elsewhere."""
        channel = interaction.channel
        image = None
        if interaction.guild_id is not None and isinstance(channel, discord.abc.Messageable):
            try:
                image = _first_image(await channel.fetch_message(message_id))
            except discord.HTTPException:  # deleted, or not in this channel
                image = None
        if image is None:
            await gone(interaction)
            return
        await self._animate(interaction, image, form_values(interaction).get(PROMPT_INPUT, ""))

    async def _animate(
        self,
        interaction: discord.Interaction,
        image: discord.Attachment,
        prompt: str,
        *,
        duration: int | None = None,
        aspect_ratio: str = "auto",  # the form asks only for a prompt: auto, as sora.image_to_video's defaults
        model: str | None = None,
        resolution: str = "auto",
        characters: str | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        rules = await self._settings.get(interaction.guild_id)  # the server's defaults for length and model
        try:
            images.check_declared(image.content_type, image.size)
            ids = await self._picker.resolve(interaction.guild_id, characters)
            request = sora.image_to_video(
                prompt,
                image.url,
                duration=duration or rules.default_duration,
                aspect_ratio=aspect_ratio,
                model=model or rules.default_model,
                resolution=resolution,
                character_ids=ids,
            )
        except (images.ImageRefused, sora.InvalidRequest) as exc:
            await refuse(interaction, exc.text if isinstance(exc, sora.InvalidRequest) else exc.user_message)
            return

        async def decodes() -> None:
            # The file itself, not its name or declared type, decides; downloading it may outlast
            # Discord's 3 s, so this runs after the deferral.
            await images.check_image(self._http, image.url, image.content_type)

        await start_job(interaction, self._runner, self._messenger, request, check=decodes)


def _first_image(message: discord.Message) -> discord.Attachment | None:
    return next((a for a in message.attachments if (a.content_type or "").startswith("image/")), None)
