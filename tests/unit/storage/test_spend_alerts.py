"""The spend alerts' outbox on both engines: a reservation writes its crossing in its own transaction (and
a rolled-back one writes nothing), once per server, period and threshold; a budget refusal writes the 100 %
row, a member's own limit nothing; alerts off writes nothing; two processes claiming at once never take the
same row, and a claim that ran out (its process died mid-post) is taken again."""

from __future__ import annotations

import asyncio

import pytest

from bot.domain.quota import Limits, Period, QuotaRefused
from bot.storage.jobs import JobStore
from bot.storage.postgres import PostgresDatabase
from bot.storage.settings import SettingsStore
from bot.storage.spend_alerts import SpendAlertStore
from tests.unit.storage.support import Clock, reserve

GUILD, CHANNEL, ADMIN = 1, 77, 9
ALICE, BOB = 10, 11
DOLLAR = 1_000_000


def budget(usd: int = 5, member_usd: int | None = None, per_member: int = 10, waiting: int = 3) -> Limits:
    member = None if member_usd is None else member_usd * DOLLAR
    return Limits(member, Period.MONTHLY, usd * DOLLAR, per_member, 20, waiting)


class Kicks:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def kicks():
    return Kicks()


@pytest.fixture
def store(database, clock, kicks):
    return JobStore(database, clock=clock, on_spend_alert=kicks)


@pytest.fixture
async def alerts_on(database, clock):
    await SettingsStore(database, clock).change(GUILD, ADMIN, "alerts", alerts_channel_id=CHANNEL)


async def spend(store: JobStore, limits: Limits, usd: float, user_id: int = ALICE):
    return await reserve(store, GUILD, user_id, limits, round(usd * DOLLAR))


async def outbox(database) -> list[tuple[int, str, int, int, int]]:
    async with database.reading() as s:
        rows = await s.fetch_all(
            "SELECT threshold, state, spent_micros, budget_micros, refused FROM spend_alerts ORDER BY threshold"
        )
    return [(r["threshold"], r["state"], r["spent_micros"], r["budget_micros"], r["refused"]) for r in rows]


async def test_each_threshold_is_written_once_by_the_reservation_that_crosses_it(database, store, kicks, alerts_on):
    limits = budget(5)
    for _ in range(2):
        await spend(store, limits, 1.0)  # $2: 40 %
    assert await outbox(database) == [] and kicks.count == 0
    await spend(store, limits, 1.0)  # $3: 60 %
    assert await outbox(database) == [(50, "pending", 3 * DOLLAR, 5 * DOLLAR, 0)]
    assert kicks.count == 1  # told once committed
    await spend(store, limits, 0.5)  # $3.50: 70 %, nothing crossed
    await spend(store, limits, 0.5)  # $4: 80 % exactly
    await spend(store, limits, 1.0)  # $5: 100 % exactly
    assert [(t, s) for t, s, *_ in await outbox(database)] == [(50, "pending"), (80, "pending"), (100, "pending")]
    assert kicks.count == 3


async def test_a_big_job_crossing_two_thresholds_posts_the_higher_and_covers_the_lower(database, store, alerts_on):
    await spend(store, budget(5), 4.5)  # 0 -> 90 %
    assert [(t, s) for t, s, *_ in await outbox(database)] == [(50, "covered"), (80, "pending")]


async def test_with_alerts_off_nothing_is_written(database, store, kicks):
    await spend(store, budget(5), 3.0)
    with pytest.raises(QuotaRefused):
        await spend(store, budget(5), 3.0)  # refused by the budget
    assert await outbox(database) == [] and kicks.count == 0


async def test_a_reservation_rolled_back_writes_no_alert(database, store, alerts_on):
    limits = budget(5, per_member=1, waiting=0)  # a second job would have to wait, and may not
    await spend(store, limits, 1.0)
    with pytest.raises(QuotaRefused):
        await spend(store, limits, 2.0)  # would cross 50 %, but the whole transaction rolls back
    assert await outbox(database) == []


async def test_the_budget_refusing_a_job_writes_the_100_percent_alert_once(database, store, kicks, alerts_on):
    limits = budget(5)
    await spend(store, limits, 2.0)  # 40 %
    with pytest.raises(QuotaRefused, match="this server's budget"):
        await spend(store, limits, 4.0)
    # Used up: 100 % posted (the spend stays at $2), the thresholds passed on the way covered.
    assert await outbox(database) == [
        (50, "covered", 2 * DOLLAR, 5 * DOLLAR, 1),
        (80, "covered", 2 * DOLLAR, 5 * DOLLAR, 1),
        (100, "pending", 2 * DOLLAR, 5 * DOLLAR, 1),
    ]
    assert kicks.count == 1
    with pytest.raises(QuotaRefused):
        await spend(store, limits, 4.0, user_id=BOB)
    assert len(await outbox(database)) == 3 and kicks.count == 1  # once per period


async def test_a_members_own_limit_refusing_a_job_is_no_alert(database, store, kicks, alerts_on):
    limits = budget(5, member_usd=1)
    with pytest.raises(QuotaRefused, match="you have"):
        await spend(store, limits, 2.0)
    assert await outbox(database) == [] and kicks.count == 0


async def test_two_processes_claiming_at_once_take_each_alert_once(database, store, clock, alerts_on, request):
    limits = budget(5)
    await spend(store, limits, 3.0)
    await spend(store, limits, 1.0)
    await spend(store, limits, 1.0)
    other_db = None
    if database.engine == "postgresql":  # a second process: its own pool on the same database
        other_db = await PostgresDatabase.open(request.getfixturevalue("pg_url"), pool_size=4)
    mine, theirs = SpendAlertStore(database, clock), SpendAlertStore(other_db or database, clock)
    try:
        batches = await asyncio.gather(
            *(s.claim(owner, 60.0, limit=1) for s, owner in [(mine, "A"), (theirs, "B")] * 4)
        )
        claimed = [a.threshold for batch in batches for a in batch]
        assert sorted(claimed) == [50, 80, 100]  # each once, whoever took it
        assert await mine.claim("A", 60.0) == [] and await theirs.claim("B", 60.0) == []  # all held
        clock.now += 61  # every claim ran out: their processes died mid-post
        again = await theirs.claim("B", 60.0)
        assert [a.threshold for a in again] == [50, 80, 100]
        assert again[0].nonce == f"sora-alert-{again[0].id}"
        assert not await mine.sent(again[0].id, "A", 1234)  # A lost its claim: its record is refused
        assert await theirs.sent(again[0].id, "B", 1234)
        assert await theirs.given_up(again[1].id, "B")
        await theirs.release(again[2].id, "B")  # Discord was down: the next sweep takes it
        assert [a.threshold for a in await mine.claim("A", 60.0)] == [100]
        clock.now += 61
        assert [a.threshold for a in await mine.claim("A", 60.0)] == [100]  # sent and given up: never again
    finally:
        if other_db is not None:
            await other_db.close()
    async with database.reading() as s:
        row = await s.fetch_one("SELECT state, message_id FROM spend_alerts WHERE threshold = 50")
    assert (row["state"], row["message_id"]) == ("sent", 1234)


async def test_top_spenders_come_from_the_ledger_of_the_alerts_period(database, store, clock, alerts_on):
    limits = budget(5)
    await spend(store, limits, 1.0, user_id=BOB)
    await spend(store, limits, 2.0, user_id=ALICE)
    alerts = SpendAlertStore(database, clock)
    (alert,) = await alerts.claim("A", 60.0)
    assert await alerts.top_spenders(alert) == [(ALICE, 2 * DOLLAR), (BOB, DOLLAR)]
