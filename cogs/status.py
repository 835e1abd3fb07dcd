"""/status for the bot's owner: version, uptime, jobs by state, fal and Discord latency, live processes."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.localize import localized
from bot.discord.messenger import Say
from bot.domain.text import Text
from bot.ops.status_report import StatusReport, StatusService, duration, milliseconds, processes_text


class StatusCog(commands.Cog):
    def __init__(self, service: StatusService) -> None:
        self._service = service

    @app_commands.command(name="status", description="The bot's health, for its owner")
    async def status(self, interaction: discord.Interaction[commands.Bot]) -> None:
        # Checked here, on the server side: who the owner is cannot be expressed in Discord's permissions.
        if not await interaction.client.is_owner(interaction.user):
            await interaction.response.send_message(
                await localized(interaction, Text("Only the bot's owner can use /status.")), ephemeral=True
            )
            return
        report = await self._service.report()
        embed = await render(report, lambda text: localized(interaction, text))
        await interaction.response.send_message(embed=embed, ephemeral=True)


async def render(report: StatusReport, say: Say) -> discord.Embed:
    """`say`: the embed's own words in the owner's language (the figures, states and process lines stay as
    the operator's logs write them)."""
    embed = discord.Embed(title=await say(Text("Bot status")), colour=discord.Colour.dark_grey())
    embed.add_field(name=await say(Text("Version")), value=report.version)
    embed.add_field(name=await say(Text("Uptime")), value=duration(report.uptime_seconds))
    embed.add_field(name=await say(Text("fal backend")), value=report.backend)
    jobs = ", ".join(f"{state} {count}" for state, count in sorted(report.jobs_by_state.items()))
    embed.add_field(name=await say(Text("Jobs by state")), value=jobs or await say(Text("none yet")), inline=False)
    embed.add_field(name=await say(Text("Jobs running now")), value=str(report.active_jobs))
    fal = milliseconds(report.fal_latency, await say(Text("no call yet")))
    embed.add_field(name=await say(Text("fal latency")), value=fal)
    gateway = milliseconds(report.discord_latency, await say(Text("not connected")))
    embed.add_field(name=await say(Text("Discord latency")), value=gateway)
    embed.add_field(name=await say(Text("Discord 429s")), value=str(report.discord_429s))
    if report.processes:  # every live process on the database: its shards, jobs held, last heartbeat
        live = await say(Text("Processes ({count} live)", count=len(report.processes)))
        embed.add_field(name=live, value=processes_text(report.processes), inline=False)
    return embed
