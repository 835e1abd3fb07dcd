"""What the owner's /status shows: version, uptime, jobs by state, fal and Discord latency, and the live
processes on the database (their shards, the jobs they hold, their last heartbeat)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata

from bot.ops.fal_timing import TimedFal
from bot.ops.metrics import Metrics
from bot.storage.job_stats import JobStats
from bot.storage.jobs import JobStore

DISTRIBUTION = "sora-discord-bot"


def version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


@dataclass(frozen=True)
class ProcessStatus:
    """One live bot process on the database."""

    id: str  # the lease owner: host:pid:random
    shards: str | None  # "0-1 of 4", "all"
    jobs: int  # unfinished jobs it holds
    heartbeat_age: float | None  # seconds since its last heartbeat; None: none yet (just started)
    this: bool = False  # the process answering /status

    @property
    def short_id(self) -> str:
        """host:pid, the host cut to 20 characters (a container's id, a long FQDN)."""
        host, _, rest = self.id.partition(":")
        pid = rest.partition(":")[0]
        host = host if len(host) <= 20 else host[:19] + "…"
        return f"{host}:{pid}" if pid else host


@dataclass(frozen=True)
class StatusReport:
    version: str
    backend: str
    uptime_seconds: float
    jobs_by_state: dict[str, int]
    active_jobs: int
    fal_latency: float | None
    discord_latency: float | None
    discord_429s: int
    processes: list[ProcessStatus] = field(default_factory=list)  # this process first


@dataclass(frozen=True)
class Processes:
    """Where the live processes are read from: the leases' store, this process's owner id and shards,
    and the lease (a process is live when it beat within two leases)."""

    jobs: JobStore
    owner: str
    shards: str | None
    lease_seconds: float


class StatusService:
    def __init__(
        self,
        stats: JobStats,
        fal: TimedFal,
        metrics: Metrics,
        *,
        backend: str,
        active_jobs: Callable[[], int],
        gateway_latency: Callable[[], float | None],
        started_at: float,
        processes: Processes | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._stats = stats
        self._fal = fal
        self._metrics = metrics
        self._backend = backend
        self._active_jobs = active_jobs
        self._gateway_latency = gateway_latency
        self._started_at = started_at
        self._processes = processes
        self._clock = clock

    async def report(self) -> StatusReport:
        return StatusReport(
            version=version(),
            backend=self._backend,
            uptime_seconds=self._clock() - self._started_at,
            jobs_by_state=await self._stats.by_state(),
            active_jobs=self._active_jobs(),
            fal_latency=self._fal.recent_latency(),
            discord_latency=self._gateway_latency(),
            discord_429s=self._metrics.rate_limited_total(),
            processes=await self.live_processes(),
        )

    async def live_processes(self) -> list[ProcessStatus]:
        """Every process that beat within two leases, this one first (listed before its first heartbeat
        too: on SQLite it is the only one)."""
        where = self._processes
        if where is None:
            return []
        now = self._clock()
        found = [
            ProcessStatus(
                str(row["id"]),
                row["shards"],
                int(row["jobs"]),
                now - float(row["heartbeat_at"]),
                this=row["id"] == where.owner,
            )
            for row in await where.jobs.live_processes(within=2 * where.lease_seconds)
        ]
        if not any(process.this for process in found):
            held = len(await where.jobs.leased_jobs(where.owner))
            found.append(ProcessStatus(where.owner, where.shards, held, None, this=True))
        return sorted(found, key=lambda process: (not process.this, process.id))


def shards_label(shard_ids: Sequence[int] | None, shard_count: int | None) -> str:
    """What this process serves: "all" (unsharded), "0-1 of 4", "0,2 of 4", "0-1,4 of 8"; every shard
    when SHARD_IDS is unset ("0-3 of 4")."""
    if shard_count is None:
        return "all"
    ids = sorted(set(shard_ids)) if shard_ids is not None else list(range(shard_count))
    ranges: list[list[int]] = []
    for shard in ids:
        if ranges and shard == ranges[-1][1] + 1:
            ranges[-1][1] = shard
        else:
            ranges.append([shard, shard])
    parts = [str(low) if low == high else f"{low}-{high}" for low, high in ranges]
    return f"{','.join(parts)} of {shard_count}"


def duration(seconds: float) -> str:
    """'3 d 4 h', '2 h 5 min', '7 min 3 s', '12 s'."""
    seconds = int(max(seconds, 0))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def process_line(process: ProcessStatus) -> str:
    """`host:pid` (this one) · shards 0-1 of 4 · 3 jobs · 3 s ago"""
    this = " (this one)" if process.this else ""
    jobs = "1 job" if process.jobs == 1 else f"{process.jobs} jobs"
    return f"`{process.short_id}`{this} · shards {process.shards or '?'} · {jobs} · {ago(process.heartbeat_age)}"


def processes_text(processes: Sequence[ProcessStatus], limit: int = 1024) -> str:
    """One line per process, within `limit` characters (an embed field's value: 1,024): a long list is
    cut, its last line saying "… and N more"."""
    lines = [process_line(process) for process in processes]
    shown: list[str] = []
    for index, line in enumerate(lines):
        left = len(lines) - index - 1
        tail = f"\n… and {left} more" if left else ""
        if len("\n".join([*shown, line]) + tail) <= limit:
            shown.append(line)
            continue
        more = f"… and {len(lines) - len(shown)} more"
        while shown and len("\n".join([*shown, more])) > limit:
            shown.pop()
            more = f"… and {len(lines) - len(shown)} more"
        return "\n".join([*shown, more])
    return "\n".join(shown) or "none"


def ago(seconds: float | None) -> str:
    """'3 s ago', '2 min 5 s ago'; 'no heartbeat yet'."""
    return "no heartbeat yet" if seconds is None else f"{duration(seconds)} ago"


def milliseconds(seconds: float | None, missing: str) -> str:
    if seconds is None or not math.isfinite(seconds):
        return missing
    return f"{seconds * 1000:.0f} ms"
