"""/quota (admins) and /usage (everyone): parse, call the quota service, answer privately."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.domain import quota_texts
from bot.domain.quota import Period, to_micros
from bot.domain.text import Money, Text
from bot.ops.quota import QuotaService
from cogs.checks import ADMIN, admin_only, say

PERIOD_CHOICES = [app_commands.Choice(name=p.value, value=p.value) for p in Period]


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

    @quota.command(name="report", description="This period: spend, budget left, top members, videos")
    @app_commands.check(admin_only)
    async def report(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        await say(interaction, quota_texts.report(await self._service.report(interaction.guild_id)))
