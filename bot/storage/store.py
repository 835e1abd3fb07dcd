"""The SQL of jobs and videos (and the connection every SQL module shares), returned as pydantic models.

Statements are kept portable (no SQLite-only syntax outside the migrations) so another backend can sit
behind the same methods."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiosqlite

from bot.domain.models import Job, JobState, Video
from bot.domain.quota import Limits, QuotaRefused, decide, period_bounds
from bot.storage import ledger

_JOB_COLUMNS = (
    "id, kind, state, guild_id, channel_id, user_id, endpoint, arguments, prompt, model, duration, "
    "aspect_ratio, resolution, cost_usd, request_id, parent_video_id, progress_message_id, reply_to_message_id, "
    "result_json, video_message_id, error, created_at, updated_at, submitted_at, final_text, final_shown_at"
)
_FINISHED_SQL = "(" + ", ".join(f"'{s.value}'" for s in JobState if s.finished) + ")"
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


class Store:
    def __init__(self, conn: aiosqlite.Connection, clock: Callable[[], float] = time.time) -> None:
        self._conn = conn
        self._clock = clock
        self._tx_lock = asyncio.Lock()  # one connection: transactions must not interleave

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._tx_lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            await self._conn.execute("COMMIT")

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[aiosqlite.Connection]:
        """The connection for reads only: no BEGIN IMMEDIATE, so reads never queue behind writers."""
        yield self._conn

    # -- jobs -------------------------------------------------------------------------------------------

    async def create_job(
        self,
        *,
        kind: str,
        guild_id: int,
        channel_id: int,
        user_id: int,
        endpoint: str,
        arguments: dict[str, Any],
        prompt: str,
        model: str,
        duration: int,
        aspect_ratio: str,
        resolution: str,
        cost_usd: float,
        progress_message_id: int | None = None,
        reply_to_message_id: int | None = None,
        parent_video_id: str | None = None,
        reservation: Reservation | None = None,
    ) -> Job:
        """Record a new job; with a reservation, check the quota and reserve its cost in the same
        transaction (raising QuotaRefused), so concurrent requests can never overspend."""
        now = self._clock()
        async with self.transaction() as conn:
            if reservation is not None:
                moment = dt.datetime.fromtimestamp(now, dt.UTC)
                standing = await ledger.standing(conn, guild_id, user_id, reservation.defaults, moment)
                refusal = decide(standing, reservation.cost_micros, reservation.what)
                if refusal is not None:
                    raise QuotaRefused(refusal)
            cur = await conn.execute(
                "INSERT INTO jobs (kind, state, guild_id, channel_id, user_id, endpoint, arguments, prompt, "
                "model, duration, aspect_ratio, resolution, cost_usd, progress_message_id, "
                "reply_to_message_id, parent_video_id, created_at, updated_at) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    kind,
                    JobState.PENDING.value,
                    guild_id,
                    channel_id,
                    user_id,
                    endpoint,
                    json.dumps(arguments),
                    prompt,
                    model,
                    duration,
                    aspect_ratio,
                    resolution,
                    cost_usd,
                    progress_message_id,
                    reply_to_message_id,
                    parent_video_id,
                    now,
                    now,
                ),
            )
            job_id = cur.lastrowid
            if reservation is not None:
                await ledger.add_entry(
                    conn,
                    guild_id=guild_id,
                    user_id=user_id,
                    job_id=job_id,
                    kind="reserve",
                    amount_micros=reservation.cost_micros,
                    period_start=period_bounds(standing.limits.period, moment)[0],
                    actor_id=None,
                    now=now,
                )
        job = await self.get_job(job_id)
        assert job is not None
        return job

    async def get_job(self, job_id: int | None) -> Job | None:
        async with self._conn.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)) as cur:
            row = await cur.fetchone()
        return _job(row) if row else None

    async def unfinished_jobs(self) -> list[Job]:
        finished = tuple(s.value for s in JobState if s.finished)
        async with self._conn.execute(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE state NOT IN (?, ?, ?) ORDER BY id", finished
        ) as cur:
            rows = await cur.fetchall()
        return [_job(r) for r in rows]

    async def unshown_finals(self) -> list[Job]:
        """Finished jobs whose last text Discord has not shown yet (the bot died, or Discord was down)."""
        async with self._conn.execute(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE final_text IS NOT NULL AND final_shown_at IS NULL ORDER BY id"
        ) as cur:
            rows = await cur.fetchall()
        return [_job(r) for r in rows]

    async def job_with_request(self, request_id: str) -> Job | None:
        async with self._conn.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE request_id = ?", (request_id,)) as cur:
            row = await cur.fetchone()
        return _job(row) if row else None

    async def update_job(self, job_id: int, state: JobState | None = None, **fields: Any) -> Job:
        """Write a state change (and the facts that come with it) before the caller acts on it."""
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)}")
        assignments = ["updated_at = ?"]
        values: list[Any] = [self._clock()]
        if state is not None:
            assignments.append("state = ?")
            values.append(state.value)
            if state.finished:
                assignments.append("finished_at = ?")
                values.append(self._clock())
        for name, value in fields.items():
            assignments.append(f"{name} = ?")
            values.append(value)
        values.append(job_id)
        where = "id = ?"
        if state is not None:
            # A finished job's state is final: a late failure or cancel never turns a delivered (charged)
            # job into a refunded one, nor the reverse. Its other facts (the last text shown) may change.
            where += f" AND state NOT IN {_FINISHED_SQL}"
        async with self.transaction() as conn:
            cur = await conn.execute(f"UPDATE jobs SET {', '.join(assignments)} WHERE {where}", values)
            if cur.rowcount and state in (JobState.FAILED, JobState.CANCELLED):
                await ledger.settle(conn, job_id, "refund", self._clock())
        job = await self.get_job(job_id)
        assert job is not None
        return job

    async def mark_delivered(self, job: Job, video: Video, final_text: str | None = None) -> Job:
        """Record the posted video and finish the job in one transaction: never one without the other. Raises
        JobAlreadyFinished, writing nothing, for a job that has already ended (delivered, or refunded)."""
        async with self.transaction() as conn:
            now = self._clock()
            cur = await conn.execute(
                "UPDATE jobs SET state = ?, video_message_id = ?, updated_at = ?, finished_at = ?, final_text = ? "
                f"WHERE id = ? AND state NOT IN {_FINISHED_SQL}",
                (JobState.DELIVERED.value, video.message_id, now, now, final_text, job.id),
            )
            if not cur.rowcount:
                raise JobAlreadyFinished(job.id)
            await conn.execute(
                "INSERT INTO videos (video_id, job_id, guild_id, channel_id, message_id, user_id, prompt, model, "
                "duration, aspect_ratio, resolution, remixable, parent_video_id, created_at) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    video.video_id,
                    video.job_id,
                    video.guild_id,
                    video.channel_id,
                    video.message_id,
                    video.user_id,
                    video.prompt,
                    video.model,
                    video.duration,
                    video.aspect_ratio,
                    video.resolution,
                    int(video.remixable),
                    video.parent_video_id,
                    video.created_at,
                ),
            )
            await ledger.settle(conn, job.id, "commit", now)
        delivered = await self.get_job(job.id)
        assert delivered is not None
        return delivered

    # -- videos -----------------------------------------------------------------------------------------

    async def get_video(self, video_id: str) -> Video | None:
        async with self._conn.execute("SELECT * FROM videos WHERE video_id = ?", (video_id,)) as cur:
            row = await cur.fetchone()
        return _video(row) if row else None

    async def recent_videos(
        self, guild_id: int, user_id: int | None = None, limit: int = 5, *, remixable_only: bool = False
    ) -> list[Video]:
        sql = "SELECT * FROM videos WHERE guild_id = ?"
        args: tuple[object, ...] = (guild_id,)
        if user_id is not None:
            sql += " AND user_id = ?"
            args += (user_id,)
        if remixable_only:
            sql += " AND remixable = 1"
        sql += " ORDER BY created_at DESC LIMIT ?"
        async with self._conn.execute(sql, (*args, limit)) as cur:
            rows = await cur.fetchall()
        return [_video(r) for r in rows]

    async def get_video_by_message(self, message_id: int) -> Video | None:
        async with self._conn.execute("SELECT * FROM videos WHERE message_id = ?", (message_id,)) as cur:
            row = await cur.fetchone()
        return _video(row) if row else None


def _job(row: aiosqlite.Row) -> Job:
    data = dict(row)
    data["arguments"] = json.loads(data["arguments"])
    result_json = data.pop("result_json")
    data["result"] = json.loads(result_json) if result_json else None
    return Job(**data)


def _video(row: aiosqlite.Row) -> Video:
    data = dict(row)
    data["remixable"] = bool(data["remixable"])
    return Video(**data)
