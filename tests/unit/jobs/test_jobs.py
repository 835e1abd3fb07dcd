"""The job runner with a real SQLite store and the real fal_client against the fake fal; Discord is
replaced by a recording Messenger (the protocol the runner depends on)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import fal_client
import pytest

from bot.domain import sora
from bot.domain.messenger import PostForbidden, PostTooLarge, VideoCard
from bot.domain.models import Job, JobState
from bot.fal.queue import FalQueue
from bot.jobs.config import RunnerConfig
from bot.jobs.runner import JobRunner, Origin
from bot.storage.jobs import JobStore
from bot.storage.videos import VideoStore
from tests.fakes.fal import JobScript


@dataclass
class RecordingMessenger:
    limit: int = 10 * 2**20
    refuse_post: type[Exception] | None = None
    edits: list[str] = field(default_factory=list)
    posts: list[tuple[VideoCard, Path | None]] = field(default_factory=list)
    told: list[str] = field(default_factory=list)

    async def edit_progress(self, job: Job, text: str) -> int | None:
        self.edits.append(text)
        return 1000

    async def post_video(self, job: Job, card: VideoCard, file: Path | None) -> int:
        if self.refuse_post is not None and file is not None:
            raise self.refuse_post()
        self.posts.append((card, file))
        return 2000 + len(self.posts)

    async def find_posted_video(self, job: Job) -> int | None:
        return None

    async def tell_requester(self, job: Job, text: str) -> None:
        self.told.append(text)

    def upload_limit(self, job: Job) -> int:
        return self.limit

    def forget(self, job_id: int) -> None:
        return None


@pytest.fixture
async def parts(fake_fal, database, tmp_path):  # the pipeline on SQLite and on PostgreSQL (tests/pg.py)
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=fake_fal.client_ssl_context()))
    fal = FalQueue(fal_client.AsyncClient(key="test-fal-key"), http=session)
    yield JobStore(database), fal, session, fake_fal, VideoStore(database), tmp_path / "work"
    await session.close()


def runner_with(parts, messenger, **config) -> JobRunner:
    store, fal, session, _, videos, work = parts
    # A work folder of the test's own: the shared default (/tmp/sora-bot-work) has a job1 in every run.
    values = dict(poll_min=0.1, poll_max=0.2, progress_interval=0.0, work_dir=work, ffmpeg=None)
    values.update(config)
    return JobRunner(store, videos, fal, messenger, session, sora.PriceTable(), RunnerConfig(**values))


async def run_one(runner: JobRunner, prompt: str = "a cat") -> Job:
    job = await runner.accept(sora.text_to_video(prompt), Origin(guild_id=1, channel_id=2, user_id=3))
    runner.start(job)
    await runner.wait_idle()
    return job


async def test_a_video_is_delivered_and_recorded(parts):
    messenger = RecordingMessenger()
    runner = runner_with(parts, messenger)
    job = await run_one(runner)
    store = parts[0]
    done = await store.get_job(job.id)
    assert done.state == JobState.DELIVERED and done.video_message_id == 2001
    assert len(messenger.posts) == 1 and messenger.posts[0][1] is not None
    assert any("Queued" in e or "Generating" in e for e in messenger.edits)
    assert "Done" in messenger.edits[-1]
    video = await parts[4].get_video(done.result["video_id"])
    assert video.remixable and video.message_id == 2001


async def test_refused_at_submit_fails_with_the_reason(parts):
    parts[3].default_script = JobScript(outcome="validation_on_submit")
    messenger = RecordingMessenger()
    job = await run_one(runner_with(parts, messenger))
    failed = await parts[0].get_job(job.id)
    assert failed.state == JobState.FAILED and failed.error.startswith("fal refused this request")
    assert failed.request_id is None
    assert messenger.told == [failed.error] and messenger.posts == []


async def test_forbidden_channel_fails_and_tells_the_member(parts):
    parts[3].default_script = JobScript(queue_seconds=0.1, run_seconds=0.1)
    messenger = RecordingMessenger(refuse_post=PostForbidden)
    job = await run_one(runner_with(parts, messenger))
    failed = await parts[0].get_job(job.id)
    assert failed.state == JobState.FAILED and "may not post videos in this channel" in failed.error
    assert messenger.told == [failed.error]


async def test_a_file_discord_refuses_as_too_large_becomes_a_link(parts):
    parts[3].default_script = JobScript(queue_seconds=0.1, run_seconds=0.1)
    messenger = RecordingMessenger(refuse_post=PostTooLarge)
    job = await run_one(runner_with(parts, messenger))
    card, file = messenger.posts[0]
    assert file is None and card.link and card.link.startswith("https://")
    assert (await parts[0].get_job(job.id)).state == JobState.DELIVERED


async def test_without_ffmpeg_an_oversized_video_is_posted_as_a_link(parts):
    parts[3].default_script = JobScript(queue_seconds=0.1, run_seconds=0.1)
    messenger = RecordingMessenger(limit=1000)  # smaller than any mp4
    await run_one(runner_with(parts, messenger, ffmpeg=None))
    card, file = messenger.posts[0]
    assert file is None and "upload limit" in card.note and card.link
