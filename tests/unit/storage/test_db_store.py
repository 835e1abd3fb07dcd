import sqlite3

import pytest

from bot.domain.models import JobState, Video
from bot.storage import db
from bot.storage.store import Store


@pytest.fixture
async def store(tmp_path):
    conn = await db.connect(tmp_path / "sub" / "bot.sqlite3")
    await db.migrate(conn)
    yield Store(conn)
    await conn.close()


async def _job(store: Store, **overrides):
    values = dict(
        kind="text_to_video",
        guild_id=1,
        channel_id=2,
        user_id=3,
        endpoint="fal-ai/sora-2/text-to-video",
        arguments={"prompt": "p", "delete_video": False},
        prompt="p",
        model="sora-2",
        duration=4,
        aspect_ratio="16:9",
        resolution="720p",
        cost_usd=0.4,
    )
    values.update(overrides)
    return await store.create_job(**values)


async def test_migrations_are_recorded_and_applied_once(tmp_path):
    path = tmp_path / "m.sqlite3"
    conn = await db.connect(path)
    first = await db.migrate(conn)
    second = await db.migrate(conn)
    async with conn.execute("SELECT version FROM schema_migrations") as cur:
        versions = [r[0] for r in await cur.fetchall()]
    async with conn.execute("PRAGMA journal_mode") as cur:
        mode = (await cur.fetchone())[0]
    async with conn.execute("PRAGMA foreign_keys") as cur:
        fks = (await cur.fetchone())[0]
    await conn.close()
    assert first == [v for v, _ in db.discover()] and second == []
    assert versions == first
    assert mode == "wal" and fks == 1


async def test_a_failing_migration_leaves_nothing_behind(tmp_path):
    folder = tmp_path / "migs"
    folder.mkdir()
    (folder / "0001_ok.sql").write_text("CREATE TABLE a (x INTEGER);")
    (folder / "0002_bad.sql").write_text("CREATE TABLE b (x INTEGER); INSERT INTO nowhere VALUES (1);")
    conn = await db.connect(tmp_path / "f.sqlite3")
    with pytest.raises(sqlite3.OperationalError):
        await db.migrate(conn, folder)
    async with conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name") as cur:
        tables = [r[0] for r in await cur.fetchall()]
    await conn.close()
    assert "a" in tables and "b" not in tables


async def test_job_lifecycle_is_persisted(store):
    job = await _job(store)
    assert job.state == JobState.PENDING and job.arguments["delete_video"] is False
    job = await store.update_job(job.id, JobState.QUEUED, request_id="req-1")
    assert job.request_id == "req-1"
    assert [j.id for j in await store.unfinished_jobs()] == [job.id]
    video = Video(
        video_id="video_1",
        job_id=job.id,
        guild_id=1,
        channel_id=2,
        message_id=99,
        user_id=3,
        prompt="p",
        model="sora-2",
        duration=4,
        aspect_ratio="16:9",
        resolution="720p",
        remixable=True,
        created_at=1.0,
    )
    done = await store.mark_delivered(job, video)
    assert done.state == JobState.DELIVERED and done.video_message_id == 99
    assert await store.unfinished_jobs() == []
    assert (await store.get_video("video_1")).message_id == 99
    assert (await store.get_video_by_message(99)).video_id == "video_1"


async def test_a_request_id_belongs_to_one_job(store):
    first = await _job(store)
    second = await _job(store)
    await store.update_job(first.id, request_id="same")
    with pytest.raises(sqlite3.IntegrityError):
        await store.update_job(second.id, request_id="same")


async def test_update_refuses_unknown_columns(store):
    job = await _job(store)
    with pytest.raises(ValueError):
        await store.update_job(job.id, state_sneaky="x")
