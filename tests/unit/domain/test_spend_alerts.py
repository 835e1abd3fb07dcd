"""Spend alerts' pure rules: a threshold is reported exactly when the spend first reaches it (integer
micros), a budget refusal stands for 100 %, and a member's own limit is not the budget's refusal."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from bot.domain.quota import Limits, Period, Standing
from bot.domain.spend_alerts import THRESHOLDS, Alert, alert_lines, crossed, refused_by_budget, used_up

DOLLAR = 1_000_000
END = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def test_a_threshold_is_crossed_when_the_spend_reaches_it_exactly():
    assert crossed(0, 2_500_000, 5 * DOLLAR) == (50,)
    assert crossed(2_499_999, 2_500_000, 5 * DOLLAR) == (50,)
    assert crossed(2_500_000, 3_999_999, 5 * DOLLAR) == ()
    assert crossed(0, 5 * DOLLAR, 5 * DOLLAR) == (50, 80, 100)
    assert crossed(0, 10 * DOLLAR, None) == () and crossed(0, 10, 0) == ()  # no budget: no alerts


@given(
    budget=st.integers(min_value=1, max_value=10**9),
    steps=st.lists(st.integers(min_value=-(10**8), max_value=10**9), max_size=30),
)
def test_for_any_spends_each_threshold_is_reported_at_most_once_and_exactly_when_crossed(budget, steps):
    # The outbox's UNIQUE key keeps the first report of each threshold; refunds may bring the spend back down.
    reported: list[int] = []
    spent = 0
    for step in steps:
        before, spent = spent, max(0, spent + step)
        new = [t for t in crossed(before, spent, budget) if t not in reported]
        for t in THRESHOLDS:
            first_reach = t not in reported and before * 100 < t * budget <= spent * 100
            assert (t in new) == first_reach
        reported += new
    assert len(reported) == len(set(reported))
    peak = max([0, *_running(steps)])
    assert set(reported) == {t for t in THRESHOLDS if t * budget <= peak * 100}


def _running(steps: list[int]) -> list[int]:
    total, out = 0, []
    for step in steps:
        total = max(0, total + step)
        out.append(total)
    return out


@given(spent=st.integers(min_value=0, max_value=10**8), budget=st.integers(min_value=0, max_value=10**8))
def test_a_budget_refusal_means_used_up_with_what_it_passed_on_the_way(spent, budget):
    thresholds = used_up(spent, budget)
    assert thresholds[-1] == 100 and list(thresholds) == sorted(set(thresholds))
    assert set(thresholds) == {100} | {t for t in THRESHOLDS if spent * 100 < t * budget}


def standing(member_limit: int | None, member_spent: int, budget: int | None, guild_spent: int) -> Standing:
    limits = Limits(member_limit, Period.MONTHLY, budget, 5, 10)
    return Standing(limits, member_limit, member_spent, guild_spent, 0, 0, END)


def test_only_the_servers_budget_refusing_counts():
    assert refused_by_budget(standing(None, 0, 5 * DOLLAR, 4 * DOLLAR), 2 * DOLLAR)
    assert not refused_by_budget(standing(None, 0, 5 * DOLLAR, 3 * DOLLAR), 2 * DOLLAR)  # fits
    assert not refused_by_budget(standing(DOLLAR, 0, 5 * DOLLAR, 4 * DOLLAR), 2 * DOLLAR)  # her own limit first
    assert refused_by_budget(standing(3 * DOLLAR, 0, 5 * DOLLAR, 4 * DOLLAR), 2 * DOLLAR)
    assert not refused_by_budget(standing(None, 0, None, 99 * DOLLAR), 2 * DOLLAR)  # no budget


def alert(threshold: int, refused: bool = False) -> Alert:
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    return Alert(1, 2, 3, threshold, 4 * DOLLAR, 5 * DOLLAR, start, END, refused)


def test_the_alert_names_the_threshold_spend_budget_reset_and_top_spenders():
    lines = alert_lines(alert(80), [(42, 3 * DOLLAR), (43, DOLLAR)])
    text = "\n".join(lines)
    assert lines[0] == "💸 This server has spent 80 % of its video budget: $4.00 of $5.00 this period."
    assert "The budget resets on Tue 01 Dec 00:00 UTC." in text
    assert "<@42>: $3.00\n<@43>: $1.00" in text
    assert "refused" not in text
    used = alert_lines(alert(100, refused=True), [])
    assert used[0].startswith("💸 This server's video budget is used up")
    assert "A video was refused because the budget would have been exceeded." in used
    assert "Top spenders" not in "\n".join(used)
