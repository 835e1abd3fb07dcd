"""The 🗑️ Delete button under every video, and the private confirmation it asks for ("Delete" / "Keep").
All three are DynamicItems matched by custom id (bot.discord.buttons): a confirmation still works after a
restart, and every click re-reads the video. Who may delete, and the deleting itself, are the service's
(bot.ops.video_deletion); this only answers."""

from __future__ import annotations

import discord
from discord.ext import commands

from bot.discord.buttons import JobButton
from bot.discord.localize import localized
from bot.discord.messenger import delete_confirm_view
from bot.domain import custom_ids, deletion
from bot.domain.models import Refused
from bot.ops.video_deletion import VideoDeletion
from cogs.components import cog_of, gone
from cogs.flow import refuse


class DeleteCog(commands.Cog):
    def __init__(self, service: VideoDeletion) -> None:
        self._service = service
        self.buttons = [DeleteButton, ConfirmDeleteButton, KeepButton]

    async def ask(self, interaction: discord.Interaction, job_id: int) -> None:
        """The card's button: refuse now (a stranger, a deleted video), or ask to confirm, privately."""
        try:
            video = await self._service.check(
                job_id, interaction.guild_id, interaction.user.id, _moderates(interaction)
            )
        except Refused as exc:
            await refuse(interaction, exc.user_message)
            return
        if video is None:
            await gone(interaction)
            return
        question = await localized(interaction, deletion.confirm_question())
        await interaction.response.send_message(
            question, view=await delete_confirm_view(job_id, lambda text: localized(interaction, text)), ephemeral=True
        )

    async def confirm(self, interaction: discord.Interaction, job_id: int) -> None:
        # Deferred first: discord.py retries a 5xx of the DELETE for seconds, beyond the 3 s to answer.
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            text = await self._service.delete(
                job_id, interaction.guild_id, interaction.user.id, _moderates(interaction)
            )
        except Refused as exc:
            text = exc.user_message
        if text is None:
            await gone(interaction)
        else:
            await interaction.followup.send(await localized(interaction, text), ephemeral=True)

    async def keep(self, interaction: discord.Interaction) -> None:
        await interaction.response.edit_message(content=await localized(interaction, deletion.kept()), view=None)


def _moderates(interaction: discord.Interaction) -> bool:
    """Manage Messages in the channel clicked in (the video's: its card, or the confirmation beside it)."""
    return interaction.permissions.manage_messages


class DeleteButton(JobButton, template=custom_ids.DELETE_TEMPLATE):
    async def clicked(self, interaction: discord.Interaction, job_id: int) -> None:
        await cog_of(interaction, DeleteCog).ask(interaction, job_id)


class ConfirmDeleteButton(JobButton, template=custom_ids.DELETE_CONFIRM_TEMPLATE):
    async def clicked(self, interaction: discord.Interaction, job_id: int) -> None:
        await cog_of(interaction, DeleteCog).confirm(interaction, job_id)


class KeepButton(JobButton, template=custom_ids.DELETE_KEEP_TEMPLATE):
    async def clicked(self, interaction: discord.Interaction, job_id: int) -> None:
        await cog_of(interaction, DeleteCog).keep(interaction)
