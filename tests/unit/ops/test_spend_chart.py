"""/quota report's chart: the figures it is drawn from (bot/domain/spend.py) and the PNG itself.

`python -m tests.unit.ops.test_spend_chart docs/spend-chart.png` draws the README's sample from the real
renderer and the sample data below."""

from __future__ import annotations

import datetime as dt
import io
import json
import sys
from pathlib import Path

from PIL import Image, ImageColor

from bot.domain.spend import SpendEntry, period_days, spend_figures
from bot.ops.spend_chart import CUMULATIVE, ChartWords, render_spend_chart

START = dt.datetime(2025, 11, 1, tzinfo=dt.UTC)
END = dt.datetime(2025, 12, 1, tzinfo=dt.UTC)
WORDS = ChartWords("Spend 2025-11-01 to 2025-11-30 (UTC)", "sub", "Spend per day", "Spend so far", "Budget", "others")


def at(day: int, hour: int = 12) -> dt.datetime:
    return dt.datetime(2025, 11, day, hour, tzinfo=dt.UTC)


def figures(entries: list[SpendEntry], budget: int | None = None):
    return spend_figures(
        entries, START, END, budget_micros=budget, committed_micros=0, reserved_micros=0, reset_micros=0
    )


def png(entries: list[SpendEntry], budget: int | None = None, names: dict[int, str] | None = None):
    data = figures(entries, budget)
    image = Image.open(io.BytesIO(render_spend_chart(data, names or {}, WORDS)))
    return data, image


def test_a_month_has_thirty_days_and_a_day_without_spend_is_zero():
    data, image = png([SpendEntry(1, at(3), 400_000)])
    assert len(data.days) == 30 and data.days[0] == dt.date(2025, 11, 1)
    assert data.series[0].per_day[2] == 400_000 and sum(data.series[0].per_day) == 400_000
    assert data.daily_totals[0] == 0 and data.cumulative[-1] == 400_000
    assert image.format == "PNG" and image.size == (1200, 600)
    assert image.info["spent_micros"] == "400000" and image.info["budget_micros"] == ""


def test_one_member_no_others():
    data, image = png([SpendEntry(7, at(1), 800_000), SpendEntry(7, at(2), -800_000), SpendEntry(7, at(2), 1)])
    assert [s.user_id for s in data.series] == [7]
    assert json.loads(image.info["series"]) == {"7": 1}


def test_more_than_five_members_make_others_and_the_sums_stay_exact():
    entries = [SpendEntry(user, at(1 + user % 28), user * 100_000) for user in range(1, 9)]
    entries.append(SpendEntry(1, at(29), -100_000))  # member 1 refunded: nothing spent
    data, image = png(entries, names={8: "Henri", 7: "Gabrielle"})
    assert [s.user_id for s in data.series] == [8, 7, 6, 5, 4, None]
    assert data.series[-1].total == 200_000 + 300_000  # members 2 and 3; member 1 adds nothing
    assert data.spent_micros == sum(e.amount_micros for e in entries) == int(image.info["spent_micros"])
    assert json.loads(image.info["series"])["others"] == 500_000


def test_the_current_periods_line_stops_at_today():
    """The days to come have no spend yet: the cumulative line is not drawn flat across them."""
    entries = [SpendEntry(1, at(day), 400_000) for day in range(1, 6)]
    whole = figures(entries)
    today = spend_figures(
        entries, START, END, budget_micros=None, committed_micros=0, reserved_micros=0, reset_micros=0,
        through=dt.date(2025, 11, 5),
    )  # fmt: skip

    def line_pixels(data) -> int:
        image = Image.open(io.BytesIO(render_spend_chart(data, {}, WORDS))).convert("RGB")
        colours = dict((colour, count) for count, colour in image.getcolors(1 << 20))
        return colours.get(ImageColor.getrgb(CUMULATIVE), 0)

    assert today.cumulative == whole.cumulative  # the same figures: only the drawing differs
    assert line_pixels(whole) - line_pixels(today) > 300  # the flat run over 25 days, gone


def test_a_budget_line_is_drawn_when_there_is_one():
    entries = [SpendEntry(1, at(5), 2_000_000)]
    _, with_budget = png(entries, budget=5_000_000)
    _, without = png(entries)
    assert with_budget.info["budget_micros"] == "5000000"
    # The dashed budget line is the red of BUDGET: present only in the first picture.
    red = (0xED, 0x42, 0x45)
    assert red in {c for _, c in with_budget.convert("RGB").getcolors(1 << 20)}
    assert red not in {c for _, c in without.convert("RGB").getcolors(1 << 20)}


def test_a_late_refund_counts_on_the_last_day_of_its_period():
    late = SpendEntry(1, dt.datetime(2025, 12, 2, tzinfo=dt.UTC), -400_000)
    data = figures([SpendEntry(1, at(30), 400_000), late])
    assert data.daily_totals[-1] == 0 and data.spent_micros == 0 and data.series == ()


def test_a_member_refunded_on_another_day_is_in_others():
    data = figures([SpendEntry(1, at(3), 400_000), SpendEntry(1, at(4), -400_000), SpendEntry(2, at(4), 800_000)])
    assert [s.user_id for s in data.series] == [2, None]
    assert data.series[1].per_day[2:4] == (400_000, -400_000) and data.spent_micros == 800_000


def test_an_empty_period_draws_an_empty_chart():
    data, image = png([])
    assert data.series == () and image.info["spent_micros"] == "0"
    assert period_days(START, START + dt.timedelta(days=1)) == (dt.date(2025, 11, 1),)


def sample() -> bytes:
    """The README's picture: six members over a month, a few refunds, a budget."""
    names = {11: "Ada", 12: "Björn", 13: "Chiara", 14: "Dmitri", 15: "Emi", 16: "Farah", 17: "Gus"}
    entries = []
    for day in range(1, 25):
        for user in names:
            if (day * user) % 5 < 2:
                entries.append(SpendEntry(user, at(day), [400_000, 800_000, 2_400_000][(day + user) % 3]))
            if (day + user) % 11 == 0:
                entries.append(SpendEntry(user, at(day, 18), -400_000))
    data = spend_figures(
        entries,
        START,
        END,
        budget_micros=100_000_000,
        committed_micros=sum(e.amount_micros for e in entries) - 1_600_000,
        reserved_micros=1_600_000,
        reset_micros=0,
    )
    total = f"${data.spent_micros / 1_000_000:,.2f}"
    words = ChartWords(
        f"Spend 2025-11-01 to 2025-11-30 (UTC): {total}",
        f"${data.committed_micros / 1_000_000:,.2f} delivered, $1.60 still reserved",
        "Spend per day",
        "Spend so far",
        "Server budget",
        "others",
    )
    return render_spend_chart(data, names, words)


if __name__ == "__main__":
    Path(sys.argv[1]).write_bytes(sample())
