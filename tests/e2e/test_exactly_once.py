"""Exactly once under faults, through the fakes: one fal submission per job, one delivered message, an
exact ledger, and a last text the member sees, whatever fal and Discord answer (or fail to)."""

from __future__ import annotations

import pytest

from bot.domain.models import JobState
from bot.jobs.delivery import BROKEN_VIDEO
from bot.jobs.runner import NOT_FOUND_AT_FAL
from tests.e2e.helpers import (
    db_row,
    eventually,
    eventually_async,
    job_messages,
    options,
    sha256,
    video_posts,
)
from tests.e2e.helpers import ledger_of as ledger
from tests.fakes.fal import JobScript, default_video_path
from tests.pg import ENGINES

# Exactly once on either engine: one submission, one message, an exact ledger, whatever the faults.
pytestmark = pytest.mark.parametrize("engine", ENGINES)

FAST = dict(queue_seconds=0.3, run_seconds=0.5)


async def committed(world, bot, state: JobState, timeout: float):
    """The job once its row says `state` to another connection: the bot's own connection also sees a
    transaction it has not committed yet (its ledger entries would then still be missing)."""
    await eventually(lambda: (db_row(world) or {}).get("state") == state.value, timeout=timeout)
    return await bot.app.jobs.get_job(1)


async def generate(world, prompt: str = "a fox in the snow"):
    return await world.discord.send_slash_command(
        world.guild_id, world.channel_id, world.user_id, name="generate", options=options(prompt)
    )


def progress_text(world, job) -> str:
    return str(world.discord.message(job.progress_message_id)["content"])


@pytest.mark.parametrize("answer", ["drop", "garbage"])
async def test_a_lost_submit_answer_is_found_at_fal_and_never_sent_again(world, start_bot, answer):
    world.fal.default_script = JobScript(**FAST, submit_answer=answer)
    bot = await start_bot()
    await generate(world)
    job = await committed(world, bot, JobState.DELIVERED, 40)
    # fal_client would have sent it again on the dropped connection (two videos, both billed).
    assert len(world.fal.submissions) == 1
    assert job.request_id == world.fal.submissions[0].request_id
    assert world.fal.count(kind="list") >= 1
    assert len(job_messages(world)) == 1
    assert ledger(world) == [("reserve", 400_000), ("commit", 400_000)]
    await eventually(lambda: "Done" in progress_text(world, job))


async def test_a_lost_submit_that_fal_will_not_list_is_failed_refunded_and_explained(world, start_bot):
    world.fal.default_script = JobScript(**FAST, submit_answer="drop")
    world.fal.list_status = 403  # a key without the platform scope
    bot = await start_bot()
    await generate(world)
    job = await committed(world, bot, JobState.FAILED, 30)
    assert job.error == NOT_FOUND_AT_FAL
    assert len(world.fal.submissions) == 1
    assert ledger(world) == [("reserve", 400_000), ("refund", -400_000)]
    await eventually(lambda: "fal never confirmed" in progress_text(world, job))


async def test_discord_503s_on_the_post_are_retried_and_the_video_delivered_once(world, start_bot):
    world.fal.default_script = JobScript(**FAST)
    posts = world.discord.fault("POST", f"/channels/{world.channel_id}/messages", "status", status=503, count=2)
    bot = await start_bot()
    await generate(world)
    job = await committed(world, bot, JobState.DELIVERED, 40)
    assert posts.hits == 2
    assert [int(m["id"]) for m in job_messages(world)] == [job.video_message_id]
    assert ledger(world) == [("reserve", 400_000), ("commit", 400_000)]
    assert world.fal.count(kind="file") == 1  # the kept file was posted again, not downloaded again


async def test_a_post_whose_answer_is_lost_is_not_posted_twice(world, start_bot):
    world.fal.default_script = JobScript(**FAST)
    lost = world.discord.fault("POST", f"/channels/{world.channel_id}/messages", "answer_lost")
    bot = await start_bot()
    await generate(world)
    job = await committed(world, bot, JobState.DELIVERED, 40)
    assert lost.hits == 1
    messages = job_messages(world)
    assert len(messages) == 1 and int(messages[0]["id"]) == job.video_message_id
    assert ledger(world) == [("reserve", 400_000), ("commit", 400_000)]


async def test_a_video_is_kept_while_discord_is_down_and_delivered_after_a_restart(world, start_bot):
    world.fal.default_script = JobScript(**FAST)
    down = world.discord.fault("POST", f"/channels/{world.channel_id}/messages", "status", status=503, count=-1)
    bot = await start_bot()
    await generate(world)
    await eventually(lambda: down.hits >= 2, timeout=40)
    job = await bot.app.jobs.get_job(1)
    assert job.state == JobState.UPLOADING
    await bot.stop()
    kept = world.tmp / "data" / "tmp" / "job1"
    assert (kept / "ready.json").is_file()
    assert ledger(world) == [("reserve", 400_000)]  # neither charged nor refunded while it waits

    world.discord.faults.clear()
    bot = await start_bot()
    job = await committed(world, bot, JobState.DELIVERED, 40)
    assert world.fal.count(kind="file") == 1  # fal's link may have expired by now: the kept file was used
    assert [int(m["id"]) for m in job_messages(world)] == [job.video_message_id]
    assert ledger(world) == [("reserve", 400_000), ("commit", 400_000)]
    assert not kept.exists()
    await eventually(lambda: "Done" in progress_text(world, job))


async def test_an_html_page_instead_of_the_video_is_fetched_once_more(world, start_bot):
    world.fal.default_script = JobScript(**FAST, file_fault="html", file_faults=1)
    bot = await start_bot()
    await generate(world)
    job = await committed(world, bot, JobState.DELIVERED, 40)
    assert world.fal.count(kind="file") == 2
    (message,) = job_messages(world)
    assert int(message["id"]) == job.video_message_id
    posted = next(r for r in video_posts(world.discord, world.channel_id) if r.response_json["id"] == message["id"])
    assert posted.files[0].sha256 == sha256(default_video_path(4))
    assert ledger(world) == [("reserve", 400_000), ("commit", 400_000)]


async def test_a_truncated_video_twice_is_never_posted_and_is_refunded(world, start_bot):
    world.fal.default_script = JobScript(**FAST, file_fault="truncated", file_faults=2)
    bot = await start_bot()
    await generate(world)
    job = await committed(world, bot, JobState.FAILED, 40)
    assert job.error == BROKEN_VIDEO
    assert world.fal.count(kind="file") == 2
    assert job_messages(world) == []
    assert ledger(world) == [("reserve", 400_000), ("refund", -400_000)]
    await eventually(lambda: "broken video" in progress_text(world, job))


async def test_a_failure_text_discord_did_not_take_is_shown_after_a_restart(world, start_bot):
    world.fal.default_script = JobScript(**FAST, outcome="content_policy")
    # Every edit of the progress message fails (interaction webhook and channel alike).
    webhook = world.discord.fault("PATCH", r"/webhooks/\d+/[^/]+/messages/@original", "status", count=-1)
    channel = world.discord.fault("PATCH", rf"/channels/{world.channel_id}/messages/\d+", "status", count=-1)
    bot = await start_bot()
    await generate(world)
    job = await committed(world, bot, JobState.FAILED, 30)
    await eventually(lambda: webhook.hits + channel.hits >= 2)
    assert "content policy" in job.final_text and job.final_shown_at is None
    await bot.stop()

    world.discord.faults.clear()
    bot = await start_bot()
    shown = await eventually_async(lambda: _shown(bot.app.jobs, 1), timeout=20)
    assert "content policy" in progress_text(world, shown)
    assert ledger(world) == [("reserve", 400_000), ("refund", -400_000)]


async def _shown(store, job_id):
    job = await store.get_job(job_id)
    return job if job is not None and job.final_shown_at is not None else None
