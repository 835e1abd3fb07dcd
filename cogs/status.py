"""/status for the bot's owner: version, uptime, jobs by state, fal and Discord latency, live processes."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.localize import localized
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
        words: dict[str, str] = {text: await localized(interaction, text) for text in labels(report)}
        await interaction.response.send_message(embed=render(report, words), ephemeral=True)


def labels(report: StatusReport) -> list[Text]:
    """The embed's own words (the figures, states and process lines stay as the operator's logs write them)."""
    return [
        Text("Bot status"),
        Text("Version"),
        Text("Uptime"),
        Text("fal backend"),
        Text("Jobs by state"),
        Text("none yet"),
        Text("Jobs running now"),
        Text("fal latency"),
        Text("no call yet"),
        Text("Discord latency"),
        Text("not connected"),
        Text("Discord 429s"),
        Text("Processes ({count} live)", count=len(report.processes)),
    ]


def render(report: StatusReport, words: dict[str, str] | None = None) -> discord.Embed:
    """`words`: labels(report) in the owner's language (English where missing)."""
    say = {text: (words or {}).get(text, text) for text in labels(report)}
    (title, version, uptime, backend, by_state, none_yet, running, fal, no_call, gateway, offline, limited, live) = (
        say.values()
    )
    embed = discord.Embed(title=title, colour=discord.Colour.dark_grey())
    embed.add_field(name=version, value=report.version)
    embed.add_field(name=uptime, value=duration(report.uptime_seconds))
    embed.add_field(name=backend, value=report.backend)
    jobs = ", ".join(f"{state} {count}" for state, count in sorted(report.jobs_by_state.items())) or none_yet
    embed.add_field(name=by_state, value=jobs, inline=False)
    embed.add_field(name=running, value=str(report.active_jobs))
    embed.add_field(name=fal, value=milliseconds(report.fal_latency, no_call))
    embed.add_field(name=gateway, value=milliseconds(report.discord_latency, offline))
    embed.add_field(name=limited, value=str(report.discord_429s))
    if report.processes:  # every live process on the database: its shards, jobs held, last heartbeat
        embed.add_field(name=live, value=processes_text(report.processes), inline=False)
    return embed
