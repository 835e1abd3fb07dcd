"""Restart safety: a job survives kill -9, is never submitted twice and is delivered exactly once."""

from __future__ import annotations

import aiohttp
import pytest

from bot.domain.models import JobState
from tests.e2e.conftest import bot_process, kill9
from tests.e2e.helpers import db_execute, db_row, eventually, eventually_async, job_in_state, options, video_posts
from tests.fakes.fal import JobScript
from tests.pg import ENGINES

# Restarts on either engine: the job's state, its ledger and its files must come back the same way.
pytestmark = pytest.mark.parametrize("engine", ENGINES)


def job_row(world, job_id: int = 1) -> dict | None:
    return db_row(world, f"SELECT * FROM jobs WHERE id = {int(job_id)}")


async def test_kill_9_mid_job_then_restart_delivers_once(world):
    world.fal.default_script = JobScript(queue_seconds=1.0, run_seconds=4.0)
    first = bot_process(world)
    try:
        await world.discord.wait_ready(timeout=20)
        inter = await world.discord.send_slash_command(
            world.guild_id, world.channel_id, world.user_id, name="generate", options=options("survive this")
        )
        # Killed once fal has the job and the bot has written its request id down.
        await eventually(lambda: (job_row(world) or {}).get("request_id"), timeout=20)
        kill9(first)
    finally:
        if first.poll() is None:
            kill9(first)
    assert job_row(world)["state"] in ("queued", "running")
    assert video_posts(world.discord, world.channel_id) == []

    second = bot_process(world)
    try:
        posts = await eventually(lambda: video_posts(world.discord, world.channel_id), timeout=40)
        await eventually(lambda: job_row(world)["state"] == "delivered", timeout=10)
        progress_id = job_row(world)["progress_message_id"]
        path = f"/channels/{world.channel_id}/messages/{progress_id}"

        def channel_edits():
            return [r for r in world.discord.requests if r.method == "PATCH" and r.path == path]

        # After the restart the interaction is gone: progress and the final state go through the channel.
        await eventually(lambda: channel_edits() and "Done" in channel_edits()[-1].json["content"])
    finally:
        second.terminate()
        second.wait(10)
    assert len(world.fal.submissions) == 1
    assert len(posts) == 1 and len(posts[0].files) == 1
    row = job_row(world)
    assert row["video_message_id"] == int(posts[0].response_json["id"])
    assert inter.token not in "".join(r.path for r in channel_edits())


async def test_job_caught_while_submitting_is_failed_not_resubmitted(world, start_bot):
    # A progress message the bot had posted before it died.
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{world.discord.api_base}/channels/{world.channel_id}/messages",
            json={"content": "📨 Sending your request to fal…"},
            headers={"Authorization": f"Bot {world.discord.bot_token}"},
        ) as response:
            progress_id = int((await response.json())["id"])
    bot = await start_bot()
    await bot.stop()
    # The bot died between "about to submit" and "request id stored".
    db_execute(
        world,
        (
            "INSERT INTO jobs (kind, state, guild_id, channel_id, user_id, endpoint, arguments, prompt, model, "
            "duration, aspect_ratio, resolution, cost_usd, progress_message_id, created_at, updated_at) VALUES "
            "('text_to_video', 'submitting', ?, ?, ?, 'fal-ai/sora-2/text-to-video', '{}', 'p', 'sora-2', 4,"
            " '16:9', '720p', 0.4, ?, 0, 0)",
            (world.guild_id, world.channel_id, world.user_id, progress_id),
        ),
    )

    bot = await start_bot()
    job = await eventually_async(lambda: job_in_state(bot.app.jobs, 1, JobState.FAILED))
    assert "restarted while sending" in job.error
    edit = await eventually(
        lambda: [
            r
            for r in world.discord.requests
            if r.method == "PATCH" and r.path == f"/channels/{world.channel_id}/messages/{progress_id}"
        ]
    )
    assert "restarted while sending" in edit[-1].json["content"]
    assert world.fal.submissions == []


async def test_crash_after_posting_does_not_post_twice(world, start_bot):
    world.fal.default_script = JobScript(queue_seconds=0.1, run_seconds=0.2)
    bot = await start_bot()
    await world.discord.send_slash_command(
        world.guild_id, world.channel_id, world.user_id, name="generate", options=options("only once")
    )
    await eventually_async(lambda: job_in_state(bot.app.jobs, 1, JobState.DELIVERED))
    await bot.stop()
    # Rewind to the moment after Discord took the post and before the database heard of it; the process that
    # posted died there, so its lease on the job has run out.
    db_execute(
        world,
        "DELETE FROM videos",
        "UPDATE jobs SET state = 'uploading', video_message_id = NULL, finished_at = NULL, lease_expires_at = 0",
    )

    bot = await start_bot()
    job = await eventually_async(lambda: job_in_state(bot.app.jobs, 1, JobState.DELIVERED))
    posts = video_posts(world.discord, world.channel_id)
    assert len(posts) == 1
    assert job.video_message_id == int(posts[0].response_json["id"])
    assert (await bot.app.videos.get_video_by_message(job.video_message_id)) is not None
