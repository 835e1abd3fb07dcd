"""The bot's cogs: thin translators between Discord and the plain services in bot/."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import aiohttp
    import discord
    from discord.ext import commands

    from bot.discord.messenger import DiscordMessenger
    from bot.jobs.characters import CharacterService
    from bot.jobs.runner import JobRunner
    from bot.ops.help_page import HelpService
    from bot.ops.quota import QuotaService
    from bot.ops.status_report import StatusService
    from bot.ops.video_deletion import VideoDeletion
    from bot.ops.video_history import VideoHistory
    from bot.storage.characters import CharacterStore
    from bot.storage.jobs import JobStore
    from bot.storage.settings import SettingsStore
    from bot.storage.videos import VideoStore
    from cogs.components import Handler


@dataclass
class CogDeps:
    """What the cogs are given; each cog takes only the parts it uses."""

    runner: JobRunner
    messenger: DiscordMessenger
    quotas: QuotaService
    jobs: JobStore
    videos: VideoStore
    characters: CharacterStore
    character_service: CharacterService
    http: aiohttp.ClientSession
    settings: SettingsStore
    help: HelpService
    status: StatusService
    history: VideoHistory
    deletion: VideoDeletion


async def install(bot: commands.Bot, deps: CogDeps) -> None:
    """Add every cog, and the context menus they carry, to the bot."""
    from cogs.animate import AnimateCog
    from cogs.cancel import CancelCog
    from cogs.characters import CharacterCog
    from cogs.characters_option import CharacterPicker
    from cogs.components import ComponentListener
    from cogs.delete import DeleteCog
    from cogs.generate import GenerateCog
    from cogs.help import HelpCog
    from cogs.quota import QuotaCog
    from cogs.remix import RemixCog
    from cogs.settings import SettingsCog
    from cogs.status import StatusCog
    from cogs.videos import VideosCog

    picker = CharacterPicker(deps.characters)
    cogs: list[commands.Cog] = [
        GenerateCog(deps.runner, deps.messenger, picker, deps.settings),
        AnimateCog(deps.runner, deps.messenger, deps.http, picker, deps.settings),
        RemixCog(bot, deps.runner, deps.messenger, deps.jobs, deps.videos, deps.settings),
        SettingsCog(deps.settings, deps.quotas),
        CharacterCog(deps.character_service),
        QuotaCog(deps.quotas),
        CancelCog(deps.runner, deps.jobs),
        VideosCog(deps.history, deps.videos),
        DeleteCog(deps.deletion),
    ]
    forms: dict[str, Handler] = {}
    buttons: list[type[discord.ui.DynamicItem[Any]]] = []
    for cog in cogs:
        await bot.add_cog(cog)
        for menu in getattr(cog, "context_menus", []):
            bot.tree.add_command(menu)
        forms.update(getattr(cog, "forms", {}))
        buttons.extend(getattr(cog, "buttons", []))
    bot.add_dynamic_items(*buttons)  # every persistent button, by its custom id's template
    await bot.add_cog(ComponentListener(forms, buttons))  # form submits, and clicks no button takes
    await bot.add_cog(HelpCog(deps.help))
    await bot.add_cog(StatusCog(deps.status))
