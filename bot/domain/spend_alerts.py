"""Spend alerts, pure: which of a server's budget thresholds a reservation (or a refusal) crosses, and
what the alert says. The outbox that makes each one posted once is bot/storage/spend_alerts.py; the
sending, bot/ops/spend_alerts.py."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from bot.domain.quota import Standing
from bot.domain.text import Moment, Money, Text

THRESHOLDS = (50, 80, 100)  # percent of the server's budget
TOP_SPENDERS = 5


def crossed(before_micros: int, after_micros: int, budget_micros: int | None) -> tuple[int, ...]:
    """The thresholds that spend moving from `before` to `after` reaches for the first time: those with
    before < threshold <= after (integer micros: no rounding). A server with no budget has none."""
    if budget_micros is None or budget_micros <= 0:
        return ()
    return tuple(t for t in THRESHOLDS if before_micros * 100 < t * budget_micros <= after_micros * 100)


def used_up(spent_micros: int, budget_micros: int | None) -> tuple[int, ...]:
    """The thresholds a budget refusal stands for: the server budget said no, so it is used up (100 %)
    whatever the exact spend; the lower ones it passed on the way are crossed with it."""
    if budget_micros is None:
        return ()
    return tuple(sorted({*crossed(spent_micros, max(spent_micros, budget_micros), budget_micros), 100}))


def refused_by_budget(standing: Standing, cost_micros: int) -> bool:
    """Whether decide() (bot/domain/quota.py) refused this cost because of the server's budget, not the
    member's own limit (checked first there, and not an alert: the server's budget still has room)."""
    if standing.member_limit_micros is not None:
        if cost_micros > max(0, standing.member_limit_micros - standing.member_spent_micros):
            return False
    budget = standing.limits.budget_micros
    return budget is not None and cost_micros > max(0, budget - standing.guild_spent_micros)


@dataclass(frozen=True)
class Alert:
    """One outbox row: a threshold of one server's period, to be posted in its alerts channel."""

    id: int
    guild_id: int
    channel_id: int
    threshold: int
    spent_micros: int
    budget_micros: int
    period_start: dt.datetime
    period_end: dt.datetime
    refused: bool  # the budget refused a job (the spend may stay under 100 %)

    @property
    def nonce(self) -> str:
        """Discord's enforce_nonce key: a retry after a crash between the post and its record posts nothing."""
        return f"sora-alert-{self.id}"


def alert_lines(alert: Alert, top: list[tuple[int, int]]) -> list[Text]:
    """The alert's lines (each rendered in the server's language, then joined). Members are named as
    mentions, and the message is sent with no mention allowed: nobody is pinged."""
    if alert.threshold >= 100:
        head = Text(
            "💸 This server's video budget is used up: {spent} spent of {budget} this period.",
            spent=Money(alert.spent_micros), budget=Money(alert.budget_micros),
        )  # fmt: skip
    else:
        head = Text(
            "💸 This server has spent {percent} % of its video budget: {spent} of {budget} this period.",
            percent=alert.threshold, spent=Money(alert.spent_micros), budget=Money(alert.budget_micros),
        )  # fmt: skip
    lines = [head]
    if alert.refused:
        lines.append(Text("A video was refused because the budget would have been exceeded."))
    lines.append(Text("The budget resets on {reset}.", reset=Moment(alert.period_end)))
    if top:
        lines.append(Text("Top spenders this period:"))
        lines += [Text("{member}: {spent}", member=mention(user), spent=Money(micros)) for user, micros in top]
    lines.append(Text("Admins can change the budget with /quota budget."))
    return lines


def mention(user_id: int) -> str:
    return "<@" + str(user_id) + ">"  # shown as the member's name; the alert allows no mention, so no ping


class AlertUnavailable(Exception):
    """Discord did not answer, or answered 5xx: try again later (the nonce keeps it from posting twice)."""


class AlertForbidden(Exception):
    """The alerts channel is gone, or the bot may not post there: trying again would not help."""


class AlertPoster(Protocol):
    """What sending an alert needs from Discord."""

    async def post_alert(self, alert: Alert, lines: list[Text]) -> int:
        """Post the lines (in the server's language) in the alert's channel, pinging nobody, with the
        alert's nonce enforced; returns the message id. Raises AlertForbidden or AlertUnavailable."""
        ...
