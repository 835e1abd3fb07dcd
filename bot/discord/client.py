"""Builds the discord.py client: intents, no pings by default, one error handler for app commands,
the cogs, the slash commands registered at start-up when they changed, and resuming unfinished jobs once
the gateway is ready."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypedDict

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot.discord import errors
from bot.discord.localize import localized
from bot.domain.text import Text

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
        identify_interval: float = 5.0,
        translator: app_commands.Translator | None = None,
        **shards: Any,
    ) -> None:
        """`shards`: shard_count and shard_ids, for ShardedSoraBot (make_bot chooses the class)."""
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
            **shards,
        )
        self._identify_interval = identify_interval
        self._translator = translator  # the commands' names and descriptions in members' languages
        self._install = install
        self._register = register
        self._on_first_ready = on_first_ready
        self._readied = False
        self.draining = False  # set on SIGTERM: commands are refused while jobs are put away

    async def setup_hook(self) -> None:
        if self._translator is not None:
            await self.tree.set_translator(self._translator)
        await self._install(self)
        if self.registers_commands():
            await self._register(self.tree)  # logged in (the application id is known), not yet connected
        else:
            log.info("slash commands: registered by the process that serves shard 0, not this one")

    def registers_commands(self) -> bool:
        """Once per cluster, not once per process: only the process that serves shard 0 registers (every
        sharded cluster has exactly one), so processes starting together never both compare the stored
        digest and both send the commands. An unsharded bot is the whole cluster."""
        return True

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """discord.py's pause before every IDENTIFY but the first (5 s: Discord allows one per 5 s with
        max_concurrency 1), of `identify_interval` seconds instead, which only the tests lower."""
        if not initial:
            await asyncio.sleep(self._identify_interval)

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
        # Sharded, each shard has its own such task (_ready_tasks) before the one for all of them.
        ready_tasks = [getattr(self._connection, "_ready_task", None)]
        ready_tasks += list(getattr(self._connection, "_ready_tasks", {}).values())
        for ready_task in ready_tasks:
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
        return _acked_at(self.ws)


def _acked_at(ws: object) -> float | None:
    """When the gateway last acknowledged a heartbeat on this websocket (wall clock); None if unknown."""
    keep_alive = getattr(ws, "_keep_alive", None)
    last_ack = getattr(keep_alive, "_last_ack", None)
    if not isinstance(last_ack, float):
        return None
    return time.time() - (time.perf_counter() - last_ack)


class ShardedSoraBot(SoraBot, commands.AutoShardedBot):
    """SoraBot on discord.py's AutoShardedBot: the shards `shard_ids` of `shard_count` (all of them when
    shard_ids is None), each on its own gateway connection, in one process."""

    def registers_commands(self) -> bool:
        return self.shard_ids is None or 0 in self.shard_ids

    async def close(self) -> None:
        if getattr(self, "_AutoShardedClient__queue", None) is None:
            # Closed before it logged in (a start that failed first, e.g. a busy METRICS_PORT): discord.py's
            # AutoShardedClient.close puts into a queue that only login's set-up makes.
            await self._async_setup_hook()
        await super().close()

    def last_heartbeat_ack(self) -> float | None:
        """The oldest of the shards' last acknowledged heartbeats: healthy means every shard of this
        process is answered. None until every shard is connected (ShardInfo keeps its Shard, whose
        websocket holds the keep-alive, privately too)."""
        if self.is_closed():
            return None
        shards = self.shards
        wanted = self.shard_ids if self.shard_ids is not None else range(self.shard_count or 0)
        acks = [_acked_at(getattr(getattr(shards.get(shard), "_parent", None), "ws", None)) for shard in wanted]
        if not acks or any(ack is None for ack in acks):
            return None
        return min(ack for ack in acks if ack is not None)


def make_bot(*, shard_count: int | None = None, shard_ids: Sequence[int] | None = None, **options: Any) -> SoraBot:
    """The one place the client's class is chosen: with a shard count, ShardedSoraBot (discord.py's
    AutoShardedBot) for those shards; without, today's unsharded SoraBot."""
    if shard_count is None:
        return SoraBot(**options)
    ids = None if shard_ids is None else list(shard_ids)
    return ShardedSoraBot(shard_count=shard_count, shard_ids=ids, **options)


RESTARTING = Text("The bot is restarting; please try again in a minute.")


def is_draining(client: discord.Client) -> bool:
    """Whether the bot is shutting down (SoraBot.stop_taking_commands): no new job may start."""
    return bool(getattr(client, "draining", False))


COMMAND_FAILED = Text("Sorry, that failed on our side. Nothing was charged; please try again.")


class ErrorReportingTree(app_commands.CommandTree):
    """Where an app command's error ends: a refusal is answered privately, anything else goes to
    bot.discord.errors.report (logged with context, answered privately)."""

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if is_draining(self.client):
            await interaction.response.send_message(await localized(interaction, RESTARTING), ephemeral=True)
            return False
        return True

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        if isinstance(error, app_commands.NoPrivateMessage):
            text: str = Text("This command works only in a server.")
        elif type(error) is app_commands.CheckFailure and error.args:
            text = error.args[0] if isinstance(error.args[0], str) else str(error)  # our checks' own sentence
        elif isinstance(error, app_commands.CheckFailure):
            text = Text("You are not allowed to use this command here.")
        else:
            name = interaction.command.qualified_name if interaction.command else "?"
            await errors.report(interaction, error, kind="command", name=name, text=COMMAND_FAILED)
            return
        await errors.tell(interaction, text)
