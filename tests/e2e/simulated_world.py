"""Fixtures for the bot in simulated mode (FAL_BACKEND=simulated) against the fake Discord, with no fal
fake running: any call to fal would go to a closed port and fail. Load with
`pytest_plugins = ["tests.e2e.simulated_world"]`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from bot.config import Settings
from tests.fakes.discord import FakeDiscord

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class SimWorld:
    discord: FakeDiscord
    guild_id: int
    channel_id: int
    user_id: int
    tmp: Path


@dataclass
class RunningSim:
    app: App
    stop: Callable[[], Awaitable[None]]


@pytest.fixture
async def sim_world(discord_fake: FakeDiscord, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimWorld:
    monkeypatch.delenv("FAL_KEY", raising=False)
    guild = discord_fake.add_guild(premium_tier=0)
    channel = discord_fake.add_channel(guild.id, name="videos")
    user = discord_fake.add_user(username="alice")
    return SimWorld(discord_fake, guild.id, channel.id, user.id, tmp_path)


def sim_settings(world: SimWorld, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        discord_token=world.discord.bot_token,
        fal_backend="simulated",
        database_path=world.tmp / "data" / "bot.sqlite3",
        simulated_queue_seconds=1.0,
        simulated_run_seconds=2.0,
        fal_poll_min_seconds=0.2,
        fal_poll_max_seconds=0.5,
        progress_min_interval_seconds=1.0,
    )
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
async def start_sim(sim_world: SimWorld) -> AsyncIterator[Callable[..., Awaitable[RunningSim]]]:
    running: list[tuple[asyncio.Event, asyncio.Task[None]]] = []

    async def start(**overrides: Any) -> RunningSim:
        app = await App.create(sim_settings(sim_world, **overrides))
        stopping = asyncio.Event()
        task = asyncio.create_task(app.run(stopping))
        running.append((stopping, task))
        await sim_world.discord.wait_ready(timeout=10)

        async def stop() -> None:
            stopping.set()
            await asyncio.wait_for(task, 15)

        return RunningSim(app, stop)

    yield start
    for stopping, task in running:
        stopping.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 15)
