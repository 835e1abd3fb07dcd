"""The bot's cogs: thin translators between Discord and the plain services in bot/."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from discord.ext import commands

    from bot.discord_messenger import DiscordMessenger
    from bot.jobs import JobRunner
    from bot.quota_service import QuotaService
    from bot.store import Store


def all_cogs(runner: JobRunner, messenger: DiscordMessenger, quotas: QuotaService, store: Store) -> list[commands.Cog]:
    from cogs.cancel import CancelCog
    from cogs.generate import GenerateCog
    from cogs.quota import QuotaCog

    return [GenerateCog(runner, messenger), QuotaCog(quotas), CancelCog(runner, store)]
