"""/quota export's CSV and /quota report's figures, from the ledger on SQLite and on PostgreSQL (the
`store` fixture of tests/unit/domain/test_quota.py is both): exact sums, pages, an empty range, dates."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal

import pytest

from bot.domain import sora
from bot.domain.models import JobState, Refused
from bot.domain.quota import Period
from bot.domain.spend import export_range
from bot.ops.ledger_export import COLUMNS, export_ledger
from bot.ops.quota import QuotaService
from bot.storage import ledger as ledger_sql
from tests.unit.domain.test_quota import ALICE, limits, runner
from tests.unit.domain.test_quota import store as store  # noqa: F401 (the fixture)

UTC = dt.UTC
NOVEMBER = (dt.datetime(2026, 11, 1, tzinfo=UTC), dt.datetime(2026, 12, 1, tzinfo=UTC))


@pytest.fixture
def exports_dir(tmp_path):
    """Where the temporary CSV files go, to see that none is left behind."""
    folder = tmp_path / "exports"
    folder.mkdir()
    return folder


async def names(user_id: int) -> str:
    return f"name of {user_id}"


async def sql_sum(store, where: str = "1 = 1") -> int:
    async with store.db.reading() as session:
        return int(await session.fetch_value(f"SELECT COALESCE(SUM(amount_micros), 0) FROM ledger WHERE {where}"))


def read(path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


async def test_the_csv_lists_every_entry_with_its_job_and_sums_exactly(store, exports_dir):
    jobs = runner(store, limits(member_limit_micros=None))
    for duration in (4, 8, 12):
        await jobs.accept(sora.text_to_video("a", duration=duration), ALICE)
    first, second, third = await store.unfinished_jobs()
    async with store.db.transaction() as session:
        await ledger_sql.settle(session, first.id, "commit", store.clock())
        await ledger_sql.settle(session, second.id, "refund", store.clock())
        # Many more entries than a page, written by another member (no job: an admin's reset and adjustments).
        for i in range(1, 1201):
            kind, amount = ("reset", -i) if i % 2 else ("reserve", i * 3)
            await ledger_sql.add_entry(session, guild_id=1, user_id=9, job_id=None, kind=kind, amount_micros=amount,
                                       period_start=NOVEMBER[0], actor_id=7, now=store.clock() + i)  # fmt: skip
    await store.update_job(third.id, JobState.QUEUED)
    export = await export_ledger(store.db, 1, *NOVEMBER, names, page=500, directory=exports_dir)
    assert export is not None and export.path.parent == exports_dir
    rows = read(export.path)
    assert list(rows[0]) == list(COLUMNS) and len(rows) == export.rows == 3 + 2 + 1200
    assert [r["kind"] for r in rows[:5]] == ["reserve", "reserve", "reserve", "commit", "refund"]
    assert rows[0]["model"] == first.spec.model and rows[1]["duration_s"] == "8"
    assert rows[0]["amount_usd"] == "0.400000" and rows[0]["member_name"] == f"name of {ALICE.user_id}"
    assert rows[-1]["job_id"] == "" and rows[-1]["member_id"] == "9"
    assert rows[0]["time"] == "2026-11-25T12:00:00Z"
    amounts = [Decimal(r["amount_usd"]) for r in rows]
    assert sum(amounts) * 1_000_000 == await sql_sum(store)
    spend = await sql_sum(store, "kind IN ('reserve', 'refund', 'reset')")
    assert Decimal(rows[-1]["running_total_usd"]) * 1_000_000 == spend == export.spent_micros
    running = Decimal(0)
    for row in rows:  # each running total is the previous one plus the row's amount, but for a commit
        running += Decimal(row["amount_usd"]) if row["kind"] != "commit" else 0
        assert Decimal(row["running_total_usd"]) == running
    # The same sum as /quota report (the entries of this period were all written in it).
    service = QuotaService(store.db, store.videos, limits(period=Period.MONTHLY), clock=store.clock)
    report, figures = await service.spend_report(1)
    assert report.spent_micros == figures.spent_micros == spend
    # Still reserved: the 12 s job's, and member 9's (no job will ever settle them).
    jobless = await sql_sum(store, "kind = 'reserve' AND job_id IS NULL")
    assert figures.committed_micros == 400_000 and figures.reserved_micros == 1_200_000 + jobless
    assert figures.reset_micros == await sql_sum(store, "kind = 'reset'")
    # Spend is what was delivered and what is still reserved, less the resets.
    assert figures.committed_micros + figures.reserved_micros + figures.reset_micros == spend


async def test_an_empty_range_gives_no_file(store, exports_dir):
    jobs = runner(store, limits())
    await jobs.accept(sora.text_to_video("a", duration=4), ALICE)  # written on 25 November
    october = (dt.datetime(2026, 10, 1, tzinfo=UTC), dt.datetime(2026, 11, 1, tzinfo=UTC))
    assert await export_ledger(store.db, 1, *october, names, directory=exports_dir) is None
    assert await export_ledger(store.db, 2, *NOVEMBER, names, directory=exports_dir) is None  # another server's ledger
    assert list(exports_dir.iterdir()) == []


async def test_the_previous_period_is_the_last_full_one(store):
    service = QuotaService(store.db, store.videos, limits(period=Period.WEEKLY, member_limit_micros=None),
                           clock=store.clock)  # fmt: skip
    jobs = runner(store, limits(member_limit_micros=None))
    await jobs.accept(sora.text_to_video("last week", duration=8), ALICE)  # Wed 25 Nov: this week then
    store.clock.moment += dt.timedelta(days=7)  # Wed 2 Dec: the week of Mon 30 Nov
    await jobs.accept(sora.text_to_video("this week", duration=4), ALICE)
    current, now = await service.spend_report(1)
    previous, before = await service.spend_report(1, previous=True)
    assert (current.spent_micros, now.spent_micros) == (400_000, 400_000)
    assert (previous.spent_micros, before.spent_micros) == (800_000, 800_000)
    assert previous.period_start == dt.datetime(2026, 11, 23, tzinfo=UTC)
    assert previous.period_end == current.period_start == dt.datetime(2026, 11, 30, tzinfo=UTC)
    assert before.days[2] == dt.date(2026, 11, 25) and before.daily_totals[2] == 800_000


@pytest.mark.parametrize(
    ("first", "last", "refusal"),
    [
        ("2025-13-01", "2025-12-01", "Dates are written YYYY-MM-DD (UTC), e.g. 2025-11-01."),
        ("yesterday", "2025-12-01", "Dates are written YYYY-MM-DD (UTC), e.g. 2025-11-01."),
        ("2025-12-02", "2025-12-01", "The end date (2025-12-01) is before the start date (2025-12-02)."),
        ("2024-01-01", "2025-01-01", "That is 367 days; export at most 366 days at a time."),
    ],
)
def test_bad_dates_are_refused_with_a_reason(first, last, refusal):
    with pytest.raises(Refused) as refused:
        export_range(first, last)
    assert refused.value.user_message == refusal


def test_both_days_are_included():
    assert export_range("2025-11-01", "2025-11-01") == (
        dt.datetime(2025, 11, 1, tzinfo=UTC),
        dt.datetime(2025, 11, 2, tzinfo=UTC),
    )
    assert export_range("2024-01-01", "2024-12-31")[1] == dt.datetime(2025, 1, 1, tzinfo=UTC)  # 366 days
