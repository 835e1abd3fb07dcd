"""A member's video history (/videos): its pages, their lines and the texts the member reads. Pure: the
storage reads the entries, bot/discord draws the page."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from bot.domain.models import Video
from bot.domain.text import Money, Text
from bot.domain.video_refs import message_link

PAGE_SIZE = 10
PROMPT_CHARS = 60
Scope = Literal["mine", "server"]
Direction = Literal["older", "newer"]
SCOPES: tuple[Scope, ...] = ("mine", "server")

_MARKDOWN = re.compile(r"([\\*_~`|>#\[\]()<:-])")


@dataclass(frozen=True)
class Cursor:
    """A page's edge: keyset pagination by (created_at, job_id), stable while new videos arrive."""

    created_at: float
    job_id: int


@dataclass(frozen=True)
class HistoryEntry:
    video: Video
    cost_usd: float  # the job's

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.video.created_at, self.video.job_id)


@dataclass(frozen=True)
class HistoryPage:
    scope: Scope
    user_id: int  # the member it is for: the only one who may page it
    entries: list[HistoryEntry]
    newer: Cursor | None  # ◀: the page's first entry, when newer videos exist
    older: Cursor | None  # ▶: the page's last entry, when older videos exist


def escape(text: str) -> str:
    """A member's text made inert in an embed or a list: markdown characters escaped, mentions broken
    (a zero-width space after every @), on one line."""
    flat = " ".join(text.split())
    return _MARKDOWN.sub(r"\\\1", flat).replace("@", "@\u200b")


def shorten(text: str, limit: int = PROMPT_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def model_name(model: str) -> str:
    return "Sora 2 Pro" if model == "sora-2-pro" else "Sora 2"


def line(number: int, entry: HistoryEntry) -> Text:
    """One video of the list: prompt, model, duration, cost, when, and a link to its message."""
    video = entry.video
    link = message_link(video.guild_id, video.channel_id, video.message_id)
    return Text(
        "**{number}.** {prompt}\n{model} · {duration} s · {cost} · {when} · [message]({link})",
        number=number,
        prompt=escape(shorten(video.spec.prompt)),
        model=model_name(video.spec.model),
        duration=video.spec.duration,
        cost=Money(round(entry.cost_usd * 1_000_000)),
        when=f"<t:{int(video.created_at)}:R>",  # Discord writes it in the reader's language and time zone
        link=link,
    )


def pick_label(number: int, entry: HistoryEntry) -> str:
    """A select option's label (plain text, at most 100 characters: nothing renders there)."""
    return f"{number}. {shorten(entry.video.spec.prompt, 90)}"[:100]


def page_title(scope: Scope) -> str:
    return Text("Your videos in this server") if scope == "mine" else Text("This server's videos")


def page_footer() -> str:
    return Text("Newest first")


def no_videos(scope: Scope) -> str:
    if scope == "mine":
        return Text("You haven't made any videos in this server yet: try `/generate`.")
    return Text("No videos have been made in this server yet: try `/generate`.")


def not_yours() -> str:
    return Text("This list belongs to someone else: use `/videos` to see your own.")


def remix_placeholder() -> str:
    return Text("🎨 Remix one of these…")


def reroll_placeholder() -> str:
    return Text("🎲 Re-roll one of these…")
