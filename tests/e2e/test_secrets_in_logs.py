"""FAL_KEY and DISCORD_TOKEN never appear in the log of a full job at DEBUG level (every library's
lines included) nor in anything the bot sends to Discord; and every logged event is one line."""

from __future__ import annotations

import json
import re
import signal

from tests.e2e.conftest import FAL_KEY, bot_process
from tests.e2e.helpers import eventually, options, original_edits, video_posts
from tests.fakes.fal import JobScript

EVENT = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) \S+: ")


async def test_a_full_job_logs_no_secret(world):
    world.fal.default_script = JobScript(queue_seconds=0.5, run_seconds=1.0)
    process = bot_process(world, LOG_LEVEL="DEBUG")
    try:
        await world.discord.wait_ready(timeout=30)
        inter = await world.discord.send_slash_command(
            world.guild_id, world.channel_id, world.user_id, name="generate", options=options("a secret-free cat")
        )
        await eventually(lambda: video_posts(world.discord, world.channel_id), timeout=40)
        await eventually(lambda: "Done" in original_edits(world.discord, inter.token)[-1].json.get("content", ""))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(20)
    log = (world.tmp / "bot-process.log").read_text()
    secrets = (FAL_KEY, world.discord.bot_token)

    # The log is the real, complete one: the job's events with their ids, and the libraries' debug lines.
    who = f"job=1 guild={world.guild_id} user={world.user_id}"
    assert f"{who} state=queued submitted request=" in log and f"{who} state=delivered delivered message=" in log
    job_lines = [line for line in log.splitlines() if " bot.jobs.runner: " in line]
    event = r" bot\.jobs\.runner: job=\d+ guild=\d+ user=\d+ state=[a-z]+ "
    assert job_lines and all(re.search(event, x) for x in job_lines)
    assert "DEBUG discord." in log and "DEBUG httpcore" in log
    # fal and Discord did receive the secrets; the log never shows them.
    assert world.fal.submissions[0].headers.get("Authorization") == f"Key {FAL_KEY}"
    for secret in secrets:
        assert secret not in log
    # Nor does anything the bot posted, edited or answered on Discord.
    sent = json.dumps([r.json for r in world.discord.requests if r.json is not None])
    for secret in secrets:
        assert secret not in sent
    # One line per event: no traceback or payload spills onto lines of its own.
    strays = [line for line in log.splitlines() if line and not EVENT.match(line)]
    assert strays == []
