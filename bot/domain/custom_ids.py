"""Stable custom ids for the bot's buttons and forms, so they keep working after a restart: each carries
the id the click is about (a job, or for the Animate form a message), and the handler re-reads the state
from the database. Every component and form the bot makes has one of these ids; parse() is the one
place they are read back."""

from __future__ import annotations

import re
from typing import NamedTuple

PREFIX = "sora:"
BUTTONS = ("cancel", "remix", "reroll", "delete", "delete-confirm", "delete-keep")
FORMS = ("remix-prompt", "animate")
MAX_ID = 2**63 - 1  # SQLite's INTEGER, and a snowflake's range: anything larger names nothing

_NUMBER = "([1-9][0-9]{0,18})"  # no sign, no leading zero, ASCII digits only; MAX_ID is checked by bounded()
_ID = re.compile(rf"{PREFIX}({'|'.join(BUTTONS + FORMS)}):{_NUMBER}")
# The buttons' templates (discord.py's DynamicItem): group 1 is the id, read with bounded().
CANCEL_TEMPLATE = rf"{PREFIX}cancel:{_NUMBER}"
REMIX_TEMPLATE = rf"{PREFIX}remix:{_NUMBER}"
REROLL_TEMPLATE = rf"{PREFIX}reroll:{_NUMBER}"
# /videos' pager: scope, the member it is for, which way, and the page edge it pages from (created_at, job id).
PAGE_TEMPLATE = rf"{PREFIX}videos:(mine|server):{_NUMBER}:(older|newer):([0-9]{{1,17}}(?:\.[0-9]{{1,17}})?):{_NUMBER}"
# /videos' selects: which action; the chosen option's value is the job id.
PICK_TEMPLATE = rf"{PREFIX}pick:(remix|reroll)"
DELETE_TEMPLATE = rf"{PREFIX}delete:{_NUMBER}"
DELETE_CONFIRM_TEMPLATE = rf"{PREFIX}delete-confirm:{_NUMBER}"
DELETE_KEEP_TEMPLATE = rf"{PREFIX}delete-keep:{_NUMBER}"


class CustomId(NamedTuple):
    kind: str
    id: int


def parse(custom_id: str) -> CustomId | None:
    """The kind and id of one of the bot's custom ids; None for anything else (forged, stale, mangled)."""
    match = _ID.fullmatch(custom_id)
    number = None if match is None else bounded(match[2])
    if match is None or number is None:
        return None
    return CustomId(match[1], number)


def bounded(digits: str) -> int | None:
    """The id a template's digits name; None when too large to name anything (above MAX_ID)."""
    number = int(digits)
    return number if number <= MAX_ID else None


def cancel(job_id: int) -> str:
    return f"{PREFIX}cancel:{job_id}"


def remix(job_id: int) -> str:
    return f"{PREFIX}remix:{job_id}"


def reroll(job_id: int) -> str:
    return f"{PREFIX}reroll:{job_id}"


def delete(job_id: int) -> str:
    """The 🗑️ Delete button under the video a job delivered."""
    return f"{PREFIX}delete:{job_id}"


def delete_confirm(job_id: int) -> str:
    """ "Delete" in the private confirmation: a DynamicItem too, so it still works after a restart."""
    return f"{PREFIX}delete-confirm:{job_id}"


def delete_keep(job_id: int) -> str:
    return f"{PREFIX}delete-keep:{job_id}"


def remix_prompt(job_id: int) -> str:
    """The form asking for a remix's prompt."""
    return f"{PREFIX}remix-prompt:{job_id}"


def animate(message_id: int) -> str:
    """The form asking for the prompt to animate the image in that message."""
    return f"{PREFIX}animate:{message_id}"


def page(scope: str, user_id: int, direction: str, created_at: float, job_id: int) -> str:
    """A /videos pager button (PAGE_TEMPLATE). created_at is written as repr() writes it, which reads back
    as the very same float: the keyset query compares it exactly."""
    return f"{PREFIX}videos:{scope}:{user_id}:{direction}:{float(created_at)!r}:{job_id}"


def pick(action: str) -> str:
    """A /videos select: Remix or Re-roll one of the listed videos (PICK_TEMPLATE)."""
    return f"{PREFIX}pick:{action}"
