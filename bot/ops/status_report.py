"""What the owner's /status shows: version, uptime, jobs by state, fal and Discord latency."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata

from bot.ops.fal_timing import TimedFal
from bot.ops.metrics import Metrics
from bot.storage.job_stats import JobStats

DISTRIBUTION = "sora-discord-bot"


def version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


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
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._stats = stats
        self._fal = fal
        self._metrics = metrics
        self._backend = backend
        self._active_jobs = active_jobs
        self._gateway_latency = gateway_latency
        self._started_at = started_at
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
        )


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


def milliseconds(seconds: float | None, missing: str) -> str:
    if seconds is None or not math.isfinite(seconds):
        return missing
    return f"{seconds * 1000:.0f} ms"
