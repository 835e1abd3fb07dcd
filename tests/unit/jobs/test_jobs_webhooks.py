"""The runner with FAL_UPDATES=webhook: fal's signed webhook (the fake fal's, verified by the real
receiver) brings the result; the status stream shows progress meanwhile; a lost, late or incomplete
webhook never loses a job (the stream's COMPLETED, or a slow sweep, finds it)."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from bot.domain import sora
from bot.domain.models import JobState
from bot.fal.webhook_receiver import WebhookReceiver
from bot.fal.webhooks import JwksCache, WebhookVerifier
from bot.jobs.config import RunnerConfig
from bot.jobs.runner import JobRunner, Origin
from bot.jobs.webhook_inbox import JobWebhooks
from bot.storage.webhooks import WebhookStore
from tests.e2e.helpers import eventually, eventually_async
from tests.fakes.fal import JobScript
from tests.unit.jobs.test_jobs import RecordingMessenger, parts

__all__ = ["parts"]  # the fixture, shared with test_jobs

PATH = "/fal/webhook"


class Hooked:
    """A receiver on loopback and the runners it tells (as app.py wires them)."""

    def __init__(self, parts, database) -> None:
        self.parts = parts
        self.database = database
        self.runner: JobRunner | None = None
        store, fal, session, fake, videos, work = parts
        inbox = JobWebhooks(WebhookStore(database), self._arrived)
        verifier = WebhookVerifier(JwksCache(session, fake.jwks_url))
        self.receiver = WebhookReceiver(verifier, inbox, host="127.0.0.1", port=0, path=PATH)

    def _arrived(self, job_id: int) -> None:
        if self.runner is not None:
            self.runner.webhook_arrived(job_id)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.receiver.port}{PATH}"

    def runner_for(self, messenger, *, receives: bool = True, **config) -> JobRunner:
        """A runner submitting with this receiver's URL; `receives`: it is the receiving process's (told of
        each webhook directly), else another process's (told by the database's notice only)."""
        store, fal, session, _, videos, work = self.parts
        values = dict(poll_min=0.1, poll_max=0.2, progress_interval=0.0, work_dir=work, ffmpeg=None)
        values |= dict(updates="webhook", webhook_url=self.url, webhook_grace=3.0, webhook_sweep=30.0)
        values.update(config)
        runner = JobRunner(
            store,
            videos,
            fal,
            messenger,
            session,
            sora.PriceTable(),
            RunnerConfig(**values),
            webhooks=WebhookStore(self.database),
        )
        if receives:
            self.runner = runner
        return runner


@pytest.fixture
async def hooked(parts, database):
    hooked = Hooked(parts, database)
    await hooked.receiver.start()
    yield hooked
    await hooked.receiver.stop()


async def run_one(runner: JobRunner):
    job = await runner.accept(sora.text_to_video("a cat"), Origin(guild_id=1, channel_id=2, user_id=3))
    runner.start(job)
    await runner.wait_idle()
    return await runner._store.get_job(job.id)


def fal_requests(fake_fal, request_id: str) -> int:
    """Requests to fal's queue for one job: its submit, status polls, streams, result fetches, cancels."""
    return fake_fal.count(kind="submit") + fake_fal.count(request_id=request_id)


async def test_the_webhook_brings_the_result_in_two_fal_requests(hooked):
    fake = hooked.parts[3]
    fake.default_script = JobScript(queue_seconds=0.5, run_seconds=1.5, start_position=2)
    messenger = RecordingMessenger()
    done = await run_one(hooked.runner_for(messenger))
    assert done.state == JobState.DELIVERED, done.error
    at_fal = fake.job(done.request_id)
    assert at_fal.webhook_url == hooked.url and at_fal.webhook_answers == [200]
    assert (at_fal.result_fetches, at_fal.status_polls, at_fal.streams_opened) == (0, 0, 1)
    assert fal_requests(fake, done.request_id) == 2  # submit, stream
    assert done.result["video_id"] == at_fal.video_id and len(messenger.posts) == 1
    assert any("Queued" in text for text in messenger.edits)  # the stream showed progress meanwhile
    assert any("Generating" in text for text in messenger.edits)


async def test_a_lost_webhook_is_found_by_the_streams_completion(hooked):
    fake = hooked.parts[3]
    fake.default_script = JobScript(queue_seconds=0.3, run_seconds=0.5, webhook="drop")
    messenger = RecordingMessenger()
    done = await run_one(hooked.runner_for(messenger, webhook_grace=0.3))
    assert done.state == JobState.DELIVERED, done.error
    at_fal = fake.job(done.request_id)
    assert at_fal.webhook_attempts == 0 and at_fal.result_fetches == 1 and len(messenger.posts) == 1


async def test_with_no_stream_and_no_webhook_the_slow_sweep_finds_the_job(hooked):
    fake = hooked.parts[3]
    fake.stream_status = 503  # fal refuses every status stream
    fake.default_script = JobScript(queue_seconds=0.3, run_seconds=0.5, webhook="drop")
    messenger = RecordingMessenger()
    done = await run_one(hooked.runner_for(messenger, webhook_grace=0.2, webhook_sweep=0.5))
    assert done.state == JobState.DELIVERED, done.error
    at_fal = fake.job(done.request_id)
    assert at_fal.result_fetches == 1 and len(messenger.posts) == 1
    assert 1 <= at_fal.status_polls <= 6  # a sweep every 0.5 s, not a poll every 0.1-0.2 s


async def test_without_a_stream_the_webhook_ends_the_wait_at_once(hooked):
    fake = hooked.parts[3]
    fake.stream_status = 503
    fake.default_script = JobScript(queue_seconds=0.3, run_seconds=0.5)
    messenger = RecordingMessenger()
    done = await run_one(hooked.runner_for(messenger, webhook_sweep=30.0))  # a sweep would take 30 s
    assert done.state == JobState.DELIVERED, done.error
    at_fal = fake.job(done.request_id)
    assert at_fal.result_fetches == 0 and at_fal.status_polls <= 1


async def test_a_webhook_without_its_payload_has_the_result_fetched_once(hooked):
    fake = hooked.parts[3]
    fake.default_script = JobScript(queue_seconds=0.3, run_seconds=0.5, webhook="payload_error")
    messenger = RecordingMessenger()
    done = await run_one(hooked.runner_for(messenger))
    assert done.state == JobState.DELIVERED, done.error
    assert fake.job(done.request_id).result_fetches == 1 and len(messenger.posts) == 1


async def test_an_error_webhook_fails_the_job_with_fals_reason(hooked):
    fake = hooked.parts[3]
    fake.default_script = JobScript(queue_seconds=0.3, run_seconds=0.5, outcome="content_policy")
    messenger = RecordingMessenger()
    done = await run_one(hooked.runner_for(messenger))
    assert done.state == JobState.FAILED
    assert "content policy" in done.error and messenger.told == [done.error] and messenger.posts == []
    assert fake.job(done.request_id).result_fetches == 0


async def test_fals_duplicate_webhooks_change_nothing(hooked):
    fake = hooked.parts[3]
    fake.default_script = JobScript(queue_seconds=0.3, run_seconds=0.5, webhook_duplicates=2)
    # fal's duplicates come later, each signed with its own timestamp (a signature seen again is a replay,
    # refused; see the security tests): a clock a second further at each signing.
    seconds = itertools.count(int(time.time()))
    fake.webhook_clock = lambda: float(next(seconds))
    messenger = RecordingMessenger()
    done = await run_one(hooked.runner_for(messenger))
    at_fal = fake.job(done.request_id)
    await eventually(lambda: len(at_fal.webhook_answers) == 3, timeout=10)
    assert at_fal.webhook_answers == [200, 200, 200] and len(messenger.posts) == 1
    async with hooked.database.reading() as session:
        assert await session.fetch_value("SELECT COUNT(*) FROM fal_webhooks") == 1


async def test_fal_retries_while_the_receiver_is_down(hooked):
    fake = hooked.parts[3]
    fake.webhook_retry_seconds = (0.3,) * 10
    fake.default_script = JobScript(queue_seconds=0.2, run_seconds=0.4)
    messenger = RecordingMessenger()
    runner = hooked.runner_for(messenger, webhook_grace=10.0)
    await hooked.receiver.stop()
    job = await runner.accept(sora.text_to_video("a cat"), Origin(guild_id=1, channel_id=2, user_id=3))
    runner.start(job)
    request_id = await eventually_async(lambda: _request_id(runner, job.id))
    at_fal = fake.job(request_id)
    await eventually(lambda: at_fal.webhook_attempts >= 2, timeout=10)  # refused twice: nobody listens
    await hooked.receiver.start()  # the same port (it was picked once)
    await runner.wait_idle()
    done = await runner._store.get_job(job.id)
    assert done.state == JobState.DELIVERED, done.error
    assert at_fal.webhook_answers[0] == 0 and at_fal.webhook_answers[-1] == 200
    assert at_fal.result_fetches == 0 and len(messenger.posts) == 1


async def test_a_webhook_received_while_no_runner_holds_the_job_is_taken_at_resume(hooked):
    """Another process's receiver (here: the same one, its runner stopped) records the webhook; the job's
    next owner finds it recorded and never asks fal for the result."""
    fake = hooked.parts[3]
    fake.default_script = JobScript(queue_seconds=0.3, run_seconds=0.6)
    first = hooked.runner_for(RecordingMessenger())
    job = await first.accept(sora.text_to_video("a cat"), Origin(guild_id=1, channel_id=2, user_id=3))
    first.start(job)
    request_id = await eventually_async(lambda: _request_id(first, job.id))
    await first.stop()  # a clean stop: the job is released, still at fal
    at_fal = fake.job(request_id)
    await eventually(lambda: at_fal.webhook_answers == [200], timeout=10)
    messenger = RecordingMessenger()
    second = hooked.runner_for(messenger)
    assert await second.resume_all() == 1
    await second.wait_idle()
    done = await second._store.get_job(job.id)
    assert done.state == JobState.DELIVERED, done.error
    assert at_fal.result_fetches == 0 and len(messenger.posts) == 1


async def _request_id(runner: JobRunner, job_id: int) -> str | None:
    job = await runner._store.get_job(job_id)
    return job.request_id if job is not None else None


async def test_another_processs_receiver_records_it_and_the_owner_acts_at_once(hooked, database):
    """Several processes behind one public URL: the receiver of a process that does not hold the job
    records its webhook; the owner hears of it by the database's notice (PostgreSQL), long before its sweep
    or its grace would have looked."""
    if database.engine != "postgresql":
        pytest.skip("one process per SQLite file: no other process to receive it")
    fake = hooked.parts[3]
    fake.stream_status = 503  # no stream either: only the notice can end the owner's wait early
    fake.default_script = JobScript(queue_seconds=0.2, run_seconds=0.4)
    hooked.runner_for(RecordingMessenger())  # the receiving process's runner: holds nothing
    messenger = RecordingMessenger()
    store = hooked.parts[0]
    owner = hooked.runner_for(messenger, receives=False, webhook_grace=60.0, webhook_sweep=60.0)
    await owner.resume_all()  # listens for the other processes' notices
    try:
        job = await owner.accept(sora.text_to_video("a cat"), Origin(guild_id=1, channel_id=2, user_id=3))
        owner.start(job)
        async with asyncio.timeout(15):  # the sweep would take 60 s
            await owner.wait_idle()
        done = await store.get_job(job.id)
        assert done.state == JobState.DELIVERED, done.error
        assert fake.job(done.request_id).result_fetches == 0 and len(messenger.posts) == 1
    finally:
        await owner.stop()
