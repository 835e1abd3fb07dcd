"""/quota report's picture: a period's spend per day, stacked by member, beside the cumulative spend
against the server's budget. matplotlib's Agg canvas on a Figure of its own (no pyplot: no global state,
safe in a worker thread); a dark card of its own, so it reads on Discord's dark and light themes alike.
CPU-bound: call it in a thread (asyncio.to_thread)."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import dataclass

from bot.domain.spend import SpendFigures

WIDTH, HEIGHT, DPI = 12, 6, 100  # 1200 x 600 px
CARD = "#2b2d31"  # Discord's own dark grey: a solid card, not the theme's background
PANEL = "#313338"
INK = "#f2f3f5"
MUTED = "#b5bac1"
GRID = "#4e5058"
COLOURS = ("#5865f2", "#57f287", "#fee75c", "#eb459e", "#3ba5e0", "#8e9297")  # top five, then others
BUDGET = "#ed4245"
CUMULATIVE = "#f0b232"


@dataclass(frozen=True)
class ChartWords:
    """The chart's words, already in the reader's language."""

    title: str  # carries the period and its total
    subtitle: str  # committed vs still reserved
    per_day: str
    cumulative: str
    budget: str
    others: str


def dollars(micros: float) -> str:
    return f"${micros / 1_000_000:,.2f}"


def plain(text: str) -> str:
    """A legend label as written: two '$' would otherwise start matplotlib's math mode."""
    return text.replace("$", r"\$")


def drawn_from(figures: SpendFigures) -> dict[str, str]:
    """The figures the picture shows, also written into the PNG's text chunks: a reader (or a test) can
    check the picture against the ledger without reading bars."""
    return {
        "Software": "sora-discord-bot",
        "spent_micros": str(figures.spent_micros),
        "committed_micros": str(figures.committed_micros),
        "reserved_micros": str(figures.reserved_micros),
        "reset_micros": str(figures.reset_micros),
        "budget_micros": "" if figures.budget_micros is None else str(figures.budget_micros),
        "series": json.dumps({"others" if s.user_id is None else str(s.user_id): s.total for s in figures.series}),
        "days": str(len(figures.days)),
    }


def render_spend_chart(figures: SpendFigures, names: Mapping[int, str], words: ChartWords) -> bytes:
    """A PNG of the figures; `names` gives a member's name by id (else 'member <id>')."""
    # Imported at the first chart, not at start: matplotlib and NumPy cost a bot ~45 MiB and, on a new
    # machine, the CPU of building a font cache, which most processes never need.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    figure = Figure(figsize=(WIDTH, HEIGHT), dpi=DPI, facecolor=CARD)
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(1, 3, left=0.07, right=0.98, top=0.8, bottom=0.17, wspace=0.3)
    bars = figure.add_subplot(grid[0, :2])
    line = figure.add_subplot(grid[0, 2])
    figure.suptitle(words.title, color=INK, fontsize=15, fontweight="bold", x=0.07, ha="left", y=0.965,
                    parse_math=False)  # fmt: skip
    figure.text(0.07, 0.875, words.subtitle, color=MUTED, fontsize=11, ha="left", parse_math=False)
    positions = list(range(len(figures.days)))
    labels = [day.strftime("%d %b") for day in figures.days]
    rising = [0] * len(positions)
    falling = [0] * len(positions)  # refunds and resets written on a later day stack below zero
    for number, series in enumerate(figures.series):
        colour = COLOURS[-1] if series.user_id is None else COLOURS[number % (len(COLOURS) - 1)]
        label = words.others if series.user_id is None else names.get(series.user_id, f"member {series.user_id}")
        bottoms = [rising[i] if v >= 0 else falling[i] for i, v in enumerate(series.per_day)]
        bars.bar(positions, series.per_day, bottom=bottoms, color=colour, label=plain(label[:32]), width=0.8)
        for i, value in enumerate(series.per_day):
            if value >= 0:
                rising[i] += value
            else:
                falling[i] += value
    bars.set_title(words.per_day, color=INK, fontsize=12, loc="left", parse_math=False)
    bars.axhline(0, color=GRID, linewidth=0.8)
    if figures.series:
        bars.legend(loc="upper left", fontsize=9, facecolor=PANEL, edgecolor=GRID, labelcolor=INK, framealpha=0.9)
    # The current period's line stops at today: the days to come have no spend yet, not a flat one.
    happened = [i for i, day in enumerate(figures.days) if figures.through is None or day <= figures.through]
    line.set_xlim(-0.5, len(positions) - 0.5)
    so_far = [figures.cumulative[i] for i in happened]
    line.plot(happened, so_far, color=CUMULATIVE, linewidth=2.5, marker="o", markersize=3,
              label=plain(words.cumulative))  # fmt: skip
    if figures.budget_micros is not None:
        line.axhline(figures.budget_micros, color=BUDGET, linestyle="--", linewidth=2, label=plain(words.budget))
    line.set_ylim(bottom=min(0, *figures.cumulative) if figures.cumulative else 0)
    line.set_title(words.cumulative, color=INK, fontsize=12, loc="left", parse_math=False)
    line.legend(loc="lower right", fontsize=9, facecolor=PANEL, edgecolor=GRID, labelcolor=INK, framealpha=0.9)
    step = max(1, len(positions) // 10)  # at most about ten dates under the bars, five under the line
    for axes, every in ((bars, step), (line, max(1, len(positions) // 5))):
        axes.set_facecolor(PANEL)
        axes.set_xticks(positions[::every], labels[::every], rotation=45, ha="right")
        axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: dollars(value)))
        axes.tick_params(colors=MUTED, labelsize=9)
        axes.grid(axis="y", color=GRID, linewidth=0.6)
        axes.set_axisbelow(True)
        for spine in axes.spines.values():
            spine.set_color(GRID)
    out = io.BytesIO()
    figure.savefig(out, format="png", facecolor=CARD, dpi=DPI, metadata=drawn_from(figures))
    return out.getvalue()
