"""The SQL of jobs: each transition is one write that returns the new row (RETURNING), with the quota
ledger's entries written in the same transaction (a reservation with the job, its commit or refund with
the final state)."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.domain.models import Job, JobState, Video, VideoSpec
from bot.domain.quota import Limits, QuotaRefused, decide, period_bounds
from bot.storage import ledger, videos
from bot.storage.database import Database, Row

_JOB_COLUMNS = (
    "id, kind, state, guild_id, channel_id, user_id, endpoint, arguments, prompt, model, duration, "
    "aspect_ratio, resolution, cost_usd, request_id, parent_video_id, progress_message_id, reply_to_message_id, "
    "result_json, video_message_id, error, created_at, updated_at, submitted_at, final_text, final_shown_at"
)
_FINISHED = tuple(s.value for s in JobState if s.finished)
_FINISHED_SQL = "(" + ", ".join(f"'{s}'" for s in _FINISHED) + ")"
_UPDATABLE = {
    "request_id",
    "progress_message_id",
    "reply_to_message_id",
    "result_json",
    "video_message_id",
    "error",
    "submitted_at",
    "final_text",
    "final_shown_at",
}


class JobAlreadyFinished(Exception):
    """The job had already ended: its state and its ledger entries stay as they are."""


@dataclass(frozen=True)
class Reservation:
    cost_micros: int
    defaults: Limits  # the operator's, for a server that has set none
    what: str  # how the refusal names the job: "8 s Sora 2 video"


class JobStore:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def create_job(
        self,
        spec: VideoSpec,
        *,
        guild_id: int,
        channel_id: int,
        user_id: int,
        endpoint: str,
        arguments: dict[str, Any],
        cost_usd: float,
        progress_message_id: int | None = None,
        reply_to_message_id: int | None = None,
        reservation: Reservation | None = None,
    ) -> Job:
        """Record a new job; with a reservation, check the quota and reserve its cost in the same
        transaction (raising QuotaRefused), so concurrent requests can never overspend."""
        now = self._clock()
        async with self._db.transaction() as session:
            if reservation is not None:
                await session.lock(f"quota:{guild_id}")
                moment = dt.datetime.fromtimestamp(now, dt.UTC)
                standing = await ledger.standing(session, guild_id, user_id, reservation.defaults, moment)
                refusal = decide(standing, reservation.cost_micros, reservation.what)
                if refusal is not None:
                    raise QuotaRefused(refusal)
            row = await session.fetch_one(
                "INSERT INTO jobs (kind, state, guild_id, channel_id, user_id, endpoint, arguments, prompt, "
                "model, duration, aspect_ratio, resolution, cost_usd, progress_message_id, "
                "reply_to_message_id, parent_video_id, created_at, updated_at) "
                f"VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING {_JOB_COLUMNS}",
                spec.kind,
                JobState.PENDING.value,
                guild_id,
                channel_id,
                user_id,
                endpoint,
                json.dumps(arguments),
                spec.prompt,
                spec.model,
                spec.duration,
                spec.aspect_ratio,
                spec.resolution,
                cost_usd,
                progress_message_id,
                reply_to_message_id,
                spec.parent_video_id,
                now,
                now,
            )
            assert row is not None  # an INSERT ... RETURNING returns its row
            job = _job(row)
            if reservation is not None:
                await ledger.add_entry(
                    session,
                    guild_id=guild_id,
                    user_id=user_id,
                    job_id=job.id,
                    kind="reserve",
                    amount_micros=reservation.cost_micros,
                    period_start=period_bounds(standing.limits.period, moment)[0],
                    actor_id=None,
                    now=now,
                )
        return job

    async def get_job(self, job_id: int | None) -> Job | None:
        async with self._db.reading() as session:
            row = await session.fetch_one(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", job_id)
        return _job(row) if row else None

    async def unfinished_jobs(self) -> list[Job]:
        async with self._db.reading() as session:
            rows = await session.fetch_all(
                f"SELECT {_JOB_COLUMNS} FROM jobs WHERE state NOT IN (?, ?, ?) ORDER BY id", *_FINISHED
            )
        return [_job(r) for r in rows]

    async def unshown_finals(self) -> list[Job]:
        """Finished jobs whose last text Discord has not shown yet (the bot died, or Discord was down)."""
        async with self._db.reading() as session:
            rows = await session.fetch_all(
                f"SELECT {_JOB_COLUMNS} FROM jobs WHERE final_text IS NOT NULL AND final_shown_at IS NULL ORDER BY id"
            )
        return [_job(r) for r in rows]

    async def job_with_request(self, request_id: str) -> Job | None:
        async with self._db.reading() as session:
            row = await session.fetch_one(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE request_id = ?", request_id)
        return _job(row) if row else None

    async def update_job(self, job_id: int, state: JobState | None = None, **fields: Any) -> Job:
        """Write a state change (and the facts that come with it) before the caller acts on it; returns the
        job as it now is."""
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)}")
        now = self._clock()
        assignments = ["updated_at = ?"]
        values: list[Any] = [now]
        if state is not None:
            assignments.append("state = ?")
            values.append(state.value)
            if state.finished:
                assignments.append("finished_at = ?")
                values.append(now)
        for name, value in fields.items():
            assignments.append(f"{name} = ?")
            values.append(value)
        where = "id = ?"
        if state is not None:
            # A finished job's state is final: a late failure or cancel never turns a delivered (charged)
            # job into a refunded one, nor the reverse. Its other facts (the last text shown) may change.
            where += f" AND state NOT IN {_FINISHED_SQL}"
        async with self._db.transaction() as session:
            row = await session.fetch_one(
                f"UPDATE jobs SET {', '.join(assignments)} WHERE {where} RETURNING {_JOB_COLUMNS}", *values, job_id
            )
            if row is None:  # it had already ended: nothing was written, it stays as it is
                row = await session.fetch_one(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", job_id)
            elif state in (JobState.FAILED, JobState.CANCELLED):
                await ledger.settle(session, job_id, "refund", now)
        assert row is not None, f"no job {job_id}"
        return _job(row)

    async def mark_delivered(self, job: Job, video: Video, final_text: str | None = None) -> Job:
        """Record the posted video and finish the job in one transaction: never one without the other. Raises
        JobAlreadyFinished, writing nothing, for a job that has already ended (delivered, or refunded)."""
        async with self._db.transaction() as session:
            now = self._clock()
            row = await session.fetch_one(
                "UPDATE jobs SET state = ?, video_message_id = ?, updated_at = ?, finished_at = ?, final_text = ? "
                f"WHERE id = ? AND state NOT IN {_FINISHED_SQL} RETURNING {_JOB_COLUMNS}",
                JobState.DELIVERED.value,
                video.message_id,
                now,
                now,
                final_text,
                job.id,
            )
            if row is None:
                raise JobAlreadyFinished(job.id)
            await videos.add(session, video)
            await ledger.settle(session, job.id, "commit", now)
        return _job(row)


def _job(row: Row) -> Job:
    data = dict(row)
    spec = VideoSpec(**{name: data.pop(name) for name in VideoSpec.model_fields})
    data["arguments"] = json.loads(data["arguments"])
    result_json = data.pop("result_json")
    data["result"] = json.loads(result_json) if result_json else None
    return Job(spec=spec, **data)
