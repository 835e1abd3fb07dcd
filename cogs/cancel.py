"""The Cancel button on progress messages. Handled by custom id (not a view kept in memory), so a
button posted before a restart still works: the job's state is re-read from the database."""

from __future__ import annotations

import re

import discord
from discord.ext import commands

from bot import custom_ids
from bot.jobs import JobRunner
from bot.store import Store

PATTERN = re.compile(f"^{custom_ids.CANCEL_TEMPLATE}$")


class CancelCog(commands.Cog):
    def __init__(self, runner: JobRunner, store: Store) -> None:
        self._runner = runner
        self._store = store

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        if interaction.type is not discord.InteractionType.component or interaction.data is None:
            return
        match = PATTERN.match(str(interaction.data.get("custom_id", "")))
        if match is None:
            return
        job = await self._store.get_job(int(match["job_id"]))
        if job is None or job.guild_id != interaction.guild_id:
            await interaction.response.send_message("This video request no longer exists.", ephemeral=True)
            return
        may = interaction.user.id == job.user_id or interaction.permissions.manage_guild
        if not may:
            await interaction.response.send_message(
                "Only the member who asked for this video, or an admin, can cancel it.", ephemeral=True
            )
            return
        await interaction.response.defer(ephemeral=True, thinking=True)  # cancelling asks fal: may take a moment
        await interaction.followup.send(await self._runner.cancel(job.id, interaction.user.id), ephemeral=True)
