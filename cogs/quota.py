"""/quota (admins) and /usage (everyone): parse, call the quota service, answer privately."""

from __future__ import annotations

import asyncio
import datetime as dt
import io

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.localize import localized
from bot.domain import quota_texts
from bot.domain.models import Refused
from bot.domain.quota import Period, to_micros
from bot.domain.spend import SpendFigures, export_range
from bot.domain.text import Money, Text
from bot.ops.quota import QuotaService
from bot.ops.spend_chart import ChartWords, render_spend_chart
from cogs.checks import ADMIN, admin_only, say

PERIOD_CHOICES = [app_commands.Choice(name=p.value, value=p.value) for p in Period]
REPORT_PERIODS = [app_commands.Choice(name=name, value=name) for name in ("current", "previous")]
NOBODY = discord.AllowedMentions.none()  # the report names members: never ping them
ONE_DAY = dt.timedelta(days=1)
MIB = 1024 * 1024
DEFAULT_UPLOAD_LIMIT = 10 * MIB  # Discord's, without boosts


class QuotaCog(commands.Cog):
    quota = app_commands.Group(
        name="quota",
        description="See and set what members may spend",
        guild_only=True,
        default_permissions=ADMIN,
    )

    def __init__(self, service: QuotaService) -> None:
        self._service = service

    @app_commands.command(name="usage", description="What you have spent and have left, and your last videos")
    @app_commands.guild_only()
    async def usage(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        data = await self._service.usage(interaction.guild_id, interaction.user.id)
        await say(interaction, *quota_texts.usage(data))

    @quota.command(name="set", description="Set a member's spending limit per period (USD)")
    @app_commands.describe(user="The member", limit="USD per period, e.g. 2.50")
    @app_commands.check(admin_only)
    async def set_limit(
        self, interaction: discord.Interaction, user: discord.User, limit: app_commands.Range[float, 0, 100000]
    ) -> None:
        assert interaction.guild_id is not None
        await self._service.set_member_limit(interaction.guild_id, interaction.user.id, user.id, limit)
        await say(
            interaction,
            Text("{member} may now spend **{limit}** per period.", member=user.mention, limit=Money(to_micros(limit))),
        )

    @quota.command(name="unlimited", description="Let a member spend without a limit")
    @app_commands.check(admin_only)
    async def unlimited(self, interaction: discord.Interaction, user: discord.User) -> None:
        assert interaction.guild_id is not None
        await self._service.set_member_limit(interaction.guild_id, interaction.user.id, user.id, None)
        await say(
            interaction, Text("{member} now has **no limit** (the server budget still applies).", member=user.mention)
        )

    @quota.command(name="reset", description="Clear a member's usage for the current period")
    @app_commands.check(admin_only)
    async def reset(self, interaction: discord.Interaction, user: discord.User) -> None:
        assert interaction.guild_id is not None
        cleared = await self._service.reset_member(interaction.guild_id, interaction.user.id, user.id)
        await say(
            interaction,
            Text("Cleared **{amount}** of {member}'s usage this period.", amount=Money(cleared), member=user.mention),
        )

    @quota.command(name="default", description="Set the default limit for every member, and the period")
    @app_commands.describe(limit="USD per member per period", period="When usage resets (UTC)")
    @app_commands.choices(period=PERIOD_CHOICES)
    @app_commands.check(admin_only)
    async def default(
        self,
        interaction: discord.Interaction,
        limit: app_commands.Range[float, 0, 100000],
        period: app_commands.Choice[str],
    ) -> None:
        assert interaction.guild_id is not None
        rules = await self._service.set_default(interaction.guild_id, interaction.user.id, limit, Period(period.value))
        await say(interaction, Text("Saved."), *quota_texts.rules(rules))

    @quota.command(name="budget", description="Set the server's total budget per period; omit the limit for none")
    @app_commands.describe(limit="USD per period for the whole server; omit to remove the budget")
    @app_commands.check(admin_only)
    async def budget(
        self, interaction: discord.Interaction, limit: app_commands.Range[float, 0, 1000000] | None = None
    ) -> None:
        assert interaction.guild_id is not None
        rules = await self._service.set_budget(interaction.guild_id, interaction.user.id, limit)
        await say(interaction, Text("Saved."), *quota_texts.rules(rules))

    @quota.command(name="show", description="The server's rules, or where a member stands")
    @app_commands.check(admin_only)
    async def show(self, interaction: discord.Interaction, user: discord.User | None = None) -> None:
        assert interaction.guild_id is not None
        if user is None:
            await say(interaction, *quota_texts.rules(await self._service.rules(interaction.guild_id)))
            return
        usage = await self._service.usage(interaction.guild_id, user.id)
        await say(interaction, *quota_texts.usage(usage, user.mention))

    @quota.command(name="report", description="A period's spend as a chart, with the budget and top members")
    @app_commands.describe(period="This period (the default) or the last full one")
    @app_commands.choices(period=REPORT_PERIODS)
    @app_commands.check(admin_only)
    async def report(self, interaction: discord.Interaction, period: app_commands.Choice[str] | None = None) -> None:
        assert interaction.guild_id is not None
        await interaction.response.defer(ephemeral=True, thinking=True)
        previous = period is not None and period.value == "previous"
        data, figures = await self._service.spend_report(interaction.guild_id, previous=previous)
        names = {s.user_id: await member_name(interaction, s.user_id) for s in figures.series if s.user_id is not None}
        words = await chart_words(interaction, figures)
        png = await asyncio.to_thread(render_spend_chart, figures, names, words)  # CPU-bound: off the loop
        lines = [await localized(interaction, line) for line in quota_texts.report(data, figures)]
        await interaction.followup.send(
            "\n".join(lines),
            file=discord.File(io.BytesIO(png), filename="spend.png"),
            ephemeral=True,
            allowed_mentions=NOBODY,
        )

    @quota.command(name="export", description="The ledger between two dates (UTC) as a CSV file")
    @app_commands.rename(first="from", last="to")
    @app_commands.describe(first="First day, YYYY-MM-DD (UTC)", last="Last day, YYYY-MM-DD (UTC), included")
    @app_commands.check(admin_only)
    async def export(self, interaction: discord.Interaction, first: str, last: str) -> None:
        assert interaction.guild_id is not None
        try:
            start, end = export_range(first, last)
        except Refused as refused:
            await say(interaction, refused.user_message)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)

        asked = 0  # members not in the cache asked of Discord, one request each: a few hundred at most

        async def name_of(user_id: int) -> str:
            nonlocal asked
            guild = interaction.guild
            asked += 0 if guild is not None and guild.get_member(user_id) is not None else 1
            return await member_name(interaction, user_id, ask=asked <= MAX_MEMBER_LOOKUPS)

        result = await self._service.export(interaction.guild_id, start, end, name_of)
        if result is None:
            text = Text("Nothing was written to the ledger from {first} to {last} (UTC).", first=first, last=last)
            await interaction.followup.send(await localized(interaction, text), ephemeral=True)
            return
        try:
            limit = getattr(interaction.guild, "filesize_limit", DEFAULT_UPLOAD_LIMIT)
            size = result.path.stat().st_size
            if size > limit:
                text = Text(
                    "The export is {size} MB, over this server's upload limit of {limit} MB: ask for fewer days.",
                    size=round(size / MIB, 1), limit=round(limit / MIB, 1),
                )  # fmt: skip
                await interaction.followup.send(await localized(interaction, text), ephemeral=True)
                return
            text = Text("The ledger from {first} to {last} (UTC): {rows} entries.", first=first, last=last,
                        rows=result.rows)  # fmt: skip
            await interaction.followup.send(
                await localized(interaction, text),
                file=discord.File(result.path, filename=f"ledger-{start:%Y-%m-%d}-to-{end - ONE_DAY:%Y-%m-%d}.csv"),
                ephemeral=True,
            )
        finally:
            result.path.unlink(missing_ok=True)


# An export names each member once; beyond this many not in the cache, it stops asking Discord (each ask
# is a request under a per-route limit, and the interaction's token lasts 15 minutes): 'member <id>'.
MAX_MEMBER_LOOKUPS = 200


async def member_name(interaction: discord.Interaction, user_id: int, ask: bool = True) -> str:
    """A member's name from the guild's cache, else asked of Discord (when `ask`), else 'member <id>' (one
    who left)."""
    guild = interaction.guild
    if guild is not None:
        member = guild.get_member(user_id)
        if member is None and ask:
            try:
                member = await guild.fetch_member(user_id)
            except discord.HTTPException:
                member = None
        if member is not None:
            return member.display_name
    return f"member {user_id}"


async def chart_words(interaction: discord.Interaction, figures: SpendFigures) -> ChartWords:
    """The chart's words in the admin's language; the title carries the period's total."""
    first, last = figures.period_start.date().isoformat(), (figures.period_end - ONE_DAY).date().isoformat()
    texts = (
        Text("Spend {first} to {last} (UTC): {total}", first=first, last=last, total=Money(figures.spent_micros)),
        Text("{committed} delivered, {reserved} still reserved", committed=Money(figures.committed_micros),
             reserved=Money(figures.reserved_micros)),
        Text("Spend per day"),
        Text("Spend so far"),
        Text("Server budget"),
        Text("others"),
    )  # fmt: skip
    title, subtitle, per_day, cumulative, budget, others = [await localized(interaction, t) for t in texts]
    return ChartWords(title, subtitle, per_day, cumulative, budget, others)
