"""The real bot (discord.py + fal_client) against the loopback fakes of Discord and fal."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import discord
import pytest
import yarl

from bot.app import App
from bot.config import Settings
from tests.fakes.discord import FakeDiscord
from tests.fakes.fal import FakeFal

ROOT = Path(__file__).resolve().parents[2]
OPENAPI = ROOT / "tests" / "fakes" / "discord" / "discord-openapi.json"
FAL_KEY = "test-fal-key:0123456789abcdef"  # shaped as fal shows keys (KEY_ID:KEY_SECRET)


@pytest.fixture
async def discord_fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord(openapi_path=OPENAPI)
    await fake.start()
    # discord.py's own knobs for where Discord is: REST base and gateway URL.
    monkeypatch.setattr(discord.http.Route, "BASE", fake.api_base)
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(fake.gateway_url))
    try:
        yield fake
    finally:
        await fake.stop()


@dataclass
class World:
    discord: FakeDiscord
    fal: FakeFal
    guild_id: int
    channel_id: int
    user_id: int
    tmp: Path
    # DATABASE_URL of the bot: None for the SQLite file under tmp (data/bot.sqlite3), else a PostgreSQL
    # database of its own. tests/e2e/helpers.py reads and writes either (db_rows, db_execute).
    database_url: str | None = None


@pytest.fixture
def engine() -> str:
    """The bot's database engine: SQLite unless a test parametrizes it, as
    `@pytest.mark.parametrize("engine", ENGINES)` (tests/pg.py) does to run on PostgreSQL too."""
    return "sqlite"


@pytest.fixture
async def world(
    discord_fake: FakeDiscord, fake_fal: FakeFal, tmp_path: Path, engine: str, request: pytest.FixtureRequest
) -> World:
    fake_fal.expected_key = FAL_KEY
    guild = discord_fake.add_guild(premium_tier=0)
    channel = discord_fake.add_channel(guild.id, name="videos")
    user = discord_fake.add_user(username="alice")
    url = request.getfixturevalue("pg_url") if engine == "postgresql" else None
    return World(discord_fake, fake_fal, guild.id, channel.id, user.id, tmp_path, url)


def settings_for(world: World, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        discord_token=world.discord.bot_token,
        fal_key=FAL_KEY,
        fal_platform_url=world.fal.platform_url,
        database_path=world.tmp / "data" / "bot.sqlite3",
        fal_poll_min_seconds=0.2,
        fal_poll_max_seconds=0.5,
        progress_min_interval_seconds=1.0,
        database_url=world.database_url,
    )
    values.update(overrides)
    return Settings(_env_file=None, **values)


@dataclass
class RunningBot:
    app: App
    stop: Callable[[], Awaitable[None]]


@pytest.fixture
async def start_bot(world: World) -> AsyncIterator[Callable[..., Awaitable[RunningBot]]]:
    running: list[tuple[asyncio.Event, asyncio.Task[None]]] = []

    async def start(**overrides: Any) -> RunningBot:
        app = await App.create(settings_for(world, **overrides))
        stopping = asyncio.Event()
        task = asyncio.create_task(app.run(stopping))
        running.append((stopping, task))
        await world.discord.wait_ready(timeout=10)

        async def stop() -> None:
            stopping.set()
            await asyncio.wait_for(task, 10)

        return RunningBot(app, stop)

    yield start
    for stopping, task in running:
        stopping.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)


def bot_process(
    world: World, *, name: str = "bot-process", cwd: Path | None = None, **env: str
) -> subprocess.Popen[bytes]:
    """The bot as its own process (python -m bot), pointed at the fakes: for kill -9 tests. Its log is
    `<name>.log` in the test's folder; it runs in `cwd` (the test's folder by default)."""
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(world.tmp),
        "PYTHONPATH": str(ROOT),
        "DISCORD_TOKEN": world.discord.bot_token,
        "FAL_KEY": FAL_KEY,
        "DATABASE_PATH": str(world.tmp / "data" / "bot.sqlite3"),
        "FAL_QUEUE_RUN_HOST": world.fal.host,
        "FAL_PLATFORM_URL": world.fal.platform_url,
        "SSL_CERT_FILE": str(world.fal.ca_path),
        "FAL_POLL_MIN_SECONDS": "0.2",
        "FAL_POLL_MAX_SECONDS": "0.5",
        "PROGRESS_MIN_INTERVAL_SECONDS": "1",
        "TEST_DISCORD_API": world.discord.api_base,
        "TEST_DISCORD_GATEWAY": world.discord.gateway_url,
        "LOG_LEVEL": "INFO",
        # The shortest lease: a restarted process on PostgreSQL waits out its killed predecessor's leases
        # (it cannot tell it from a live one), 5 s instead of the default 30.
        "JOB_LEASE_SECONDS": "5",
        **({"DATABASE_URL": world.database_url} if world.database_url else {}),
        **env,
    }
    log = open(world.tmp / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "e2e" / "run_bot.py")],
        cwd=cwd or world.tmp,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def kill9(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(10)
