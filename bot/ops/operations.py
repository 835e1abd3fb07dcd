"""Running the bot as a service: the gateway heartbeat file, the /metrics endpoint, closing the
simulation, and a last word on each unfinished job. bot/app.py builds its parts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
from dataclasses import dataclass, field

from bot.config import ConfigurationError, Settings
from bot.discord.client import SoraBot
from bot.domain.models import Job
from bot.fal.simulated.queue import SimulatedFal
from bot.ops.health import HeartbeatFile, heartbeat_path
from bot.ops.metrics import Metrics
from bot.ops.metrics_server import MetricsServer
from bot.storage.job_stats import JobStats

log = logging.getLogger(__name__)


@dataclass
class Operations:
    settings: Settings
    metrics: Metrics
    simulated: SimulatedFal | None
    stats: JobStats
    bot: SoraBot
    _servers: list[MetricsServer] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        max_age = self.settings.health_max_age_seconds
        heartbeat = HeartbeatFile(
            heartbeat_path(self.settings.database_path), self.bot.last_heartbeat_ack, min(15.0, max_age / 4)
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

    async def close(self, kept: list[Job], *, shared: bool = False) -> None:
        """After the runner stopped: say where each unfinished job of this process's was left (`kept`: the
        jobs it held, released by the runner; other processes' jobs are theirs to report), then stop
        serving. shared: other processes may run on the database (PostgreSQL), one may take them at once."""
        after = "taken over by another live process, or at the next start" if shared else "resumed at the next start"
        for job in kept:
            log.info("job=%s guild=%s user=%s state=%s kept: %s", job.id, job.guild_id, job.user_id, job.state, after)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for server in self._servers:
            await server.close()
        if self.simulated is not None:
            await self.simulated.close()

    def gateway_latency(self) -> float | None:
        latency = self.bot.latency
        return latency if math.isfinite(latency) else None

    async def _refresh(self) -> None:
        self.metrics.set_jobs(await self.stats.by_state())
        latency = self.gateway_latency()
        if latency is not None:
            self.metrics.gateway_latency.set(latency)
