"""Job leases on both engines (a real SQLite file, a real PostgreSQL server): claim, renew, release, and
the fence on every write (a process that lost a job writes nothing, its ledger entries included)."""

from __future__ import annotations

import asyncio

import pytest

from bot.domain.models import JobState, Video, VideoSpec
from bot.domain.quota import Limits, Period
from bot.storage.jobs import JobAlreadyFinished, JobStore, LeaseLost, Reservation
from bot.storage.postgres import PostgresDatabase
from bot.storage.sqlite import SqliteDatabase

SPEC = VideoSpec(kind="text_to_video", prompt="p", model="sora-2", duration=4, aspect_ratio="16:9", resolution="720p")
LIMITS = Limits(10_000_000, Period.MONTHLY, None, 100, 1000)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", "postgresql"])
async def db(request, tmp_path):
    if request.param == "sqlite":
        database = await SqliteDatabase.open(tmp_path / "leases.sqlite3")
    else:
        database = await PostgresDatabase.open(request.getfixturevalue("pg_url"), pool_size=4)
    yield database
    await database.close()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(db, clock):
    return JobStore(db, clock=clock)


async def new_job(store: JobStore, owner: str | None = "A", lease: float = 30.0, reserve: bool = False):
    return await store.create_job(
        SPEC,
        guild_id=1,
        channel_id=2,
        user_id=3,
        endpoint="fal-ai/sora-2/text-to-video",
        arguments={"prompt": "p"},
        cost_usd=0.4,
        owner=owner,
        lease_seconds=lease,
        reservation=Reservation(400_000, LIMITS, "4 s video") if reserve else None,
    )


async def lease_of(db, job_id: int) -> tuple[str | None, float | None]:
    async with db.reading() as s:
        row = await s.fetch_one("SELECT lease_owner, lease_expires_at FROM jobs WHERE id = ?", job_id)
    return row["lease_owner"], row["lease_expires_at"]


async def ledger_of(db, job_id: int) -> list[tuple[str, int]]:
    async with db.reading() as s:
        rows = await s.fetch_all("SELECT kind, amount_micros FROM ledger WHERE job_id = ? ORDER BY id", job_id)
    return [(r["kind"], r["amount_micros"]) for r in rows]


async def test_the_creator_owns_its_new_job_until_now_plus_the_lease(store, db, clock):
    job = await new_job(store, lease=30.0)
    assert await lease_of(db, job.id) == ("A", clock.now + 30.0)
    assert await store.claim("B", 30.0) == []  # held: nobody else takes it
    unowned = await new_job(store, owner=None)
    assert await lease_of(db, unowned.id) == (None, None)
    assert [j.id for j in await store.claim("B", 30.0)] == [unowned.id]  # nobody's: claimable at once


async def test_an_expired_lease_is_claimed_once_and_finished_jobs_never(store, db, clock):
    first = await new_job(store, lease=10.0)
    second = await new_job(store, lease=10.0)
    done = await new_job(store, lease=10.0)
    await store.update_job(done.id, JobState.FAILED, owner="A", error="x")
    clock.now += 10.5
    claimed = await store.claim("B", 20.0)
    assert [j.id for j in claimed] == [first.id, second.id]
    assert all(j.state == JobState.PENDING for j in claimed)  # as persisted: resumed, not restarted
    assert await lease_of(db, first.id) == ("B", clock.now + 20.0)
    assert await store.claim("C", 20.0) == []  # B holds them now
    assert await lease_of(db, done.id) == ("A", clock.now - 0.5)  # a finished job is nobody's concern


async def test_claim_takes_at_most_its_limit_in_id_order(store, clock):
    jobs = [await new_job(store, owner=None) for _ in range(5)]
    assert [j.id for j in await store.claim("B", 30.0, limit=2)] == [j.id for j in jobs[:2]]
    assert [j.id for j in await store.claim("C", 30.0, limit=10)] == [j.id for j in jobs[2:]]


async def test_renew_extends_every_unfinished_job_of_the_owner_and_its_heartbeat(store, db, clock):
    mine = [await new_job(store, lease=10.0) for _ in range(2)]
    theirs = await new_job(store, owner="B", lease=10.0)
    ended = await new_job(store, lease=10.0)
    await store.update_job(ended.id, JobState.FAILED, owner="A", error="x")
    clock.now += 5
    assert await store.renew("A", 10.0, shards="0-1") == {j.id for j in mine}
    for job in mine:
        assert await lease_of(db, job.id) == ("A", clock.now + 10.0)
    assert await lease_of(db, theirs.id) == ("B", clock.now + 5.0)
    clock.now += 9  # A renewed, B did not: B's job alone is claimable
    assert [j.id for j in await store.claim("C", 10.0)] == [theirs.id]
    assert await store.renew("B", 10.0) == set()  # B learns it lost the job
    processes = {p["id"]: p for p in await store.live_processes(within=30.0)}
    assert processes["A"]["shards"] == "0-1" and processes["A"]["jobs"] == 2
    assert processes["A"]["heartbeat_at"] == clock.now - 9


async def test_release_frees_the_owners_jobs_at_once_and_marks_it_stopped(store, db, clock):
    held = [await new_job(store) for _ in range(3)]
    await store.renew("A", 30.0)
    other = await new_job(store, owner="B")
    assert await store.release("A") == 3
    assert await lease_of(db, held[0].id) == (None, None)
    assert [j.id for j in await store.claim("C", 30.0)] == [j.id for j in held]  # no lease wait
    assert await lease_of(db, other.id) == ("B", clock.now + 30.0)
    assert "A" not in {p["id"] for p in await store.live_processes(within=30.0)}


async def test_a_write_by_a_process_that_lost_the_job_raises_and_changes_nothing(store, db, clock):
    job = await new_job(store, lease=5.0, reserve=True)
    await store.update_job(job.id, JobState.SUBMITTING, owner="A", submitted_at=1.0)
    clock.now += 6
    [taken] = await store.claim("B", 30.0)
    before = await store.get_job(job.id)

    with pytest.raises(LeaseLost) as lost:
        await store.update_job(job.id, JobState.QUEUED, owner="A", request_id="req-late")
    assert lost.value.holder == "B" and lost.value.job_id == job.id
    with pytest.raises(LeaseLost):
        await store.update_job(job.id, JobState.FAILED, owner="A", error="late")  # no refund either
    with pytest.raises(LeaseLost):
        await store.update_job(job.id, progress_message_id=5, owner="A")
    with pytest.raises(LeaseLost):
        await store.mark_delivered(job, Video.of(job, "v1", 77, 1.0), final_text="done", owner="A")

    assert await store.get_job(job.id) == before == taken
    assert await ledger_of(db, job.id) == [("reserve", 400_000)]
    async with db.reading() as s:
        assert await s.fetch_value("SELECT COUNT(*) FROM videos") == 0
    # The holder writes as before; the ledger settles once.
    queued = await store.update_job(job.id, JobState.QUEUED, owner="B", request_id="req-1")
    assert queued.state == JobState.QUEUED and queued.request_id == "req-1"
    delivered = await store.mark_delivered(queued, Video.of(queued, "v1", 77, 1.0), final_text="done", owner="B")
    assert delivered.state == JobState.DELIVERED
    assert await ledger_of(db, job.id) == [("reserve", 400_000), ("commit", 400_000)]


async def test_a_finished_jobs_state_stays_final_and_its_other_facts_are_anyones(store, db, clock):
    job = await new_job(store, reserve=True)
    await store.update_job(job.id, JobState.QUEUED, owner="A", request_id="r")
    delivered = await store.mark_delivered(job, Video.of(job, "v1", 77, 1.0), final_text="done", owner="A")
    clock.now += 60
    late = await store.update_job(job.id, JobState.FAILED, owner="B", error="late")  # refused by state
    assert late.state == JobState.DELIVERED and late.error is None
    with pytest.raises(JobAlreadyFinished):
        await store.mark_delivered(job, Video.of(job, "v2", 78, 1.0), owner="B")
    shown = await store.update_job(job.id, owner="B", final_shown_at=5.0)  # the last text, shown by B
    assert shown.final_shown_at == 5.0 and shown.state == delivered.state
    assert await ledger_of(db, job.id) == [("reserve", 400_000), ("commit", 400_000)]


async def test_cancel_is_allowed_by_state_from_any_process_and_fences_out_the_owner(store, db, clock):
    """Cross-process Cancel: a write with no owner, allowed while the job is unfinished; the state is then
    final, so the owner's next write changes nothing (and refunds nothing twice)."""
    job = await new_job(store, reserve=True)
    await store.update_job(job.id, JobState.QUEUED, owner="A", request_id="r")
    cancelled = await store.update_job(job.id, JobState.CANCELLED, error="cancelled by <@9>")  # process C
    assert cancelled.state == JobState.CANCELLED
    late = await store.update_job(job.id, JobState.RUNNING, owner="A")
    assert late.state == JobState.CANCELLED
    with pytest.raises(JobAlreadyFinished):
        await store.mark_delivered(job, Video.of(job, "v1", 77, 1.0), owner="A")
    assert await ledger_of(db, job.id) == [("reserve", 400_000), ("refund", -400_000)]


async def test_a_cancel_elsewhere_notifies_the_owner(db, store):
    if db.engine != "postgresql":
        assert await store.listen(lambda payload: None) is False  # one process per SQLite file
        return
    heard: list[str] = []
    assert await store.listen(heard.append)
    job = await new_job(store)
    await store.update_job(job.id, JobState.QUEUED, owner="A", request_id="r")
    await store.update_job(job.id, JobState.CANCELLED)
    await store.release("A")  # nothing held any more: no notice
    other = await new_job(store)
    await store.release("A")
    for _ in range(100):
        if len(heard) >= 2:
            break
        await asyncio.sleep(0.05)
    assert heard == [f"cancelled:{job.id}", "released"] and other.id


async def test_two_claimers_racing_on_postgresql_never_take_the_same_job(pg_url):
    """Two pools (two processes), each claiming in small batches as fast as it can: every job is taken by
    exactly one of them."""
    first = await PostgresDatabase.open(pg_url, pool_size=4)
    second = await PostgresDatabase.open(pg_url, pool_size=4)
    try:
        maker = JobStore(first)
        ids = [(await new_job(maker, owner=None)).id for _ in range(200)]
        stores = [JobStore(first), JobStore(second)]

        async def claimer(store: JobStore, owner: str) -> list[int]:
            taken: list[int] = []
            while True:
                batch = await store.claim(owner, 60.0, limit=3)
                if not batch:
                    return taken
                taken += [j.id for j in batch]

        results = await asyncio.gather(
            *(claimer(stores[i % 2], f"P{i}") for i in range(4))  # two claimers per pool
        )
        every = [job_id for taken in results for job_id in taken]
        assert sorted(every) == ids  # all taken, none twice
        assert all(results), "each claimer took some"
        async with first.reading() as s:
            owners = await s.fetch_all("SELECT id, lease_owner FROM jobs ORDER BY id")
        by_owner = {job_id: f"P{i}" for i, taken in enumerate(results) for job_id in taken}
        assert {r["id"]: r["lease_owner"] for r in owners} == by_owner
    finally:
        await first.close()
        await second.close()


async def test_a_start_on_an_exclusive_database_takes_every_orphan_at_once(store, db, clock):
    """SQLite has one process per file: at a start, the jobs of the process before are orphans, even
    though their leases have not run out (it was killed a moment ago)."""
    held = [await new_job(store, owner="dead") for _ in range(3)]
    assert store.exclusive == (db.engine == "sqlite")
    assert await store.claim("new", 30.0) == []
    first = await store.claim("new", 30.0, limit=2, orphans=True)
    rest = await store.claim("new", 30.0, limit=2, orphans=True)
    assert [j.id for j in first + rest] == [j.id for j in held]
    assert await store.claim("new", 30.0, limit=2, orphans=True) == []  # its own are not taken again
