"""Quota policy, pure: periods, money, and whether a job may be accepted. The SQL lives in the store."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from bot.domain.models import Refused, Video
from bot.domain.text import Moment, Money, Text

MICROS = 1_000_000


class Period(enum.StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


class QuotaRefused(Refused):
    """Over a member's limit, the server's budget, or a concurrency cap."""


@dataclass(frozen=True)
class Limits:
    """A server's rules; operator defaults for a server that has not set its own."""

    member_limit_micros: int | None  # None = unlimited
    period: Period
    budget_micros: int | None  # None = no server-wide budget
    max_jobs_per_member: int
    max_jobs_per_guild: int
    # Beyond the limits of videos in progress, a job waits its turn (bot/domain/waiting_line.py); this
    # many at most per member. An operator setting (QUOTA_MAX_WAITING_PER_MEMBER), not a server's rule.
    max_waiting_per_member: int = 3


@dataclass(frozen=True)
class Standing:
    """Everything the decision needs, read in the same transaction that records the reservation."""

    limits: Limits
    member_limit_micros: int | None  # the override when set, else the server default
    member_spent_micros: int
    guild_spent_micros: int
    member_running: int  # videos in progress (waiting ones not counted)
    guild_running: int
    period_end: dt.datetime
    member_waiting: int = 0  # videos waiting for a slot


@dataclass(frozen=True)
class Usage:
    """What /usage and /help show a member."""

    standing: Standing
    has_override: bool
    recent: list[Video]


@dataclass(frozen=True)
class Report:
    """What /quota shows an admin about the server's period."""

    limits: Limits
    period_start: dt.datetime
    period_end: dt.datetime
    spent_micros: int
    top: list[tuple[int, int]]  # (user id, micros spent)
    videos: int
    running: int


def to_micros(usd: float) -> int:
    return round(usd * MICROS)


def money(micros: int) -> str:
    return f"${micros / MICROS:,.2f}"


def period_bounds(period: Period, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The UTC period containing `now`: days from midnight, weeks from Monday, months from the 1st."""
    now = now.astimezone(dt.UTC)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == Period.DAILY:
        return day, day + dt.timedelta(days=1)
    if period == Period.WEEKLY:
        start = day - dt.timedelta(days=day.weekday())
        return start, start + dt.timedelta(days=7)
    start = day.replace(day=1)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end


def when(moment: dt.datetime) -> str:
    """How a reset time is said to members: 'Mon 24 Nov 00:00 UTC'."""
    return moment.astimezone(dt.UTC).strftime("%a %d %b %H:%M UTC")


def too_many_waiting(waiting: int, limit: int) -> str:
    if waiting == 1:
        return Text("You already have {waiting} video waiting (the limit is {limit}); wait for one to start.",
                    waiting=waiting, limit=limit)  # fmt: skip
    return Text("You already have {waiting} videos waiting (the limit is {limit}); wait for one to start.",
                waiting=waiting, limit=limit)  # fmt: skip


def decide(standing: Standing, cost_micros: int, what: str) -> str | None:
    """None when the job may go ahead (now, or in the waiting line: line_refusal), else the sentence that
    says why not (and what is left)."""
    limits = standing.limits
    reset = Moment(standing.period_end)
    if standing.member_limit_micros is not None:
        left = max(0, standing.member_limit_micros - standing.member_spent_micros)
        if cost_micros > left:
            return Text(
                "This {what} costs {cost}; you have {left} left until {reset}.",
                what=what, cost=Money(cost_micros), left=Money(left), reset=reset,
            )  # fmt: skip
    if limits.budget_micros is not None:
        left = max(0, limits.budget_micros - standing.guild_spent_micros)
        if cost_micros > left:
            return Text(
                "This {what} costs {cost}; this server's budget has {left} left until {reset}.",
                what=what, cost=Money(cost_micros), left=Money(left), reset=reset,
            )  # fmt: skip
    return None


def line_refusal(standing: Standing) -> str | None:
    """For a job that would have to wait (the limits of videos in progress reached): None when it may
    wait its turn, else why not. A job that starts at once is never refused by this."""
    if standing.member_waiting >= standing.limits.max_waiting_per_member:
        return too_many_waiting(standing.member_waiting, standing.limits.max_waiting_per_member)
    return None
