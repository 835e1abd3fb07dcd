"""A bot stopped within discord.py's guild_ready_timeout of READY leaves no discord.py task running: its
"wait for the guilds, then dispatch on_ready" task used to outlive the client and dispatch into it once
closed ("coroutine 'Client._run_event' was never awaited" in every test run). Nor does the job resume
started at READY outlive the database."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import discord

from bot.domain.models import Job
from bot.storage.jobs import JobStore

pytest_plugins = ["tests.e2e.simulated_world"]
DISCORD_PY = str(Path(discord.__file__).parent)


async def test_stopping_right_after_ready_leaves_no_discord_task_running(start_sim):
    bot = await start_sim()
    await bot.stop()  # on_ready is still guild_ready_timeout (2 s) away
    left = [t for t in asyncio.all_tasks() if not t.done() and t.get_coro().cr_code.co_filename.startswith(DISCORD_PY)]
    assert [t.get_coro().__qualname__ for t in left] == []


async def test_a_stop_while_jobs_are_being_resumed_ends_the_resume_before_the_database_closes(
    start_sim, monkeypatch, caplog
):
    """The resume (started from on_connect) may still be reading the database when a stop comes: stop()
    cancels and awaits it, so it never runs on a closed database ("Cannot operate on a closed database")."""
    caplog.set_level(logging.INFO)
    reading = asyncio.Event()
    unshown_finals = JobStore.unshown_finals

    async def slow_unshown_finals(self: JobStore) -> list[Job]:  # as with many jobs, or a slow database
        reading.set()
        await asyncio.sleep(1.0)
        return await unshown_finals(self)

    monkeypatch.setattr(JobStore, "unshown_finals", slow_unshown_finals)
    bot = await start_sim()
    await asyncio.wait_for(reading.wait(), 10)
    await bot.stop()  # the resume is in flight
    await asyncio.sleep(1.5)  # past the moment an uncancelled resume would read again
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert errors == [], [r.getMessage() for r in errors]
    assert "closed database" not in caplog.text
    assert "resumed" not in [r.getMessage().split(" ")[0] for r in caplog.records]  # it was stopped, not done
    assert bot.app.runner._resuming is None
