"""The waiting line, pure: which waiting jobs of a server start when slots free, and where a waiting job
stands. Fair between members: round-robin, the member who has waited longest since their last start goes
first (one who never started goes before one who did); oldest first within a member. The store reads the
facts and writes the promotions in one transaction (bot/storage/jobs.py `promote`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Waiting:
    job_id: int
    user_id: int
    created_at: float


@dataclass(frozen=True)
class Place:
    """Where one waiting job stands: what its progress message says."""

    member_running: int  # the member's videos in progress
    guild_running: int  # the server's videos in progress
    member_blocked: bool  # the member is at their own limit (else the server is at its limit)
    ahead: int  # waiting jobs that start before it (the member's own only, when member_blocked)


def _queues(waiting: Sequence[Waiting]) -> dict[int, list[Waiting]]:
    queues: dict[int, list[Waiting]] = {}
    for job in sorted(waiting, key=lambda w: (w.created_at, w.job_id)):
        queues.setdefault(job.user_id, []).append(job)
    return queues


# A member's place in the round: (0, last start) before their first start in this pass (never started:
# -inf), then (1, n) after the pass's n-th start, so whoever just started goes to the back.
Turn = tuple[int, float]


def _key(user_id: int, queues: Mapping[int, list[Waiting]], turns: Mapping[int, Turn]) -> tuple[int, float, float, int]:
    """Longest since their last start first; never started first of all; then whose oldest waiting job
    is oldest."""
    oldest = queues[user_id][0]
    return (*turns[user_id], oldest.created_at, oldest.job_id)


def _round_robin(
    queues: dict[int, list[Waiting]],
    last_start: Mapping[int, float],
    running: dict[int, int],
    max_per_member: float,
    slots: float,
) -> list[Waiting]:
    """Choose up to `slots` jobs one at a time, each start counting against its member (`running`)."""
    turns: dict[int, Turn] = {u: (0, last_start.get(u, float("-inf"))) for u in queues}
    chosen: list[Waiting] = []
    while len(chosen) < slots:
        eligible = [u for u, q in queues.items() if q and running.get(u, 0) < max_per_member]
        if not eligible:
            break
        user = min(eligible, key=lambda u: _key(u, queues, turns))
        chosen.append(queues[user].pop(0))
        running[user] = running.get(user, 0) + 1
        turns[user] = (1, float(len(chosen)))
    return chosen


def to_start(
    waiting: Sequence[Waiting],
    member_running: Mapping[int, int],
    guild_running: int,
    max_per_member: int,
    max_per_guild: int,
    last_start: Mapping[int, float],
) -> list[int]:
    """The ids of the waiting jobs to start now, in order, without exceeding either limit."""
    chosen = _round_robin(
        _queues(waiting), last_start, dict(member_running), max_per_member, max_per_guild - guild_running
    )
    return [w.job_id for w in chosen]


def order(waiting: Sequence[Waiting], last_start: Mapping[int, float]) -> list[int]:
    """The whole line in the order it would start as slots free one at a time, limits aside."""
    return [w.job_id for w in _round_robin(_queues(waiting), last_start, {}, float("inf"), float("inf"))]


def place(
    job: Waiting,
    waiting: Sequence[Waiting],
    member_running: Mapping[int, int],
    guild_running: int,
    max_per_member: int,
    last_start: Mapping[int, float],
) -> Place:
    mine = member_running.get(job.user_id, 0)
    if mine >= max_per_member:
        own = [w for w in waiting if w.user_id == job.user_id]
        ahead = sum(1 for w in own if (w.created_at, w.job_id) < (job.created_at, job.job_id))
        return Place(mine, guild_running, True, ahead)
    line = order(waiting, last_start)
    ahead = line.index(job.job_id) if job.job_id in line else 0
    return Place(mine, guild_running, False, ahead)
