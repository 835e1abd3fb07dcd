"""A period's spend as the /quota report chart draws it, pure: the ledger's spend entries (reserve,
refund, reset: what the limits count) summed per UTC day and per member, the top members apart and the
rest as "others". The figures sum to exactly what /quota report says was spent."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from bot.domain.models import Refused
from bot.domain.text import Text

TOP_MEMBERS = 5
MAX_EXPORT_DAYS = 366


@dataclass(frozen=True)
class SpendEntry:
    """One ledger entry that counts as spend in the period (its period_start is in it)."""

    user_id: int
    at: dt.datetime  # when it was written (UTC)
    amount_micros: int  # reserve +, refund -, reset -


@dataclass(frozen=True)
class Series:
    """One stack of the bars: a member's spend per day (a refund or reset can make a day negative)."""

    user_id: int | None  # None = the other members together
    per_day: tuple[int, ...]

    @property
    def total(self) -> int:
        return sum(self.per_day)


@dataclass(frozen=True)
class SpendFigures:
    """What the chart is drawn from (and what a test compares with the ledger)."""

    period_start: dt.datetime
    period_end: dt.datetime
    days: tuple[dt.date, ...]
    series: tuple[Series, ...]  # the top members by spend, then "others" when there are any
    budget_micros: int | None
    committed_micros: int  # delivered: reserves with a commit
    reserved_micros: int  # reserves with neither a commit nor a refund yet
    reset_micros: int  # admins' resets (negative)
    through: dt.date | None = None  # the period's last day so far (the current period): the rest is to come

    @property
    def spent_micros(self) -> int:
        return sum(s.total for s in self.series)

    @property
    def daily_totals(self) -> tuple[int, ...]:
        return tuple(sum(s.per_day[i] for s in self.series) for i in range(len(self.days)))

    @property
    def cumulative(self) -> tuple[int, ...]:
        running, out = 0, []
        for value in self.daily_totals:
            running += value
            out.append(running)
        return tuple(out)


def period_days(start: dt.datetime, end: dt.datetime) -> tuple[dt.date, ...]:
    first, last = start.astimezone(dt.UTC).date(), (end.astimezone(dt.UTC) - dt.timedelta(microseconds=1)).date()
    return tuple(first + dt.timedelta(days=i) for i in range((last - first).days + 1))


def spend_figures(
    entries: Iterable[SpendEntry],
    start: dt.datetime,
    end: dt.datetime,
    *,
    budget_micros: int | None,
    committed_micros: int,
    reserved_micros: int,
    reset_micros: int,
    top: int = TOP_MEMBERS,
    through: dt.date | None = None,
) -> SpendFigures:
    days = period_days(start, end)
    index = {day: i for i, day in enumerate(days)}
    per_member: dict[int, list[int]] = {}
    for entry in entries:
        # An entry counts in its period even when written after it (a late refund): its day is clamped.
        day = min(max(entry.at.astimezone(dt.UTC).date(), days[0]), days[-1])
        per_member.setdefault(entry.user_id, [0] * len(days))[index[day]] += entry.amount_micros
    ranked = sorted(per_member.items(), key=lambda item: (-sum(item[1]), item[0]))
    leaders = [(user_id, values) for user_id, values in ranked if sum(values) > 0][:top]
    chosen = {user_id for user_id, _ in leaders}
    series = [Series(user_id, tuple(values)) for user_id, values in leaders]
    rest = [values for user_id, values in ranked if user_id not in chosen]
    others = tuple(sum(column) for column in zip(*rest, strict=True)) if rest else ()
    if any(others):  # members whose refunds undid their spend on the same days draw nothing
        series.append(Series(None, others))
    return SpendFigures(
        period_start=start,
        period_end=end,
        days=days,
        series=tuple(series),
        budget_micros=budget_micros,
        committed_micros=committed_micros,
        reserved_micros=reserved_micros,
        reset_micros=reset_micros,
        through=through,
    )


def previous_period_moment(current_start: dt.datetime) -> dt.datetime:
    """A moment inside the period before the one starting at current_start (period_bounds finds it)."""
    return current_start - dt.timedelta(microseconds=1)


def usd(micros: int) -> str:
    """Exact dollars with six decimals (the ledger's millionths): '0.400000', '-1.250000'."""
    sign = "-" if micros < 0 else ""
    whole, fraction = divmod(abs(micros), 1_000_000)
    return f"{sign}{whole}.{fraction:06d}"


@dataclass(frozen=True)
class LedgerRow:
    """One ledger entry as /quota export writes it, with its job's model, duration and resolution."""

    id: int
    at: dt.datetime
    kind: str  # reserve, commit, refund, reset
    user_id: int
    job_id: int | None
    model: str | None
    duration: int | None
    resolution: str | None
    amount_micros: int

    @property
    def counts_as_spend(self) -> bool:
        """As the limits and /quota report count: a commit confirms its reserve, which already counted."""
        return self.kind != "commit"


def export_range(first: str, last: str) -> tuple[dt.datetime, dt.datetime]:
    """/quota export's dates (YYYY-MM-DD, UTC, both days included) as [start, end); Refused when they
    are not dates, are backwards, or span more than MAX_EXPORT_DAYS days."""
    try:
        start_day, last_day = dt.date.fromisoformat(first.strip()), dt.date.fromisoformat(last.strip())
    except ValueError:
        raise Refused(Text("Dates are written YYYY-MM-DD (UTC), e.g. 2025-11-01.")) from None
    if last_day < start_day:
        raise Refused(Text("The end date ({last}) is before the start date ({first}).", first=first, last=last))
    days = (last_day - start_day).days + 1
    if days > MAX_EXPORT_DAYS:
        raise Refused(Text("That is {days} days; export at most {limit} days at a time.", days=days,
                           limit=MAX_EXPORT_DAYS))  # fmt: skip
    start = dt.datetime.combine(start_day, dt.time(), dt.UTC)
    return start, dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(), dt.UTC)
