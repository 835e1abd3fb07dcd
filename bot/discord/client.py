"""Builds the discord.py client: intents, no pings by default, one error handler for app commands,
the cogs, the slash commands registered at start-up when they changed, and resuming unfinished jobs once
the gateway is ready."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypedDict

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot.discord import errors

log = logging.getLogger(__name__)


class _Trace(TypedDict, total=False):
    """discord.py types http_trace without None (its default), so it is passed only when set."""

    http_trace: aiohttp.TraceConfig


class SoraBot(commands.Bot):
    def __init__(
        self,
        *,
        message_content: bool,
        install: Callable[[SoraBot], Awaitable[None]],
        register: Callable[[app_commands.CommandTree], Awaitable[None]],
        on_first_ready: Callable[[], Awaitable[None]],
        http_trace: aiohttp.TraceConfig | None = None,
    ) -> None:
        intents = discord.Intents.default()
        intents.members = False
        intents.presences = False
        intents.message_content = message_content
        # The bot has no voice: discord.py's warnings that voice's optional libraries are missing are noise.
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False
        trace: _Trace = {} if http_trace is None else {"http_trace": http_trace}  # lets the metrics count 429s
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            # Prompts are echoed back: nobody may be pinged by what a member typed.
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
            tree_cls=ErrorReportingTree,
            **trace,
        )
        self._install = install
        self._register = register
        self._on_first_ready = on_first_ready
        self._readied = False
        self.draining = False  # set on SIGTERM: commands are refused while jobs are put away

    async def setup_hook(self) -> None:
        await self._install(self)
        await self._register(self.tree)  # logged in (the application id is known), not yet connected

    async def on_connect(self) -> None:
        # Dispatched on READY itself; on_ready follows guild_ready_timeout (2 s) after the last GUILD_CREATE.
        # Unfinished jobs need only fal and REST, both usable now: resume them without that wait.
        if not self._readied:
            self._readied = True
            await self._on_first_ready()

    async def on_command_error(self, context: commands.Context[Any], exception: commands.CommandError, /) -> None:
        # The bot has no prefix commands: a message that mentions it (a reply-to-remix pings it by default)
        # is read by discord.py as one and found to be no command. That is expected, not an error.
        if isinstance(exception, commands.CommandNotFound):
            return
        await super().on_command_error(context, exception)

    async def on_ready(self) -> None:
        log.info("gateway ready as %s in %d guilds", self.user, len(self.guilds))

    async def close(self) -> None:
        # discord.py (2.7) leaves the task that waits for the guilds and then dispatches on_ready running
        # when the client closes within guild_ready_timeout of READY; it then dispatches into the closed
        # client (no loop), and the event's coroutine is never awaited. Nothing is left to wait for.
        ready_task = getattr(self._connection, "_ready_task", None)
        if isinstance(ready_task, asyncio.Task):
            ready_task.cancel()
        await super().close()

    def stop_taking_commands(self) -> None:
        self.draining = True

    def last_heartbeat_ack(self) -> float | None:
        """Wall-clock time the gateway last acknowledged a heartbeat; None while not connected.
        discord.py keeps it only privately (KeepAliveHandler._last_ack, a perf_counter reading), hence
        the guarded reads; tests/e2e/test_health.py fails if a discord.py upgrade moves it."""
        if self.is_closed():
            return None
        keep_alive = getattr(self.ws, "_keep_alive", None)
        last_ack = getattr(keep_alive, "_last_ack", None)
        if not isinstance(last_ack, float):
            return None
        return time.time() - (time.perf_counter() - last_ack)


RESTARTING = "The bot is restarting; please try again in a minute."


def is_draining(client: discord.Client) -> bool:
    """Whether the bot is shutting down (SoraBot.stop_taking_commands): no new job may start."""
    return bool(getattr(client, "draining", False))


COMMAND_FAILED = "Sorry, that failed on our side. Nothing was charged; please try again."


class ErrorReportingTree(app_commands.CommandTree):
    """Where an app command's error ends: a refusal is answered privately, anything else goes to
    bot.discord.errors.report (logged with context, answered privately)."""

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if is_draining(self.client):
            await interaction.response.send_message(RESTARTING, ephemeral=True)
            return False
        return True

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        if isinstance(error, app_commands.NoPrivateMessage):
            text = "This command works only in a server."
        elif type(error) is app_commands.CheckFailure and error.args:
            text = str(error)  # our own checks raise with the sentence to show
        elif isinstance(error, app_commands.CheckFailure):
            text = "You are not allowed to use this command here."
        else:
            name = interaction.command.qualified_name if interaction.command else "?"
            await errors.report(interaction, error, kind="command", name=name, text=COMMAND_FAILED)
            return
        await errors.tell(interaction, text)
