"""Stable custom ids for components, so buttons keep working after a restart: each carries the id
the click is about, and the handler re-reads the state from the database."""

from __future__ import annotations

CANCEL_PREFIX = "sora:cancel:"
CANCEL_TEMPLATE = r"sora:cancel:(?P<job_id>[0-9]+)"


def cancel(job_id: int) -> str:
    return f"{CANCEL_PREFIX}{job_id}"


REMIX_TEMPLATE = r"sora:remix:(?P<job_id>[0-9]+)"
REROLL_TEMPLATE = r"sora:reroll:(?P<job_id>[0-9]+)"


def remix(job_id: int) -> str:
    return f"sora:remix:{job_id}"


def reroll(job_id: int) -> str:
    return f"sora:reroll:{job_id}"
