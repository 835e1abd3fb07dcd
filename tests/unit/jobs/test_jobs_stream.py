"""The runner following fal's status stream (FAL_UPDATES=stream; poll stays the default until the stream
is measured with 1,000 jobs): one connection per job instead of a poll every few seconds; polling while the
stream fails; `poll` as before."""

from __future__ import annotations

import asyncio

from bot.domain import sora
from bot.domain.models import JobState
from bot.jobs.runner import Origin
from tests.e2e.helpers import eventually
from tests.fakes.fal import JobScript
from tests.unit.jobs.test_jobs import RecordingMessenger, parts, run_one, runner_with

__all__ = ["parts"]  # the fixture, shared with test_jobs


def fal_requests(fake_fal, request_id: str) -> int:
    """Requests to fal's queue for one job: its submit, status polls, streams, result fetches, cancels."""
    return fake_fal.count(kind="submit") + fake_fal.count(request_id=request_id)


async def delivered(parts, job_id: int, messenger: RecordingMessenger):
    done = await parts[0].get_job(job_id)
    assert done.state == JobState.DELIVERED, done.error
    assert len(messenger.posts) == 1 and len(parts[3].submissions) == 1
    assert parts[3].job(done.request_id).result_fetches == 1
    return done


async def test_a_streamed_job_takes_three_fal_requests_whatever_its_duration(parts):
    fake_fal = parts[3]
    fake_fal.default_script = JobScript(queue_seconds=1.0, run_seconds=2.5, start_position=3)
    messenger = RecordingMessenger()
    job = await run_one(runner_with(parts, messenger))  # poll_min 0.1: polling would take ~20 requests
    done = await delivered(parts, job.id, messenger)
    assert fal_requests(fake_fal, done.request_id) == 3  # submit, stream, result
    assert fake_fal.job(done.request_id).status_polls == 0
    assert any("Queued" in text for text in messenger.edits)
    assert any("Generating" in text for text in messenger.edits)  # Started came from the stream
    assert "Done" in messenger.edits[-1]


async def test_poll_mode_polls_and_never_streams(parts):
    fake_fal = parts[3]
    fake_fal.default_script = JobScript(queue_seconds=0.5, run_seconds=0.5)
    messenger = RecordingMessenger()
    job = await run_one(runner_with(parts, messenger, updates="poll"))
    done = await delivered(parts, job.id, messenger)
    assert fake_fal.job(done.request_id).streams_opened == 0
    assert fake_fal.job(done.request_id).status_polls >= 3


async def test_a_stream_cut_midway_falls_back_to_polling_and_delivers_once(parts):
    fake_fal = parts[3]
    # Cut after the queue's events and the first of the run's: the job is RUNNING when the stream dies.
    fake_fal.default_script = JobScript(queue_seconds=0.4, run_seconds=1.5, start_position=1, stream_cut_after=3)
    messenger = RecordingMessenger()
    job = await run_one(runner_with(parts, messenger))  # stream_retry 60 s: no second stream
    done = await delivered(parts, job.id, messenger)
    at_fal = fake_fal.job(done.request_id)
    assert at_fal.streams_opened == 1 and at_fal.status_polls >= 1


async def test_the_stream_is_opened_again_after_polling_a_while(parts):
    fake_fal = parts[3]
    fake_fal.default_script = JobScript(queue_seconds=0.3, run_seconds=3.0, stream_cut_after=1)
    messenger = RecordingMessenger()
    job = await run_one(runner_with(parts, messenger, stream_retry=0.5))
    done = await delivered(parts, job.id, messenger)
    at_fal = fake_fal.job(done.request_id)
    assert at_fal.streams_opened == 2  # the second one (not faulty) ran to COMPLETED
    assert 1 <= at_fal.status_polls <= 10


async def test_a_garbled_or_silent_stream_falls_back_to_polling(parts):
    fake_fal = parts[3]
    parts[1]._stream_idle_timeout = 0.3
    messenger = RecordingMessenger()
    runner = runner_with(parts, messenger)
    for fault in ("garbage", "silent"):
        fake_fal.default_script = JobScript(queue_seconds=0.3, run_seconds=0.8, stream_cut_after=1, stream_fault=fault)
        job = await run_one(runner)
        assert (await parts[0].get_job(job.id)).state == JobState.DELIVERED
    assert len(messenger.posts) == 2


async def test_a_refused_stream_falls_back_to_polling(parts):
    fake_fal = parts[3]
    fake_fal.stream_status = 500
    fake_fal.default_script = JobScript(queue_seconds=0.3, run_seconds=0.5)
    messenger = RecordingMessenger()
    job = await run_one(runner_with(parts, messenger))
    done = await delivered(parts, job.id, messenger)
    assert fake_fal.job(done.request_id).status_polls >= 1


async def test_the_deadline_holds_while_streaming(parts):
    fake_fal = parts[3]
    fake_fal.default_script = JobScript(queue_seconds=30.0)
    messenger = RecordingMessenger()
    async with asyncio.timeout(15):
        job = await run_one(runner_with(parts, messenger, job_timeout=1.5))
    failed = await parts[0].get_job(job.id)
    assert failed.state == JobState.FAILED and "took too long" in failed.error
    assert fake_fal.count(request_id=failed.request_id, kind="cancel") == 1
    assert fake_fal.job(failed.request_id).cancelled


async def test_a_resumed_job_reopens_its_stream(parts):
    fake_fal = parts[3]
    fake_fal.default_script = JobScript(queue_seconds=1.5, run_seconds=0.5)
    first = runner_with(parts, RecordingMessenger())
    job = await first.accept(sora.text_to_video("a cat"), Origin(guild_id=1, channel_id=2, user_id=3))
    first.start(job)
    await fake_fal.wait_for_submission()
    # (the fake records a request once answered: a stream's only when it ends)
    await eventually(lambda: any(job.streams_opened for job in fake_fal.jobs.values()), timeout=10)
    await first.stop()
    messenger = RecordingMessenger()
    second = runner_with(parts, messenger)
    assert await second.resume_all() == 1
    await second.wait_idle()
    done = await delivered(parts, job.id, messenger)
    at_fal = fake_fal.job(done.request_id)
    assert at_fal.streams_opened == 2 and at_fal.status_polls == 0
