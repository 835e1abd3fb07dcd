"""Two bot processes, shards 0 and 1 of 2, as an operator would start them: on SQLite the second one is
refused with one line and exit 2 (SQLite serves one process); once the first stops, it starts."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

from tests.e2e.helpers import eventually
from tests.e2e.sim_process import sim_env, sim_process

pytest_plugins = ["tests.e2e.simulated_world"]
ROOT = Path(__file__).resolve().parents[2]
SHARDS = {"SHARD_COUNT": "2", "SHARD_IDENTIFY_INTERVAL_SECONDS": "0"}


def command_puts(fake) -> list:
    return [r for r in fake.requests if r.method == "PUT" and "/commands" in r.path]


def guilds(session) -> set[int]:
    return {int(g["id"]) for g in session.events("GUILD_CREATE")}


def on_shard(fake, shard: int) -> set[int]:
    """The fake's guilds on that shard of 2 (the world's own guild among them, wherever its id falls)."""
    return {guild_id for guild_id in fake.guilds if fake.shard_of(guild_id, 2) == shard}


async def test_a_second_process_on_the_same_sqlite_file_is_refused_with_one_line(sim_world):
    fake = sim_world.discord
    zero = fake.add_guild(guild_id=fake.guild_id_for_shard(0, 2), name="zero")
    one = fake.add_guild(guild_id=fake.guild_id_for_shard(1, 2), name="one")
    database = sim_world.tmp / "data" / "bot.sqlite3"
    first = sim_process(sim_world, "shard-0.log", **SHARDS, SHARD_IDS="0")
    second: subprocess.Popen[bytes] | None = None
    try:
        session0 = await fake.wait_ready(shard=0, shard_count=2, timeout=30)
        assert guilds(session0) == on_shard(fake, 0) and zero.id in guilds(session0)
        await eventually(lambda: command_puts(fake), timeout=10)  # shard 0's process registered them

        refused = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, str(ROOT / "tests" / "e2e" / "run_bot.py")],
            cwd=sim_world.tmp,
            env=sim_env(sim_world, **SHARDS, SHARD_IDS="1"),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert refused.returncode == 2, refused.stderr
        assert "Traceback" not in refused.stdout + refused.stderr
        assert refused.stderr.splitlines()[-1] == (
            f"configuration error: another bot process is already using DATABASE_PATH {database} (pid {first.pid}); "
            "SQLite serves one process: stop it, or move to PostgreSQL (see docs/postgresql.md)"
        )
        assert fake.shard_session(1, 2) is None  # refused before it connected: shard 1 never identified
        assert first.poll() is None and fake.shard_session(0, 2) is session0 and session0.connected

        # The first stops (SIGTERM): the file is free, and the process of shard 1 starts on it.
        first.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(first.wait, 30) == 0
        puts = len(command_puts(fake))
        second = sim_process(sim_world, "shard-1.log", **SHARDS, SHARD_IDS="1")
        session1 = await fake.wait_ready(shard=1, shard_count=2, timeout=30)
        assert guilds(session1) == on_shard(fake, 1) and one.id in guilds(session1)
        assert second.poll() is None and len(command_puts(fake)) == puts  # shard 0's process registers, not this
        log = (sim_world.tmp / "shard-1.log").read_text()
        assert "registered by the process that serves shard 0" in log
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                await asyncio.to_thread(process.wait, 30)
