"""The SQL of jobs: each transition is one write that returns the new row (RETURNING), with the quota
ledger's entries written in the same transaction (a reservation with the job, its commit or refund with
the final state).

Leases: a job belongs to one process at a time (`lease_owner`, until `lease_expires_at`). The process that
creates a job owns it; its heartbeat renews every lease it holds (renew); a job whose lease has expired
(its process died) or was released (a clean stop) is taken by a live process (claim). A write given an
`owner` is fenced by it (`... AND lease_owner = ?`): a process that lost the job raises LeaseLost and
changes nothing. Two writes are allowed by state rather than by owner: a finished job's other facts (the
last text shown: its state is final whoever writes), and Cancel (update_job(..., CANCELLED) with no
owner, from any process: fal has cancelled the request, the state becomes final, and the owner's next
write is refused by the finished-state rule, its task woken by a notice on PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from bot.domain import text
from bot.domain.models import Job, JobState, Video, VideoSpec
from bot.domain.quota import Limits, QuotaRefused, Standing, decide, line_refusal, period_bounds
from bot.domain.spend_alerts import crossed, refused_by_budget, used_up
from bot.domain.waiting_line import Place, Waiting, place, to_start
from bot.storage import ledger, spend_alerts, videos
from bot.storage.claims import claim_rows
from bot.storage.database import Database, Row, Session

log = logging.getLogger(__name__)

_JOB_COLUMNS = (
    "id, kind, state, guild_id, channel_id, user_id, endpoint, arguments, prompt, model, duration, "
    "aspect_ratio, resolution, cost_usd, request_id, parent_video_id, progress_message_id, reply_to_message_id, "
    "result_json, video_message_id, error, created_at, updated_at, submitted_at, final_text, final_shown_at, "
    "started_at, final_pattern"
)
_FINISHED = tuple(s.value for s in JobState if s.finished)
_FINISHED_SQL = "(" + ", ".join(f"'{s}'" for s in _FINISHED) + ")"
# In progress (counted against the limits): neither finished nor waiting.
_NOT_RUNNING_SQL = "(" + ", ".join(f"'{s.value}'" for s in JobState if not s.in_progress) + ")"
# Unfinished, and nobody's (never leased, or released) or its owner's lease has run out.
_CLAIMABLE = f"state NOT IN {_FINISHED_SQL} AND (lease_owner IS NULL OR lease_expires_at < ?)"
# LISTEN/NOTIFY channel (PostgreSQL): "released" (a process stopped cleanly: claim now), "cancelled:<id>"
# (a job was cancelled by a process other than its owner: the owner stops its task), "promoted:<id>" (a
# waiting job was given a slot, maybe by another process: its owner starts it now).
NOTICES = "sora_jobs"
DEFAULT_LEASE_SECONDS = 30.0
_UPDATABLE = {
    "request_id",
    "progress_message_id",
    "reply_to_message_id",
    "result_json",
    "video_message_id",
    "error",
    "submitted_at",
    "final_text",
    "final_pattern",
    "final_shown_at",
}


class JobAlreadyFinished(Exception):
    """The job had already ended: its state and its ledger entries stay as they are."""


class LeaseLost(Exception):
    """The writer does not hold the job's lease (another process took it over): nothing was written."""

    def __init__(self, job_id: int, owner: str, holder: str | None) -> None:
        super().__init__(f"job {job_id}: {owner} does not hold its lease (held by {holder})")
        self.job_id = job_id
        self.owner = owner
        self.holder = holder


@dataclass(frozen=True)
class Reservation:
    cost_micros: int
    defaults: Limits  # the operator's, for a server that has set none
    what: str  # how the refusal names the job: "8 s Sora 2 video"


class JobStore:
    def __init__(
        self, db: Database, clock: Callable[[], float] = time.time, on_spend_alert: Callable[[], None] | None = None
    ) -> None:
        self._db = db
        self._clock = clock
        self._on_spend_alert = on_spend_alert  # told, once committed, that a spend alert waits to be posted

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
        owner: str | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        on_promoted: Callable[[list[Job]], None] | None = None,
    ) -> Job:
        """Record a new job; with a reservation, check the quota and reserve its cost in the same
        transaction (raising QuotaRefused), so concurrent requests can never overspend. With an owner, the
        new job is that process's, its lease running for lease_seconds; without one, any process claims it.

        With a reservation the job joins the server's waiting line and, in the same transaction, the line
        moves (promote): the job comes back `pending` when it has a slot at once, else `waiting`; the other
        jobs it started are told to on_promoted once committed."""
        now = self._clock()
        promoted: list[Job] = []
        alerts = 0
        # The transaction ends (rolled back) before _budget_refusals sees a refusal: it records the 100 %
        # alert in a transaction of its own.
        async with self._budget_refusals(guild_id, now) as budget_refused, self._db.transaction() as session:
            if reservation is not None:
                await session.lock(f"quota:{guild_id}")
                # Slots whose wake-up was lost first, so that the member's standing is what it should be.
                promoted = await self._promote(session, guild_id, reservation.defaults, now)
                moment = dt.datetime.fromtimestamp(now, dt.UTC)
                standing = await ledger.standing(session, guild_id, user_id, reservation.defaults, moment)
                refusal = decide(standing, reservation.cost_micros, reservation.what)
                if refusal is not None:
                    if refused_by_budget(standing, reservation.cost_micros):
                        budget_refused.append(standing)
                    raise QuotaRefused(refusal)
            row = await session.fetch_one(
                "INSERT INTO jobs (kind, state, guild_id, channel_id, user_id, endpoint, arguments, prompt, "
                "model, duration, aspect_ratio, resolution, cost_usd, progress_message_id, reply_to_message_id, "
                "parent_video_id, created_at, updated_at, lease_owner, lease_expires_at, started_at) "
                f"VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING {_JOB_COLUMNS}",
                spec.kind,
                (JobState.WAITING if reservation is not None else JobState.PENDING).value,
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
                owner,
                now + lease_seconds if owner is not None else None,
                None if reservation is not None else now,
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
                alerts = await self._spend_alerts(session, guild_id, standing, moment, now)
                promoted += await self._promote(session, guild_id, reservation.defaults, now)
                job = next((p for p in promoted if p.id == job.id), job)
                if job.state is JobState.WAITING and (refusal := line_refusal(standing)) is not None:
                    raise QuotaRefused(refusal)  # the whole transaction rolls back: nothing reserved
        others = [p for p in promoted if p.id != job.id]
        if others and on_promoted is not None:
            on_promoted(others)
        if alerts and self._on_spend_alert is not None:
            self._on_spend_alert()
        return job

    async def _spend_alerts(
        self, session: Session, guild_id: int, standing: Standing, moment: dt.datetime, now: float
    ) -> int:
        """The budget thresholds this reservation crosses, written to the alerts' outbox in its transaction:
        the spend is the ledger's, as /quota report counts it, read again now that it holds the reservation."""
        budget = standing.limits.budget_micros
        if budget is None:
            return 0
        period = period_bounds(standing.limits.period, moment)
        after = await ledger.spent(session, guild_id, None, *period)
        return await spend_alerts.record(
            session,
            guild_id=guild_id,
            period=period,
            thresholds=crossed(standing.guild_spent_micros, after, budget),
            spent_micros=after,
            budget_micros=budget,
            refused=False,
            now=now,
        )

    @asynccontextmanager
    async def _budget_refusals(self, guild_id: int, now: float) -> AsyncIterator[list[Standing]]:
        """Around create_job's transaction: when the server's budget (not a member's own limit) refused the
        job, the budget is used up: its 100 % alert is written, in a small transaction after the rollback."""
        refused: list[Standing] = []
        try:
            yield refused
        except QuotaRefused:
            if refused:
                standing = refused[0]
                budget = standing.limits.budget_micros
                assert budget is not None  # refused by the budget
                try:
                    async with self._db.transaction() as session:
                        written = await spend_alerts.record(
                            session,
                            guild_id=guild_id,
                            period=period_bounds(standing.limits.period, dt.datetime.fromtimestamp(now, dt.UTC)),
                            thresholds=used_up(standing.guild_spent_micros, budget),
                            spent_micros=standing.guild_spent_micros,
                            budget_micros=budget,
                            refused=True,
                            now=now,
                        )
                except Exception as exc:  # the member's refusal is what matters here; the next one alerts
                    log.warning(
                        "guild=%s: could not record the budget's alert (%s: %s)", guild_id, type(exc).__name__, exc
                    )
                else:
                    if written and self._on_spend_alert is not None:
                        self._on_spend_alert()
            raise

    # -- the waiting line -------------------------------------------------------------------------------

    async def promote(self, guild_id: int, defaults: Limits) -> list[Job]:
        """Start the server's waiting jobs that have a slot now (fair order: bot/domain/waiting_line.py);
        returns them, now `pending`. Under the server's quota lock, like create_job, so the counts cannot
        change under it, and each job's write is `WHERE state = 'waiting'`: whichever processes call this
        at once, a waiting job is started exactly once. Its owner is told (a notice on PostgreSQL)."""
        async with self._db.transaction() as session:
            await session.lock(f"quota:{guild_id}")
            return await self._promote(session, guild_id, defaults, self._clock())

    async def waiting_guilds(self) -> list[int]:
        """The servers with jobs in the waiting line (the heartbeat moves each: a lost wake-up strands none)."""
        async with self._db.reading() as session:
            rows = await session.fetch_all("SELECT DISTINCT guild_id FROM jobs WHERE state = 'waiting'")
        return sorted(int(r["guild_id"]) for r in rows)

    async def place_in_line(self, job: Job, defaults: Limits) -> Place:
        """Where a waiting job stands (its progress message)."""
        async with self._db.reading() as session:
            rules = await ledger.limits(session, job.guild_id, defaults)
            waiting, running, last_start = await _line(session, job.guild_id)
        me = Waiting(job.id, job.user_id, job.created_at)
        return place(me, waiting, running, sum(running.values()), rules.max_jobs_per_member, last_start)

    async def _promote(self, session: Session, guild_id: int, defaults: Limits, now: float) -> list[Job]:
        waiting, running, last_start = await _line(session, guild_id)
        if not waiting:
            return []
        rules = await ledger.limits(session, guild_id, defaults)
        chosen = to_start(
            waiting, running, sum(running.values()), rules.max_jobs_per_member, rules.max_jobs_per_guild, last_start
        )
        promoted = []
        for turn, job_id in enumerate(chosen):
            # A microsecond apart: the order of this round's starts decides the next round's.
            row = await session.fetch_one(
                "UPDATE jobs SET state = ?, started_at = ?, updated_at = ? WHERE id = ? AND state = ? "
                f"RETURNING {_JOB_COLUMNS}",
                JobState.PENDING.value,
                now + turn * 1e-6,
                now,
                job_id,
                JobState.WAITING.value,
            )
            if row is not None:
                promoted.append(_job(row))
                await self._notify(session, f"promoted:{job_id}")
        return promoted

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

    async def update_job(
        self,
        job_id: int,
        state: JobState | None = None,
        *,
        owner: str | None = None,
        expect: JobState | None = None,
        **fields: Any,
    ) -> Job:
        """Write a state change (and the facts that come with it) before the caller acts on it; returns the
        job as it now is. With an owner, fenced: raises LeaseLost, writing nothing, when the job is
        unfinished and another process holds it (a finished job's other facts may be written by any).
        With expect, only from that state (a waiting job's cancel loses to its promotion): otherwise the
        job is returned as it is, unchanged."""
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
        fence: tuple[Any, ...] = ()
        if expect is not None:
            where += " AND state = ?"
            fence = (expect.value,)
        if owner is not None:
            where += f" AND (lease_owner = ? OR state IN {_FINISHED_SQL})"
            fence += (owner,)
        async with self._db.transaction() as session:
            row = await session.fetch_one(
                f"UPDATE jobs SET {', '.join(assignments)} WHERE {where} RETURNING {_JOB_COLUMNS}",
                *values,
                job_id,
                *fence,
            )
            if row is None:  # it had already ended (it stays as it is), or it is another process's
                row = await session.fetch_one(f"SELECT {_JOB_COLUMNS}, lease_owner FROM jobs WHERE id = ?", job_id)
                assert row is not None, f"no job {job_id}"
                holder = row.pop("lease_owner")
                if owner is not None and row["state"] not in _FINISHED and expect is None:
                    raise LeaseLost(job_id, owner, holder)
            elif state in (JobState.FAILED, JobState.CANCELLED):
                await ledger.settle(session, job_id, "refund", now)
                if state is JobState.CANCELLED and owner is None:
                    await self._notify(session, f"cancelled:{job_id}")  # its owner stops its task
        return _job(row)

    async def mark_delivered(
        self,
        job: Job,
        video: Video,
        final_text: str | None = None,
        *,
        owner: str | None = None,
        final_pattern: str | None = None,
    ) -> Job:
        """Record the posted video and finish the job in one transaction: never one without the other. Raises
        JobAlreadyFinished, writing nothing, for a job that has already ended (delivered, or refunded); with
        an owner, LeaseLost, writing nothing, when another process holds the job."""
        fence = " AND lease_owner = ?" if owner is not None else ""
        async with self._db.transaction() as session:
            now = self._clock()
            row = await session.fetch_one(
                "UPDATE jobs SET state = ?, video_message_id = ?, updated_at = ?, finished_at = ?, final_text = ?, "
                f"final_pattern = ? WHERE id = ? AND state NOT IN {_FINISHED_SQL}{fence} RETURNING {_JOB_COLUMNS}",
                JobState.DELIVERED.value,
                video.message_id,
                now,
                now,
                final_text,
                final_pattern,
                job.id,
                *((owner,) if owner is not None else ()),
            )
            if row is None:
                current = await session.fetch_one("SELECT state, lease_owner FROM jobs WHERE id = ?", job.id)
                if owner is not None and current is not None and current["state"] not in _FINISHED:
                    raise LeaseLost(job.id, owner, current["lease_owner"])
                raise JobAlreadyFinished(job.id)
            await videos.add(session, video)
            await ledger.settle(session, job.id, "commit", now)
        return _job(row)

    # -- leases ---------------------------------------------------------------------------------------

    @property
    def exclusive(self) -> bool:
        """One process per database (SQLite: a second process on the file is refused): at a start, every
        unfinished job is an orphan of the process before, whatever its lease says."""
        return self._db.engine == "sqlite"

    async def claim(self, owner: str, lease_seconds: float, limit: int = 100, *, orphans: bool = False) -> list[Job]:
        """Take up to `limit` unfinished jobs that nobody holds (never leased, released, or their owner's
        lease expired: it died), in id order; returns them, now `owner`'s until now + lease_seconds.
        orphans: take every unfinished job whoever holds it (a start on an `exclusive` database)."""
        now = self._clock()
        claimable, since = _claimable(owner, now, orphans)
        async with self._db.transaction() as session:  # several processes may claim at once: claims.py
            rows = await claim_rows(
                session,
                self._db.engine,
                table="jobs",
                claim=("lease_owner", "lease_expires_at"),
                where=claimable,
                args=since,
                owner=owner,
                until=now + lease_seconds,
                limit=limit,
                returning=_JOB_COLUMNS,
            )
        return sorted((_job(r) for r in rows), key=lambda j: j.id)

    async def any_claimable(self, owner: str, *, orphans: bool = False) -> bool:
        """Whether claim() would take anything: a read, so that a heartbeat with nothing to take writes
        nothing (on SQLite a write takes the file's one write lock)."""
        claimable, since = _claimable(owner, self._clock(), orphans)
        async with self._db.reading() as session:
            row = await session.fetch_one(f"SELECT id FROM jobs WHERE {claimable} LIMIT 1", *since)
        return row is not None

    async def renew(self, owner: str, lease_seconds: float, shards: str | None = None) -> set[int]:
        """The heartbeat: extend every unfinished job `owner` holds (one UPDATE) and its process row;
        returns the ids of the jobs it still holds (those missing were taken over, or have ended)."""
        now = self._clock()
        async with self._db.transaction() as session:
            rows = await session.fetch_all(
                f"UPDATE jobs SET lease_expires_at = ? WHERE lease_owner = ? AND state NOT IN {_FINISHED_SQL} "
                "RETURNING id",
                now + lease_seconds,
                owner,
            )
            await session.execute(
                "INSERT INTO processes (id, shards, started_at, heartbeat_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, stopped_at = NULL",
                owner,
                shards,
                now,
                now,
            )
        return {int(r["id"]) for r in rows}

    async def release(self, owner: str) -> int:
        """A clean stop: give up every unfinished job `owner` holds, so a live process claims them at once
        (told by a notice on PostgreSQL), and mark its process stopped; returns how many were released."""
        now = self._clock()
        async with self._db.transaction() as session:
            released = await session.execute(
                "UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL "
                f"WHERE lease_owner = ? AND state NOT IN {_FINISHED_SQL}",
                owner,
            )
            await session.execute(
                "INSERT INTO processes (id, started_at, heartbeat_at, stopped_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET stopped_at = excluded.stopped_at",  # a row, even before a beat
                owner,
                now,
                now,
                now,
            )
            if released:
                await self._notify(session, "released")
        return released

    async def holder(self, job_id: int) -> str | None:
        """Who holds the job's lease now (None: nobody)."""
        async with self._db.reading() as session:
            return await session.fetch_value("SELECT lease_owner FROM jobs WHERE id = ?", job_id)  # type: ignore[no-any-return]

    async def leased_jobs(self, owner: str) -> list[Job]:
        """The unfinished jobs `owner` holds (/status: jobs owned)."""
        async with self._db.reading() as session:
            rows = await session.fetch_all(
                f"SELECT {_JOB_COLUMNS} FROM jobs WHERE lease_owner = ? AND state NOT IN {_FINISHED_SQL} ORDER BY id",
                owner,
            )
        return [_job(r) for r in rows]

    async def live_processes(self, within: float) -> list[Row]:
        """Processes not stopped whose last heartbeat is at most `within` seconds old, with how many
        unfinished jobs each holds (for /status)."""
        async with self._db.reading() as session:
            return await session.fetch_all(
                "SELECT p.id, p.shards, p.started_at, p.heartbeat_at, "
                f"(SELECT COUNT(*) FROM jobs j WHERE j.lease_owner = p.id AND j.state NOT IN {_FINISHED_SQL}) AS jobs "
                "FROM processes p WHERE p.stopped_at IS NULL AND p.heartbeat_at >= ? ORDER BY p.id",
                self._clock() - within,
            )

    async def listen(self, callback: Callable[[str], None]) -> bool:
        """Be told the notices (NOTICES) other processes send; False when the engine has none (SQLite: one
        process per file, nobody else to hear from)."""
        listen = getattr(self._db, "listen", None)
        if listen is None:
            return False
        await listen(NOTICES, callback)
        return True

    async def _notify(self, session: Session, payload: str) -> None:
        """A notice to the other processes, sent when this transaction commits (PostgreSQL only)."""
        if self._db.engine == "postgresql":
            await session.execute("SELECT pg_notify(?, ?)", NOTICES, payload)


async def _line(session: Session, guild_id: int) -> tuple[list[Waiting], dict[int, int], dict[int, float]]:
    """A server's waiting line: its waiting jobs, each member's videos in progress, and when each waiting
    member last had a video started."""
    rows = await session.fetch_all(
        "SELECT id, user_id, created_at FROM jobs WHERE guild_id = ? AND state = ? ORDER BY created_at, id",
        guild_id,
        JobState.WAITING.value,
    )
    waiting = [Waiting(int(r["id"]), int(r["user_id"]), float(r["created_at"])) for r in rows]
    counts = await session.fetch_all(
        f"SELECT user_id, COUNT(*) AS n FROM jobs WHERE guild_id = ? AND state NOT IN {_NOT_RUNNING_SQL} "
        "GROUP BY user_id",
        guild_id,
    )
    running = {int(r["user_id"]): int(r["n"]) for r in counts}
    members = sorted({w.user_id for w in waiting})
    last_start: dict[int, float] = {}
    if members:
        starts = await session.fetch_all(
            "SELECT user_id, MAX(started_at) AS at FROM jobs WHERE guild_id = ? AND started_at IS NOT NULL "
            f"AND user_id IN ({', '.join('?' for _ in members)}) GROUP BY user_id",
            guild_id,
            *members,
        )
        last_start = {int(r["user_id"]): float(r["at"]) for r in starts}
    return waiting, running, last_start


def _claimable(owner: str, now: float, orphans: bool) -> tuple[str, tuple[object, ...]]:
    """The WHERE of a claim and its values: unfinished jobs whose lease is free or has run out; orphans:
    every unfinished job but the owner's own (a claim in batches must not take them again)."""
    if orphans:
        return f"state NOT IN {_FINISHED_SQL} AND (lease_owner IS NULL OR lease_owner <> ?)", (owner,)
    return _CLAIMABLE, (now,)


def _job(row: Row) -> Job:
    data = dict(row)
    spec = VideoSpec(**{name: data.pop(name) for name in VideoSpec.model_fields})
    data["arguments"] = json.loads(data["arguments"])
    result_json = data.pop("result_json")
    data["result"] = json.loads(result_json) if result_json else None
    pattern = data.pop("final_pattern", None)
    job = Job(spec=spec, **data)
    if pattern and job.final_text is not None:
        try:  # set past validation, which would make the Text a plain str
            return job.model_copy(update={"final_text": text.load(pattern)})
        except (ValueError, TypeError, KeyError):
            log.warning("job=%s final text pattern unreadable; shown as stored", job.id)
    return job
