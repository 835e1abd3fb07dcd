"""Stable custom ids for the bot's buttons and forms, so they keep working after a restart: each carries
the id the click is about (a job, or for the Animate form a message), and the handler re-reads the state
from the database. Every component and form the bot makes has one of these ids; parse() is the one
place they are read back."""

from __future__ import annotations

import re
from typing import NamedTuple

PREFIX = "sora:"
BUTTONS = ("cancel", "remix", "reroll")
FORMS = ("remix-prompt", "animate")
MAX_ID = 2**63 - 1  # SQLite's INTEGER, and a snowflake's range: anything larger names nothing

_ID = re.compile(rf"{PREFIX}({'|'.join(BUTTONS + FORMS)}):([1-9][0-9]{{0,18}})")


class CustomId(NamedTuple):
    kind: str
    id: int


def parse(custom_id: str) -> CustomId | None:
    """The kind and id of one of the bot's custom ids; None for anything else (forged, stale, mangled)."""
    match = _ID.fullmatch(custom_id)
    if match is None or int(match[2]) > MAX_ID:
        return None
    return CustomId(match[1], int(match[2]))


def cancel(job_id: int) -> str:
    return f"{PREFIX}cancel:{job_id}"


def remix(job_id: int) -> str:
    return f"{PREFIX}remix:{job_id}"


def reroll(job_id: int) -> str:
    return f"{PREFIX}reroll:{job_id}"


def remix_prompt(job_id: int) -> str:
    """The form asking for a remix's prompt."""
    return f"{PREFIX}remix-prompt:{job_id}"


def animate(message_id: int) -> str:
    """The form asking for the prompt to animate the image in that message."""
    return f"{PREFIX}animate:{message_id}"
