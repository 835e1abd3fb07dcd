"""Quota policy and ledger: pricing, periods, refusals with exact amounts, atomic reservations,
refunds, rollover (with an injected clock), and admin changes with their audit trail."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from bot.domain import quota_texts, sora
from bot.domain.models import JobState
from bot.domain.quota import (
    Limits,
    Period,
    QuotaRefused,
    Standing,
    Usage,
    decide,
    line_refusal,
    money,
    period_bounds,
    to_micros,
)
from bot.domain.sora import PriceTable
from bot.fal.simulated.queue import SimulatedFal
from bot.jobs.config import RunnerConfig
from bot.jobs.runner import JobRunner, Origin
from bot.ops.quota import QuotaService
from bot.storage.jobs import JobStore
from bot.storage.videos import VideoStore
from tests.pg import integrity_errors
from tests.unit.jobs.test_jobs import RecordingMessenger

UTC = dt.UTC


class Clock:
    def __init__(self, moment: dt.datetime) -> None:
        self.moment = moment

    def __call__(self) -> float:
        return self.moment.timestamp()


def limits(**overrides) -> Limits:
    values = dict(
        member_limit_micros=to_micros(0.80),
        period=Period.WEEKLY,
        budget_micros=None,
        max_jobs_per_member=100,
        max_jobs_per_guild=100,
    )
    values.update(overrides)
    return Limits(**values)


# -- pricing -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "resolution", "duration", "usd"),
    [("sora-2", "720p", 8, "$0.80"), ("sora-2-pro", "720p", 12, "$3.60"), ("sora-2-pro", "1080p", 20, "$10.00")],
)
def test_price_per_model_resolution_and_duration(model, resolution, duration, usd):
    request = sora.text_to_video("p", duration=duration, model=model, resolution=resolution)
    assert money(PriceTable().cost_micros(request)) == usd


def test_an_unknown_combination_uses_the_operator_price_never_zero():
    request = sora.VideoRequest(prompt="p", duration=4, model="sora-2-pro", resolution="720p").model_copy(
        update={"resolution": "true_1080p"}
    )
    assert PriceTable(unknown=0.70).cost_micros(request) == to_micros(2.80)
    assert PriceTable().cost_micros(request) > 0


def test_costs_are_exact_in_micros():
    request = sora.text_to_video("p", duration=8)
    assert PriceTable().cost_micros(request) == 800_000  # 0.1 * 8 in floats is 0.8000000000000002


# -- periods -------------------------------------------------------------------------------------------


def test_period_bounds():
    wednesday = dt.datetime(2026, 11, 25, 15, 30, tzinfo=UTC)
    assert period_bounds(Period.DAILY, wednesday) == (
        dt.datetime(2026, 11, 25, tzinfo=UTC),
        dt.datetime(2026, 11, 26, tzinfo=UTC),
    )
    assert period_bounds(Period.WEEKLY, wednesday) == (
        dt.datetime(2026, 11, 23, tzinfo=UTC),
        dt.datetime(2026, 11, 30, tzinfo=UTC),
    )
    assert period_bounds(Period.MONTHLY, dt.datetime(2026, 12, 31, 23, 59, tzinfo=UTC)) == (
        dt.datetime(2026, 12, 1, tzinfo=UTC),
        dt.datetime(2027, 1, 1, tzinfo=UTC),
    )


def test_refusals_say_the_cost_what_is_left_and_when_it_resets():
    end = dt.datetime(2026, 11, 30, tzinfo=UTC)
    standing = Standing(limits(), to_micros(0.80), to_micros(0.40), 0, 0, 0, end)
    assert decide(standing, to_micros(0.80), "8 s Sora 2 video") == (
        "This 8 s Sora 2 video costs $0.80; you have $0.40 left until Mon 30 Nov 00:00 UTC."
    )
    assert decide(standing, to_micros(0.40), "4 s Sora 2 video") is None
    budget = Standing(limits(budget_micros=to_micros(5)), None, 0, to_micros(4.5), 0, 0, end)
    assert "this server's budget has $0.50 left" in decide(budget, to_micros(0.8), "x")
    # At the limits of videos in progress a job waits its turn: no refusal, until too many wait.
    busy = Standing(limits(max_jobs_per_member=2), None, 0, 0, 2, 2, end, member_waiting=2)
    assert decide(busy, 1, "x") is None and line_refusal(busy) is None
    full = Standing(limits(max_jobs_per_guild=10), None, 0, 0, 0, 10, end)
    assert decide(full, 1, "x") is None
    line_full = Standing(limits(max_jobs_per_member=2), None, 0, 0, 2, 2, end, member_waiting=3)
    assert decide(line_full, 1, "x") is None
    assert line_refusal(line_full) == "You already have 3 videos waiting (the limit is 3); wait for one to start."
    one = Standing(limits(max_waiting_per_member=1), None, 0, 0, 2, 2, end, member_waiting=1)
    assert line_refusal(one) == "You already have 1 video waiting (the limit is 1); wait for one to start."
    # The money refusals still come first, at once.
    assert "you have $0.40 left" in decide(
        Standing(limits(), to_micros(0.80), to_micros(0.40), 0, 2, 2, end, member_waiting=3), to_micros(0.80), "x"
    )


def test_help_says_what_is_left_or_that_there_is_no_limit_then_the_rules():
    end = dt.datetime(2026, 11, 30, tzinfo=UTC)
    over = Usage(Standing(limits(), to_micros(0.80), to_micros(1.20), 0, 0, 0, end), True, [])
    lines = quota_texts.help_lines(over)
    assert lines[0] == "You have **$0.00** left of $0.80 this week (resets Mon 30 Nov 00:00 UTC)."
    assert lines[1:] == quota_texts.rules(limits())
    free = Usage(Standing(limits(member_limit_micros=None), None, to_micros(3), 0, 0, 0, end), False, [])
    assert quota_texts.help_lines(free)[0] == (
        "You have no limit; spent $3.00 this week (resets Mon 30 Nov 00:00 UTC)."
    )


# -- the ledger through the real store and runner --------------------------------------------------------


@pytest.fixture
async def store(database):  # the ledger on SQLite and on PostgreSQL: `database` (tests/pg.py) is both
    clock = Clock(dt.datetime(2026, 11, 25, 12, 0, tzinfo=UTC))  # a Wednesday
    store = JobStore(database, clock=clock)
    store.clock = clock  # the test moves time through it
    store.db = database
    store.videos = VideoStore(database)
    return store


def runner(store: JobStore, quota: Limits) -> JobRunner:
    # Accepting jobs needs neither fal nor Discord: they are only used once a job is started.
    config = RunnerConfig(quota_defaults=quota)
    return JobRunner(store, store.videos, None, None, None, PriceTable(), config, clock=store.clock)  # type: ignore[arg-type]


ALICE = Origin(guild_id=1, channel_id=2, user_id=3)


async def ledger(store: JobStore) -> list[tuple[str, int]]:
    async with store.db.reading() as session:
        rows = await session.fetch_all("SELECT kind, amount_micros FROM ledger ORDER BY id")
    return [(r["kind"], r["amount_micros"]) for r in rows]


async def test_a_limit_of_080_accepts_one_8_s_job_and_refuses_the_next_with_exact_amounts(store):
    jobs = runner(store, limits())
    eight = sora.text_to_video("a", duration=8)
    await jobs.accept(eight, ALICE)
    with pytest.raises(QuotaRefused) as refused:
        await jobs.accept(eight, ALICE)
    assert refused.value.user_message == (
        "This 8 s Sora 2 video costs $0.80; you have $0.00 left until Mon 30 Nov 00:00 UTC."
    )
    assert await ledger(store) == [("reserve", 800_000)]  # the refused request cost nothing


async def test_fifty_simultaneous_requests_never_overspend(store):
    jobs = runner(store, limits(member_limit_micros=to_micros(1.00)))
    four = sora.text_to_video("a", duration=4)  # $0.40 each: two fit in $1.00

    async def attempt() -> bool:
        try:
            await jobs.accept(four, ALICE)
        except QuotaRefused:
            return False
        return True

    results = await asyncio.gather(*(attempt() for _ in range(50)))
    assert results.count(True) == 2 and results.count(False) == 48
    assert sum(amount for _, amount in await ledger(store)) == 800_000


async def test_concurrency_cap_per_member_makes_jobs_wait_then_refuses(store):
    jobs = runner(store, limits(member_limit_micros=None, max_jobs_per_member=2, max_waiting_per_member=1))
    started = [await jobs.accept(sora.text_to_video("a"), ALICE) for _ in range(2)]
    assert [j.state for j in started] == [JobState.PENDING, JobState.PENDING]
    waiting = await jobs.accept(sora.text_to_video("a"), ALICE)
    assert waiting.state == JobState.WAITING and waiting.started_at is None
    with pytest.raises(QuotaRefused, match="already have 1 video waiting"):
        await jobs.accept(sora.text_to_video("a"), ALICE)
    other = await jobs.accept(sora.text_to_video("a"), Origin(guild_id=1, channel_id=2, user_id=99))
    assert other.state == JobState.PENDING  # others start at once
    # The three accepted are reserved, the refused one not.
    assert await ledger(store) == [("reserve", 400_000)] * 4


async def test_failed_cancelled_and_delivered_jobs_settle_once(store):
    jobs = runner(store, limits(member_limit_micros=to_micros(10)))
    failed = await jobs.accept(sora.text_to_video("a"), ALICE)
    cancelled = await jobs.accept(sora.text_to_video("b"), ALICE)
    await store.update_job(failed.id, JobState.FAILED, error="fal refused")
    await store.update_job(failed.id, JobState.FAILED, error="again")  # idempotent
    await store.update_job(cancelled.id, JobState.CANCELLED)
    entries = await ledger(store)
    assert entries == [("reserve", 400_000), ("reserve", 400_000), ("refund", -400_000), ("refund", -400_000)]
    usage = await QuotaService(store.db, store.videos, limits(), clock=store.clock).usage(1, 3)
    assert usage.standing.member_spent_micros == 0


async def test_an_interrupted_job_that_fal_never_received_is_refunded_at_restart(store, tmp_path):
    jobs = runner(store, limits())
    job = await jobs.accept(sora.text_to_video("a", duration=8), ALICE)
    await store.update_job(job.id, JobState.SUBMITTING)  # the process died here, before fal had it
    store.clock.moment += dt.timedelta(seconds=60)  # and its lease on the job ran out (30 s)
    # After the restart the job is looked for in the backend's request list (empty) until the job's
    # own timeout (0 here), then failed and refunded.
    config = RunnerConfig(quota_defaults=limits(), job_timeout=0)
    fal = SimulatedFal(tmp_path / "sim", None)
    restarted = JobRunner(store, store.videos, fal, RecordingMessenger(), None, PriceTable(), config, clock=store.clock)  # type: ignore[arg-type]
    await restarted.resume_all()
    await restarted.wait_idle()
    assert (await store.get_job(job.id)).state == JobState.FAILED
    assert await ledger(store) == [("reserve", 800_000), ("refund", -800_000)]


async def test_usage_rolls_over_at_the_period_boundary(store):
    daily = limits(period=Period.DAILY)
    jobs = runner(store, daily)
    store.clock.moment = dt.datetime(2026, 11, 25, 23, 59, tzinfo=UTC)
    await jobs.accept(sora.text_to_video("a", duration=8), ALICE)
    with pytest.raises(QuotaRefused, match="until Thu 26 Nov 00:00 UTC"):
        await jobs.accept(sora.text_to_video("a", duration=4), ALICE)
    store.clock.moment = dt.datetime(2026, 11, 26, 0, 1, tzinfo=UTC)
    await store.update_job(1, JobState.DELIVERED)  # finished, so the concurrency cap is not in the way
    await jobs.accept(sora.text_to_video("a", duration=8), ALICE)
    usage = await QuotaService(store.db, store.videos, daily, clock=store.clock).usage(1, 3)
    assert usage.standing.member_spent_micros == 800_000


async def test_a_refund_after_midnight_counts_in_the_reservation_period(store):
    daily = limits(period=Period.DAILY, member_limit_micros=to_micros(10))
    jobs = runner(store, daily)
    store.clock.moment = dt.datetime(2026, 11, 25, 23, 59, tzinfo=UTC)
    job = await jobs.accept(sora.text_to_video("a", duration=8), ALICE)
    store.clock.moment = dt.datetime(2026, 11, 26, 0, 5, tzinfo=UTC)
    await store.update_job(job.id, JobState.FAILED, error="x")
    service = QuotaService(store.db, store.videos, daily, clock=store.clock)
    assert (await service.usage(1, 3)).standing.member_spent_micros == 0  # today's usage untouched
    store.clock.moment = dt.datetime(2026, 11, 25, 23, 59, 30, tzinfo=UTC)
    assert (await service.usage(1, 3)).standing.member_spent_micros == 0  # yesterday's netted


async def test_admin_changes_apply_and_are_audited(store):
    service = QuotaService(store.db, store.videos, limits(), clock=store.clock)
    jobs = runner(store, limits())
    await service.set_member_limit(1, actor_id=7, user_id=3, usd=None)
    for _ in range(3):  # unlimited: more than $0.80
        await jobs.accept(sora.text_to_video("a", duration=8), ALICE)
        await store.update_job((await store.unfinished_jobs())[0].id, JobState.DELIVERED)
    assert await service.reset_member(1, actor_id=7, user_id=3) == 2_400_000
    assert (await service.usage(1, 3)).standing.member_spent_micros == 0
    await service.set_budget(1, actor_id=7, usd=1.0)
    rules = await service.set_default(1, actor_id=7, usd=0.5, period=Period.MONTHLY)
    assert rules.member_limit_micros == 500_000 and rules.budget_micros == 1_000_000
    assert rules.period == Period.MONTHLY
    report = await service.report(1)
    assert report.spent_micros == 0 and report.limits == rules
    async with store.db.reading() as session:
        rows = await session.fetch_all("SELECT actor_id, action FROM quota_audit ORDER BY id")
    audit = [(r["actor_id"], r["action"]) for r in rows]
    assert audit == [(7, "member_limit"), (7, "reset"), (7, "budget"), (7, "default")]
    assert [kind for kind, _ in await ledger(store)].count("reset") == 1
    with pytest.raises(ValueError):
        await service.set_member_limit(1, 7, 3, -1.0)


async def test_a_commit_and_a_refund_never_both_happen(store):
    jobs = runner(store, limits())
    job = await jobs.accept(sora.text_to_video("a"), ALICE)
    async with store.db.transaction() as session:
        from bot.storage import ledger as ledger_sql

        await ledger_sql.settle(session, job.id, "commit", 1.0)
        await ledger_sql.settle(session, job.id, "refund", 2.0)
        await ledger_sql.settle(session, job.id, "commit", 3.0)
    assert [k for k, _ in await ledger(store)] == ["reserve", "commit"]
    with pytest.raises(integrity_errors()):
        async with store.db.transaction() as session:
            await session.execute(
                "INSERT INTO ledger (guild_id, user_id, job_id, kind, amount_micros, period_start, created_at) "
                "VALUES (1, 3, ?, 'commit', 1, 0, 0)",
                job.id,
            )


def test_usage_shows_the_videos_in_progress_and_those_waiting():
    end = dt.datetime(2026, 11, 30, tzinfo=UTC)
    standing = Standing(limits(max_jobs_per_member=2), None, 0, 0, 2, 2, end, member_waiting=1)
    text = "\n".join(quota_texts.usage(Usage(standing, False, [])))
    assert "Videos in progress: 2 of 2; waiting for a slot: 1 of 3." in text


def test_the_rules_say_how_many_may_wait_beyond_the_limits():
    text = "\n".join(quota_texts.rules(limits(max_jobs_per_member=2, max_jobs_per_guild=10, max_waiting_per_member=3)))
    assert "**2** per member, **10** in the server; beyond, up to **3** per member wait their turn" in text
