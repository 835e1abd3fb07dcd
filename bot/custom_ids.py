"""Stable custom ids for components, so buttons keep working after a restart: each carries the id
the click is about, and the handler re-reads the state from the database."""

from __future__ import annotations

CANCEL_PREFIX = "sora:cancel:"
CANCEL_TEMPLATE = r"sora:cancel:(?P<job_id>[0-9]+)"


def cancel(job_id: int) -> str:
    return f"{CANCEL_PREFIX}{job_id}"
