"""Two job runners ("processes" A and B, each with its own database connections and owner id) on one
database, both engines (a real SQLite file, a real PostgreSQL server), with the real fal_client against the
fake fal and the recording Messenger of test_jobs.py: a job moves to B when A dies, stalls or stops, is
never submitted twice, is delivered once, and its ledger is exact; A's late writes change nothing."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import fal_client
import pytest

from bot.domain import sora
from bot.domain.models import JobState
from bot.domain.quota import Limits, Period
from bot.fal.queue import FalQueue
from bot.jobs import progress
from bot.jobs.config import RunnerConfig
from bot.jobs.runner import JobRunner, Origin
from bot.storage.jobs import JobStore, LeaseLost
from bot.storage.postgres import PostgresDatabase
from bot.storage.sqlite import SqliteDatabase
from bot.storage.videos import VideoStore
from tests.fakes.fal import JobScript
from tests.unit.jobs.test_jobs import RecordingMessenger

LIMITS = Limits(10_000_000, Period.MONTHLY, None, 100, 1000)
PRICE = 400_000  # a 4 s Sora 2 video
ORIGIN = Origin(guild_id=1, channel_id=2, user_id=3)


class Cluster:
    """Runners that share one database, each through connections of its own."""

    def __init__(self, open_db: Callable[[], Any], http: aiohttp.ClientSession) -> None:
        self._open_db = open_db
        self.http = http
        self.databases: list[Any] = []
        self.runners: list[JobRunner] = []
        self.messengers: dict[str, RecordingMessenger] = {}

    async def runner(self, owner: str, lease: float, limits: Limits = LIMITS, line_check: float = 5.0) -> JobRunner:
        db = await self._open_db()
        self.databases.append(db)
        fal = FalQueue(fal_client.AsyncClient(key="test-fal-key"), http=self.http)
        config = RunnerConfig(
            poll_min=0.1,
            poll_max=0.2,
            progress_interval=0.0,
            quota_defaults=limits,
            lease_seconds=lease,
            line_check=line_check,
        )
        messenger = self.messengers[owner] = RecordingMessenger()
        runner = JobRunner(
            JobStore(db), VideoStore(db), fal, messenger, self.http, sora.PriceTable(), config, owner=owner
        )
        self.runners.append(runner)
        return runner

    @property
    def db(self) -> Any:
        return self.databases[0]

    async def job(self, job_id: int) -> dict[str, Any]:
        async with self.db.reading() as s:
            row = await s.fetch_one("SELECT state, lease_owner, video_message_id FROM jobs WHERE id = ?", job_id)
        assert row is not None
        return row

    async def ledger(self, job_id: int) -> list[tuple[str, int]]:
        async with self.db.reading() as s:
            rows = await s.fetch_all("SELECT kind, amount_micros FROM ledger WHERE job_id = ? ORDER BY id", job_id)
        return [(r["kind"], r["amount_micros"]) for r in rows]

    async def videos(self) -> int:
        async with self.db.reading() as s:
            return int(await s.fetch_value("SELECT COUNT(*) FROM videos"))


async def kill(runner: JobRunner) -> None:
    """What kill -9 leaves: the tasks and the heartbeat gone, the leases still in the database."""
    runner._stopping = True
    tasks = [*runner._tasks.values(), *runner._chores]
    if runner._heartbeat_task is not None:
        tasks.append(runner._heartbeat_task)
        runner._heartbeat_task = None
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def until(check: Callable[[], Any], timeout: float = 20.0) -> Any:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout} s")
        await asyncio.sleep(0.05)


@pytest.fixture(params=["sqlite", "postgresql"])
async def cluster(request, tmp_path, fake_fal):
    if request.param == "sqlite":
        path = tmp_path / "jobs.sqlite3"

        async def open_db() -> Any:
            return await SqliteDatabase.open(path)
    else:
        url = request.getfixturevalue("pg_url")

        async def open_db() -> Any:
            return await PostgresDatabase.open(url, pool_size=4)

    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=fake_fal.client_ssl_context()))
    made = Cluster(open_db, http)
    made.fal = fake_fal
    made.engine = request.param
    try:
        yield made
    finally:
        for runner in made.runners:
            await kill(runner)
        for db in made.databases:
            await db.close()
        await http.close()


async def queued_at_fal(cluster: Cluster, runner: JobRunner) -> int:
    job = await runner.accept(sora.text_to_video("a cat", duration=4), ORIGIN)
    runner.start(job)
    await until(lambda: _state_is(cluster, job.id, "queued"))
    return job.id


async def _state_is(cluster: Cluster, job_id: int, state: str) -> bool:
    return (await cluster.job(job_id))["state"] == state


async def delivered_once(cluster: Cluster, job_id: int, by: str) -> None:
    await until(lambda: _state_is(cluster, job_id, "delivered"), timeout=30)
    row = await cluster.job(job_id)
    assert len(cluster.fal.submissions) == 1  # never resubmitted
    posts = {owner: len(m.posts) for owner, m in cluster.messengers.items()}
    assert posts[by] == 1 and sum(posts.values()) == 1, posts
    assert row["video_message_id"] == 2001
    assert await cluster.videos() == 1
    assert await cluster.ledger(job_id) == [("reserve", PRICE), ("commit", PRICE)]


async def test_a_dead_processs_job_moves_to_a_live_one_once_its_lease_expires(cluster):
    cluster.fal.default_script = JobScript(queue_seconds=3.0, run_seconds=0.3)
    a = await cluster.runner("A", lease=1.0)
    b = await cluster.runner("B", lease=1.0)
    await a.resume_all()
    await b.resume_all()
    job_id = await queued_at_fal(cluster, a)

    await kill(a)
    killed_at = time.monotonic()
    assert (await cluster.job(job_id))["lease_owner"] == "A"  # renewed a moment ago: not yet B's
    await until(lambda: _owned_by(cluster, job_id, "B"))
    assert time.monotonic() - killed_at > 0.3  # B waited for the lease to run out
    # A's late writes, had it lived on: refused, nothing changed (the job is still at fal, B's now).
    with pytest.raises(LeaseLost):
        await a._store.update_job(job_id, JobState.RUNNING, owner="A")
    with pytest.raises(LeaseLost):
        await a._store.update_job(job_id, JobState.FAILED, owner="A", error="late")
    assert (await cluster.job(job_id))["state"] == "queued"
    assert await cluster.ledger(job_id) == [("reserve", PRICE)]
    await delivered_once(cluster, job_id, by="B")
    await b.stop()


async def _owned_by(cluster: Cluster, job_id: int, owner: str) -> bool:
    return (await cluster.job(job_id))["lease_owner"] == owner


async def test_a_stalled_process_that_lost_its_job_writes_nothing_and_stops_it_quietly(cluster, caplog):
    """A's heartbeat stops (a stall) while its task polls on: B takes the job after the lease; A's next
    write raises LeaseLost, its task ends without effects, and B alone delivers."""
    caplog.set_level(logging.WARNING, logger="bot.jobs.runner")
    cluster.fal.default_script = JobScript(queue_seconds=4.0, run_seconds=0.3)
    a = await cluster.runner("A", lease=1.0)
    b = await cluster.runner("B", lease=1.0)
    await a.resume_all()
    await b.resume_all()
    job_id = await queued_at_fal(cluster, a)
    assert a._heartbeat_task is not None
    a._heartbeat_task.cancel()  # A stalls: nothing renews its lease; its job task carries on

    await until(lambda: _owned_by(cluster, job_id, "B"))
    await delivered_once(cluster, job_id, by="B")
    await until(lambda: _true(a.active == 0))
    assert any("lost its lease to B" in r.getMessage() for r in caplog.records)
    assert cluster.messengers["A"].told == [] and cluster.messengers["A"].posts == []
    await b.stop()


async def _true(value: bool) -> bool:
    return value


async def test_a_clean_stop_releases_the_jobs_so_another_process_takes_them_at_once(cluster):
    cluster.fal.default_script = JobScript(queue_seconds=2.0, run_seconds=0.3)
    a = await cluster.runner("A", lease=30.0)  # a long lease: only the release can make it quick
    await a.resume_all()
    b = await cluster.runner("B", lease=30.0)
    if cluster.engine == "postgresql":
        await b.resume_all()  # live already: woken by A's notice
    job_id = await queued_at_fal(cluster, a)

    await a.stop()
    stopped_at = time.monotonic()
    if cluster.engine == "sqlite":
        assert (await cluster.job(job_id))["lease_owner"] is None
        await b.resume_all()  # one process per file: the next one starts after
    await until(lambda: _owned_by(cluster, job_id, "B"), timeout=5)
    assert time.monotonic() - stopped_at < 5  # far from the 30 s lease
    await delivered_once(cluster, job_id, by="B")
    await b.stop()
    async with cluster.db.reading() as s:
        stopped = await s.fetch_all("SELECT id FROM processes WHERE stopped_at IS NOT NULL ORDER BY id")
    assert [r["id"] for r in stopped] == ["A", "B"]


async def test_cancel_clicked_in_a_process_that_does_not_own_the_job_cancels_and_refunds_it(cluster):
    cluster.fal.default_script = JobScript(queue_seconds=20.0, run_seconds=0.3)
    a = await cluster.runner("A", lease=30.0)
    b = await cluster.runner("B", lease=30.0)
    await a.resume_all()
    if cluster.engine == "postgresql":
        await b.resume_all()
    job_id = await queued_at_fal(cluster, a)
    assert a.active == 1

    answer = await b.cancel(job_id, actor_id=3)

    assert answer == "Cancelled; $0.40 refunded."
    assert (await cluster.job(job_id))["state"] == "cancelled"
    assert await cluster.ledger(job_id) == [("reserve", PRICE), ("refund", -PRICE)]
    # The owner's task ends: at once on PostgreSQL (notified), at its next write on SQLite (refused by
    # state: the cancel is final), having told nobody anything nor posted.
    await until(lambda: _true(a.active == 0), timeout=10 if cluster.engine == "postgresql" else 30)
    assert cluster.messengers["A"].told == [] and cluster.messengers["A"].posts == []
    assert "Cancelled" in cluster.messengers["B"].edits[-1]
    assert len(cluster.fal.submissions) == 1
    assert (await cluster.job(job_id))["state"] == "cancelled"
    assert await cluster.ledger(job_id) == [("reserve", PRICE), ("refund", -PRICE)]


async def test_each_runner_learns_the_live_processes_at_its_heartbeat_and_shares_the_edit_budget(cluster):
    """Two runners on one PostgreSQL database, a heartbeat each: each counts 2 live processes and
    stretches its progress edits twice as much; on SQLite (one process per file) the count stays 1."""
    cluster.fal.default_script = JobScript(queue_seconds=30.0, run_seconds=0.3)
    a = await cluster.runner("A", lease=0.6)  # a beat every 0.2 s
    b = await cluster.runner("B", lease=0.6)
    assert a.processes == 1  # not known before the first heartbeat
    await a.resume_all()
    await b.resume_all()
    expected = 2 if cluster.engine == "postgresql" else 1
    await until(lambda: _true(a.processes == expected and b.processes == expected), timeout=10)
    for _ in range(3):  # a's jobs in flight stretch its edits, by its share of the token's budget
        await a.accept(sora.text_to_video("a cat", duration=4), ORIGIN)
    for job in await a._store.leased_jobs("A"):
        a.start(job)
    assert a.progress_interval() == progress.edit_interval(0.0, 3, expected)
    assert a.progress_interval() == 3 * expected / progress.PROGRESS_EDITS_PER_SECOND
    await b.stop()  # b is no longer live: a's next beat counts one
    await until(lambda: _true(a.processes == 1), timeout=10)
    await a.stop()


async def test_a_stop_reports_only_the_jobs_this_process_held(cluster):
    """stop() returns the unfinished jobs of its own process (released now), not the other processes'
    ones: what App.close says will be taken over or resumed at the next start."""
    cluster.fal.default_script = JobScript(queue_seconds=30.0, run_seconds=0.3)
    a = await cluster.runner("A", lease=30.0)
    b = await cluster.runner("B", lease=30.0)
    await a.resume_all()
    if cluster.engine == "postgresql":
        await b.resume_all()
    mine = await queued_at_fal(cluster, a)
    theirs = await b.accept(sora.text_to_video("a dog", duration=4), ORIGIN)  # B's, never started here

    kept = await a.stop()

    assert [job.id for job in kept] == [mine] and kept[0].state == JobState.QUEUED
    assert (await cluster.job(mine))["lease_owner"] is None  # released
    assert (await cluster.job(theirs.id))["lease_owner"] == "B"


async def test_a_slot_freed_in_one_process_starts_the_job_waiting_in_another_at_once(cluster):
    """The waiting job is A's; B's job ends and B moves the line: A hears it (NOTIFY promoted:<id>) and
    submits at once, long before its own look (line_check) or heartbeat; submitted once, by A."""
    if cluster.engine == "sqlite":
        pytest.skip("one process per SQLite file: no other process to promote it")
    one_at_a_time = Limits(10_000_000, Period.MONTHLY, None, 1, 1000)
    cluster.fal.default_script = JobScript(queue_seconds=1.0, run_seconds=0.3)
    a = await cluster.runner("A", lease=60.0, limits=one_at_a_time, line_check=60.0)
    b = await cluster.runner("B", lease=60.0, limits=one_at_a_time, line_check=60.0)
    cluster.messengers["A"].posts.extend([(None, None)] * 100)  # A's message ids apart from B's: one Discord
    await a.resume_all()
    await b.resume_all()
    first = await b.accept(sora.text_to_video("first", duration=4), ORIGIN)
    b.start(first)
    second = await a.accept(sora.text_to_video("second", duration=4), ORIGIN)
    assert (first.state, second.state) == (JobState.PENDING, JobState.WAITING)
    a.start(second)
    await until(lambda: _state_is(cluster, first.id, "delivered"))
    freed = time.monotonic()
    await until(lambda: _state_is(cluster, second.id, "delivered"))
    assert time.monotonic() - freed < 15.0  # not the 60 s look, nor A's 20 s heartbeat
    assert (await cluster.job(second.id))["lease_owner"] == "A"
    assert [s.payload["prompt"] for s in cluster.fal.submissions] == ["first", "second"]
    assert await cluster.ledger(second.id) == [("reserve", PRICE), ("commit", PRICE)]
