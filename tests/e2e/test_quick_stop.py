"""A bot stopped within discord.py's guild_ready_timeout of READY leaves no discord.py task running: its
"wait for the guilds, then dispatch on_ready" task used to outlive the client and dispatch into it once
closed ("coroutine 'Client._run_event' was never awaited" in every test run)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import discord

pytest_plugins = ["tests.e2e.simulated_world"]
DISCORD_PY = str(Path(discord.__file__).parent)


async def test_stopping_right_after_ready_leaves_no_discord_task_running(start_sim):
    bot = await start_sim()
    await bot.stop()  # on_ready is still guild_ready_timeout (2 s) away
    left = [t for t in asyncio.all_tasks() if not t.done() and t.get_coro().cr_code.co_filename.startswith(DISCORD_PY)]
    assert [t.get_coro().__qualname__ for t in left] == []
