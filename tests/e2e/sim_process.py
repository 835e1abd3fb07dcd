"""The bot in simulated mode as its own process (python -m bot), pointed at the fake Discord."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.e2e.simulated_world import SimWorld

ROOT = Path(__file__).resolve().parents[2]


def sim_process(world: SimWorld, log_name: str = "bot-process.log", **env: str) -> subprocess.Popen[bytes]:
    """`python -m bot` in simulated mode as its own process, pointed at the fake Discord."""
    log = open(world.tmp / log_name, "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "e2e" / "run_bot.py")],
        cwd=world.tmp,
        env=sim_env(world, **env),
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def sim_env(world: SimWorld, **env: str) -> dict[str, str]:
    """The environment of sim_process: simulated fal, the fake Discord, the test's database."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(world.tmp),
        "PYTHONPATH": str(ROOT),
        "DISCORD_TOKEN": world.discord.bot_token,
        "FAL_BACKEND": "simulated",
        "DATABASE_PATH": str(world.tmp / "data" / "bot.sqlite3"),
        "SIMULATED_QUEUE_SECONDS": "1",
        "SIMULATED_RUN_SECONDS": "3",
        "FAL_POLL_MIN_SECONDS": "0.2",
        "FAL_POLL_MAX_SECONDS": "0.5",
        "PROGRESS_MIN_INTERVAL_SECONDS": "1",
        "TEST_DISCORD_API": world.discord.api_base,
        "TEST_DISCORD_GATEWAY": world.discord.gateway_url,
        "LOG_LEVEL": "INFO",
        **env,
    }
