"""fal's webhooks as recorded (FAL_UPDATES=webhook), on both engines: one per request, a replayed signature
refused, an unknown request refused with nothing written, and on PostgreSQL the owner told by a notice."""

from __future__ import annotations

import asyncio

from bot.domain.models import JobState, VideoSpec
from bot.storage.jobs import JobStore
from bot.storage.webhooks import SIGNATURES_KEPT_SECONDS, WebhookStore

SPEC = VideoSpec(kind="text_to_video", prompt="p", model="sora-2", duration=4, aspect_ratio="16:9", resolution="720p")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def job_at_fal(database, request_id: str) -> int:
    jobs = JobStore(database)
    job = await jobs.create_job(
        SPEC, guild_id=1, channel_id=2, user_id=3, endpoint="fal-ai/sora-2/text-to-video", arguments={}, cost_usd=0.4
    )
    await jobs.update_job(job.id, JobState.QUEUED, request_id=request_id)
    return job.id


async def rows(database, table: str) -> int:
    async with database.reading() as session:
        return int(await session.fetch_value(f"SELECT COUNT(*) FROM {table}"))


async def test_a_webhook_is_recorded_once_and_a_retry_is_a_duplicate(database):
    store = WebhookStore(database)
    job_id = await job_at_fal(database, "req-1")
    assert await store.record("req-1", "aa", '{"status": "OK"}') == ("recorded", job_id)
    assert await store.body("req-1") == '{"status": "OK"}'
    # fal's retry (our 200 was lost): freshly signed, the same request: nothing changes.
    assert await store.record("req-1", "bb", '{"status": "OK", "again": 1}') == ("duplicate", job_id)
    assert await store.body("req-1") == '{"status": "OK"}'
    assert await rows(database, "fal_webhooks") == 1


async def test_a_replayed_signature_is_refused(database):
    store = WebhookStore(database)
    job_id = await job_at_fal(database, "req-2")
    assert await store.record("req-2", "sig", "{}") == ("recorded", job_id)
    assert await store.record("req-2", "sig", "{}") == ("replay", job_id)


async def test_an_unknown_request_writes_nothing(database):
    store = WebhookStore(database)
    await job_at_fal(database, "req-3")
    assert await store.record("req-other", "sig-x", "{}") == ("unknown", None)
    assert await store.body("req-other") is None
    assert (await rows(database, "fal_webhooks"), await rows(database, "fal_webhook_signatures")) == (0, 0)


async def test_old_signatures_are_forgotten(database):
    clock = Clock()
    store = WebhookStore(database, clock)
    await job_at_fal(database, "req-4")
    await job_at_fal(database, "req-5")
    await store.record("req-4", "old", "{}")
    clock.now += SIGNATURES_KEPT_SECONDS + 1
    await store.record("req-5", "new", "{}")
    assert await rows(database, "fal_webhook_signatures") == 1  # "old" is past any timestamp fal may send


async def test_on_postgresql_the_other_processes_hear_of_a_recorded_webhook(database):
    jobs = JobStore(database)
    heard: list[str] = []
    if not await jobs.listen(heard.append):
        assert database.engine == "sqlite"  # one process per file: nobody else to tell
        return
    job_id = await job_at_fal(database, "req-6")
    await WebhookStore(database).record("req-6", "sig-6", "{}")
    for _ in range(100):
        if heard:
            break
        await asyncio.sleep(0.02)
    assert heard == [f"webhook:{job_id}"]
