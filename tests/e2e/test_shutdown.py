"""SIGTERM mid-job, as `docker stop` sends it: the process exits cleanly, says where each unfinished job
was left, closes the database, and the next start resumes and delivers the job exactly once."""

from __future__ import annotations

import signal
import sqlite3

from tests.e2e.helpers import eventually, options, video_posts
from tests.e2e.sim_process import sim_process

pytest_plugins = ["tests.e2e.simulated_world"]


def job_state(world, job_id: int = 1) -> str | None:
    path = world.tmp / "data" / "bot.sqlite3"
    if not path.exists():
        return None
    conn = sqlite3.connect(path)
    try:
        row = conn.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
    except sqlite3.OperationalError:
        return None
    finally:
        conn.close()
    return row[0] if row else None


async def test_sigterm_during_a_job_leaves_it_resumable(sim_world):
    first = sim_process(sim_world, SIMULATED_RUN_SECONDS="8")
    try:
        await sim_world.discord.wait_ready(timeout=30)
        await sim_world.discord.send_slash_command(
            sim_world.guild_id, sim_world.channel_id, sim_world.user_id, name="generate", options=options("stop me")
        )
        await eventually(lambda: job_state(sim_world) == "running", timeout=30)
        first.send_signal(signal.SIGTERM)
        assert first.wait(20) == 0
    finally:
        if first.poll() is None:
            first.kill()
    log = (sim_world.tmp / "bot-process.log").read_text()
    assert "stopping: unfinished jobs keep their state" in log
    who = f"job=1 guild={sim_world.guild_id} user={sim_world.user_id}"
    assert f"{who} state=running kept: resumed at the next start" in log  # SQLite: no other process
    assert "Traceback" not in log
    assert job_state(sim_world) == "running"
    wal = sim_world.tmp / "data" / "bot.sqlite3-wal"
    assert not wal.exists() or wal.stat().st_size == 0  # the last connection closed and checkpointed
    assert video_posts(sim_world.discord, sim_world.channel_id) == []

    second = sim_process(sim_world, SIMULATED_RUN_SECONDS="8")
    try:
        await eventually(lambda: job_state(sim_world) == "delivered", timeout=60)
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(20) == 0
    log = (sim_world.tmp / "bot-process.log").read_text()
    assert f"job=1 guild={sim_world.guild_id} user={sim_world.user_id} state=running resuming" in log
    posts = video_posts(sim_world.discord, sim_world.channel_id)
    assert len(posts) == 1 and len(posts[0].files) == 1
    assert "(simulated)" in posts[0].json["embeds"][0]["title"]
