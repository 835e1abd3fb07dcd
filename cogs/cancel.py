"""The Cancel button on progress messages. A DynamicItem matched by custom id (bot.discord.buttons), not a
view kept in memory, so a button posted before a restart still works: the job's state is re-read from the
database."""

from __future__ import annotations

import discord
from discord.ext import commands

from bot.discord.buttons import JobButton
from bot.discord.localize import localized
from bot.domain import custom_ids
from bot.domain.text import Text
from bot.jobs.runner import JobRunner
from bot.storage.jobs import JobStore
from cogs.components import cog_of, gone


class CancelCog(commands.Cog):
    def __init__(self, runner: JobRunner, jobs: JobStore) -> None:
        self._runner = runner
        self._jobs = jobs
        self.buttons = [CancelButton]

    async def cancel(self, interaction: discord.Interaction, job_id: int) -> None:
        job = await self._jobs.get_job(job_id)
        if job is None or job.guild_id != interaction.guild_id:
            await gone(interaction)
            return
        may = interaction.user.id == job.user_id or interaction.permissions.manage_guild
        if not may:
            only = Text("Only the member who asked for this video, or an admin, can cancel it.")
            await interaction.response.send_message(await localized(interaction, only), ephemeral=True)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)  # cancelling asks fal: may take a moment
        said = await self._runner.cancel(job.id, interaction.user.id)
        await interaction.followup.send(await localized(interaction, said), ephemeral=True)


class CancelButton(JobButton, template=custom_ids.CANCEL_TEMPLATE):
    async def clicked(self, interaction: discord.Interaction, job_id: int) -> None:
        await cog_of(interaction, CancelCog).cancel(interaction, job_id)
