"""The waiting line's SQL on both engines: jobs beyond the limits of videos in progress are accepted as
`waiting` (reserved), started by JobStore.promote fairly and exactly once (two processes promoting at once
on PostgreSQL), cancelled with a refund only while they wait."""

from __future__ import annotations

import asyncio

import pytest

from bot.domain.models import JobState
from bot.domain.quota import Limits, Period, QuotaRefused
from bot.storage.jobs import JobStore
from bot.storage.postgres import PostgresDatabase
from tests.unit.storage.support import Clock, reserve

ALICE, BOB = 10, 11
GUILD = 1


def rules(per_member: int = 2, per_guild: int = 10, waiting: int = 3) -> Limits:
    return Limits(None, Period.DAILY, None, per_member, per_guild, waiting)


async def accept(store: JobStore, user_id: int, limits: Limits):
    return await reserve(store, GUILD, user_id, limits, 400_000)


async def ledger(db, job_id: int) -> list[tuple[str, int]]:
    async with db.reading() as s:
        rows = await s.fetch_all("SELECT kind, amount_micros FROM ledger WHERE job_id = ? ORDER BY id", job_id)
    return [(r["kind"], r["amount_micros"]) for r in rows]


@pytest.fixture
def store(database):
    return JobStore(database, clock=Clock())


async def test_beyond_the_members_limit_jobs_wait_reserved_and_start_oldest_first(database, store):
    limits = rules(per_member=2)
    jobs = [await accept(store, ALICE, limits) for _ in range(4)]
    assert [j.state for j in jobs] == [JobState.PENDING, JobState.PENDING, JobState.WAITING, JobState.WAITING]
    assert jobs[0].started_at is not None and jobs[2].started_at is None
    for job in jobs:
        assert await ledger(database, job.id) == [("reserve", 400_000)]  # the waiting ones are guaranteed too
    assert await store.waiting_guilds() == [GUILD]
    assert await store.promote(GUILD, limits) == []  # no slot free: nothing moves
    place = await store.place_in_line(jobs[3], limits)
    assert (place.member_blocked, place.member_running, place.ahead) == (True, 2, 1)

    await store.update_job(jobs[0].id, JobState.FAILED, error="fal refused")
    promoted = await store.promote(GUILD, limits)
    assert [j.id for j in promoted] == [jobs[2].id]  # the oldest waiting one
    assert promoted[0].state == JobState.PENDING and promoted[0].started_at is not None
    assert (await store.place_in_line(jobs[3], limits)).ahead == 0
    assert await store.promote(GUILD, limits) == []


async def test_a_fifth_beyond_the_waiting_cap_is_refused_and_reserves_nothing(database, store):
    limits = rules(per_member=2, waiting=2)
    for _ in range(4):
        await accept(store, ALICE, limits)
    with pytest.raises(QuotaRefused, match=r"You already have 2 videos waiting \(the limit is 2\)"):
        await accept(store, ALICE, limits)
    async with database.reading() as s:
        assert await s.fetch_value("SELECT COUNT(*) FROM jobs") == 4
        assert await s.fetch_value("SELECT COUNT(*) FROM ledger") == 4
    assert (await accept(store, BOB, limits)).state == JobState.PENDING  # another member starts at once


async def test_members_waiting_on_the_servers_limit_take_the_freed_slots_in_turn(store):
    limits = rules(per_member=5, per_guild=1)
    first = await accept(store, ALICE, limits)
    assert first.state == JobState.PENDING
    alices = [await accept(store, ALICE, limits) for _ in range(2)]
    bobs = [await accept(store, BOB, limits) for _ in range(2)]
    assert {j.state for j in alices + bobs} == {JobState.WAITING}
    place = await store.place_in_line(bobs[0], limits)
    assert (place.member_blocked, place.guild_running, place.ahead) == (False, 1, 0)  # Bob never started: next
    started = []
    running = first
    for _ in range(4):
        await store.update_job(running.id, JobState.FAILED, error="done")
        (running,) = await store.promote(GUILD, limits)
        started.append(running.user_id)
    assert started == [BOB, ALICE, BOB, ALICE]


async def test_two_processes_promoting_at_once_start_each_waiting_job_exactly_once(database, store, request):
    limits = rules(per_member=1, per_guild=3)
    users = [100 + n for n in range(3)]
    running = [await accept(store, u, limits) for u in users]
    waiting = [await accept(store, u, limits) for u in users for _ in range(2)]
    assert {j.state for j in waiting} == {JobState.WAITING}
    other_db = None
    if database.engine == "postgresql":  # a second process: its own pool on the same database
        other_db = await PostgresDatabase.open(request.getfixturevalue("pg_url"), pool_size=4)
    other = JobStore(other_db or database, clock=Clock())
    try:
        for job in running:
            await store.update_job(job.id, JobState.FAILED, error="done")
        results = await asyncio.gather(*(s.promote(GUILD, limits) for s in [store, other] * 5))
        promoted = [j.id for batch in results for j in batch]
        assert len(promoted) == len(set(promoted)) == 3  # three slots, each job once
        assert {(await store.get_job(i)).user_id for i in promoted} == set(users)  # one per member's limit
    finally:
        if other_db is not None:
            await other_db.close()


async def test_a_waiting_job_is_cancelled_and_refunded_only_while_it_waits(database, store):
    limits = rules(per_member=1)
    running = await accept(store, ALICE, limits)
    first, second = await accept(store, ALICE, limits), await accept(store, ALICE, limits)
    cancelled = await store.update_job(first.id, JobState.CANCELLED, expect=JobState.WAITING, error="cancelled")
    assert cancelled.state == JobState.CANCELLED
    assert await ledger(database, first.id) == [("reserve", 400_000), ("refund", -400_000)]
    # The other one is started before its cancel lands: the cancel changes nothing, refunds nothing.
    await store.update_job(running.id, JobState.FAILED, error="done")
    assert [j.id for j in await store.promote(GUILD, limits)] == [second.id]
    late = await store.update_job(second.id, JobState.CANCELLED, expect=JobState.WAITING, error="cancelled")
    assert late.state == JobState.PENDING
    assert await ledger(database, second.id) == [("reserve", 400_000)]
