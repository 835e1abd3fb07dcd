"""/status for the bot's owner: version, uptime, jobs by state, fal and Discord latency, live processes."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.ops.status_report import StatusReport, StatusService, duration, milliseconds, processes_text


class StatusCog(commands.Cog):
    def __init__(self, service: StatusService) -> None:
        self._service = service

    @app_commands.command(name="status", description="The bot's health, for its owner")
    async def status(self, interaction: discord.Interaction[commands.Bot]) -> None:
        # Checked here, on the server side: who the owner is cannot be expressed in Discord's permissions.
        if not await interaction.client.is_owner(interaction.user):
            await interaction.response.send_message("Only the bot's owner can use /status.", ephemeral=True)
            return
        report = await self._service.report()
        await interaction.response.send_message(embed=render(report), ephemeral=True)


def render(report: StatusReport) -> discord.Embed:
    embed = discord.Embed(title="Bot status", colour=discord.Colour.dark_grey())
    embed.add_field(name="Version", value=report.version)
    embed.add_field(name="Uptime", value=duration(report.uptime_seconds))
    embed.add_field(name="fal backend", value=report.backend)
    jobs = ", ".join(f"{state} {count}" for state, count in sorted(report.jobs_by_state.items())) or "none yet"
    embed.add_field(name="Jobs by state", value=jobs, inline=False)
    embed.add_field(name="Jobs running now", value=str(report.active_jobs))
    embed.add_field(name="fal latency", value=milliseconds(report.fal_latency, "no call yet"))
    embed.add_field(name="Discord latency", value=milliseconds(report.discord_latency, "not connected"))
    embed.add_field(name="Discord 429s", value=str(report.discord_429s))
    if report.processes:  # every live process on the database: its shards, jobs held, last heartbeat
        embed.add_field(
            name=f"Processes ({len(report.processes)} live)", value=processes_text(report.processes), inline=False
        )
    return embed
