"""Running the bot as a service: the fal backend (fal's queue, or the simulation), metrics, the health
file, the owner's /status and /help. App owns the job pipeline; this owns what an operator looks at."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import time
from dataclasses import dataclass, field

import aiohttp
import aiosqlite
import fal_client

from bot.config import ConfigurationError, Settings
from bot.discord.client import SoraBot
from bot.domain import quota_texts
from bot.fal.backend import FalBackend
from bot.fal.queue import FalQueue
from bot.fal.simulated.queue import SimulatedFal
from bot.jobs.runner import JobRunner
from bot.jobs.transcode import find_ffmpeg
from bot.ops.fal_timing import TimedFal
from bot.ops.health import HeartbeatFile, heartbeat_path
from bot.ops.help_page import HelpService
from bot.ops.metrics import Metrics, discord_trace
from bot.ops.metrics_server import MetricsServer
from bot.ops.quota import QuotaService
from bot.ops.status_report import StatusService, version
from bot.storage.job_stats import JobStats
from bot.storage.store import Store

log = logging.getLogger(__name__)

@dataclass
class Operations:
    settings: Settings
    metrics: Metrics
    fal: TimedFal
    simulated: SimulatedFal | None
    stats: JobStats
    started_at: float
    _bot: SoraBot | None = None
    _runner: JobRunner | None = None
    _quotas: QuotaService | None = None
    _servers: list[MetricsServer] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    async def create(cls, settings: Settings, conn: aiosqlite.Connection, http: aiohttp.ClientSession) -> Operations:
        metrics = Metrics()
        metrics.info.info({"version": version(), "backend": settings.fal_backend})
        simulated = None
        if settings.fal_backend == "simulated":
            simulated = SimulatedFal(
                settings.database_path.parent / "simulated",
                find_ffmpeg(),
                queue_seconds=settings.simulated_queue_seconds,
                run_seconds=settings.simulated_run_seconds,
            )
            await simulated.start()
            backend: FalBackend = simulated
            log.warning("FAL_BACKEND=simulated: videos are test patterns made locally; fal is never called")
        else:
            assert settings.fal_key is not None  # Settings requires it unless simulated
            backend = FalQueue(
                fal_client.AsyncClient(key=settings.fal_key.get_secret_value()),
                http=http,
                platform_url=settings.fal_platform_url,
            )
        return cls(settings, metrics, TimedFal(backend, metrics), simulated, JobStats(conn), time.time())

    def discord_trace(self) -> aiohttp.TraceConfig:
        return discord_trace(self.metrics.count_rate_limit)

    def attach(self, bot: SoraBot, runner: JobRunner, quotas: QuotaService) -> None:
        self._bot = bot
        self._runner = runner
        self._quotas = quotas

    def help_service(self) -> HelpService:
        assert self._quotas is not None, "attach() first"
        quotas = self._quotas

        async def quota_lines(guild_id: int, user_id: int) -> list[str]:
            return quota_texts.help_lines(await quotas.usage(guild_id, user_id))

        return HelpService(simulated=self.simulated is not None, quota_lines=quota_lines)

    def status_service(self) -> StatusService:
        assert self._runner is not None, "attach() first"
        runner = self._runner
        return StatusService(
            self.stats,
            self.fal,
            self.metrics,
            backend=self.settings.fal_backend,
            active_jobs=lambda: runner.active,
            gateway_latency=self._gateway_latency,
            started_at=self.started_at,
        )

    async def start(self) -> None:
        assert self._bot is not None, "attach() first"
        max_age = self.settings.health_max_age_seconds
        heartbeat = HeartbeatFile(
            heartbeat_path(self.settings.database_path), self._bot.last_heartbeat_ack, min(15.0, max_age / 4)
        )
        heartbeat.clear()
        self._tasks.append(asyncio.create_task(heartbeat.run(), name="health-heartbeat"))
        if self.settings.metrics_port is not None:
            host, port = self.settings.metrics_host, self.settings.metrics_port
            server = MetricsServer(self.metrics, self._refresh, host, port)
            self._servers.append(server)  # close() cleans up a half-started server too
            try:
                await server.start()
            except OSError as exc:
                raise ConfigurationError(
                    f"METRICS_PORT {port} cannot be opened on {host} ({os.strerror(exc.errno) if exc.errno else exc}): "
                    "choose a free port, or unset METRICS_PORT"
                ) from None

    async def close(self, store: Store) -> None:
        """After the runner stopped: say where each unfinished job was left, then stop serving."""
        for job in await store.unfinished_jobs():
            log.info(
                "job=%s guild=%s user=%s state=%s kept for the next start", job.id, job.guild_id, job.user_id, job.state
            )
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for server in self._servers:
            await server.close()
        if self.simulated is not None:
            await self.simulated.close()

    def _gateway_latency(self) -> float | None:
        latency = self._bot.latency if self._bot is not None else math.inf
        return latency if math.isfinite(latency) else None

    async def _refresh(self) -> None:
        self.metrics.set_jobs(await self.stats.by_state())
        latency = self._gateway_latency()
        if latency is not None:
            self.metrics.gateway_latency.set(latency)
