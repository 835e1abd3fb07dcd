"""The health check follows the gateway: healthy while Discord acknowledges heartbeats, unhealthy once
they stop (a zombie connection), healthy again when they resume. Checked with the real CLI Docker runs."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from tests.e2e.helpers import eventually_async

pytest_plugins = ["tests.e2e.simulated_world"]
ROOT = Path(__file__).resolve().parents[2]
OP_HEARTBEAT = 1


async def health_is(world, expected: int) -> bool:
    """Whether `python -m bot.ops.health` (Docker's HEALTHCHECK) exits with `expected`."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.ops.health",
        cwd=world.tmp,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(ROOT),
            "DATABASE_PATH": str(world.tmp / "data" / "bot.sqlite3"),
            "HEALTH_MAX_AGE_SECONDS": "1.5",
        },
        stdout=subprocess.DEVNULL,
    )
    return await process.wait() == expected


async def test_health_turns_unhealthy_when_the_gateway_stalls(sim_world, start_sim, monkeypatch):
    sim_world.discord.heartbeat_interval_ms = 200
    bot = await start_sim(health_max_age_seconds=1.5)
    await eventually_async(lambda: health_is(sim_world, 0), timeout=10)
    assert bot.app.bot.last_heartbeat_ack() is not None

    gateway = sim_world.discord.gateway
    answer = gateway._on_frame

    async def stalled(conn, frame):
        if frame.get("op") != OP_HEARTBEAT:  # heartbeats go unanswered; the socket stays open
            await answer(conn, frame)

    monkeypatch.setattr(gateway, "_on_frame", stalled)
    await eventually_async(lambda: health_is(sim_world, 1), timeout=10)

    monkeypatch.setattr(gateway, "_on_frame", answer)
    await eventually_async(lambda: health_is(sim_world, 0), timeout=10)
