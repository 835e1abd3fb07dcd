"""/character create | list | delete."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.localize import localized
from bot.domain.text import Text
from bot.jobs.characters import CharacterRefused, CharacterService
from cogs.checks import is_admin
from cogs.flow import refuse

MAX_VIDEO_BYTES = 100 * 2**20


class CharacterCog(commands.Cog):
    character = app_commands.Group(
        name="character", description="Reusable Sora characters for this server", guild_only=True
    )

    def __init__(self, service: CharacterService) -> None:
        self._service = service

    @character.command(name="create", description="Make a character from a short MP4 (at least 720p)")
    @app_commands.describe(name="What prompts call it (1-80 characters)", video="An MP4 showing the character")
    async def create(
        self, interaction: discord.Interaction, name: app_commands.Range[str, 1, 80], video: discord.Attachment
    ) -> None:
        assert interaction.guild_id is not None
        if (video.content_type or "").split(";")[0] != "video/mp4" or not video.filename.lower().endswith(".mp4"):
            await refuse(interaction, Text("Attach an MP4 video (at least 720p) that shows the character."))
            return
        if video.size > MAX_VIDEO_BYTES:
            await refuse(interaction, Text("That video is over 100 MiB; attach a shorter clip."))
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            made = await self._service.create(interaction.guild_id, interaction.user.id, name, video.url)
        except CharacterRefused as exc:
            await interaction.followup.send(await localized(interaction, exc.text), ephemeral=True)
            return
        ready = Text(
            "Character **{name}** is ready. Pick it in the `characters` option of /generate or "
            "/animate-attachment, and name it in your prompt (e.g. “{name} waves at the camera”).",
            name=made.name,
        )
        await interaction.followup.send(await localized(interaction, ready), ephemeral=True)

    @character.command(name="list", description="This server's characters")
    async def list_(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        found = await self._service.list(interaction.guild_id)
        if not found:
            await refuse(interaction, Text("This server has no characters yet: make one with /character create."))
            return
        lines = [
            await localized(interaction, Text("• **{name}** (by {maker})", name=c.name, maker=f"<@{c.created_by}>"))
            for c in found
        ]
        await refuse(interaction, "\n".join(lines))

    @character.command(name="delete", description="Delete a character (its maker or an admin)")
    async def delete(self, interaction: discord.Interaction, name: str) -> None:
        assert interaction.guild_id is not None
        admin = is_admin(interaction)
        try:
            gone = await self._service.delete(interaction.guild_id, name, interaction.user.id, admin)
        except CharacterRefused as exc:
            await refuse(interaction, exc.text)
            return
        await refuse(interaction, Text("Deleted the character **{name}**.", name=gone.name))
