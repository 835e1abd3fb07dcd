"""Prometheus metrics, in a registry of their own (never prometheus-client's global one), so each App
and each test counts separately. Served on METRICS_PORT by metrics_server.py when it is set."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest
from prometheus_client.samples import Sample

from bot.domain.models import JobState

# fal calls answer in well under a second; queueing and generation take seconds to many minutes.
CALL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
JOB_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.info = Info("sora_bot", "Version and fal backend of the running bot", registry=r)
        self.jobs = Gauge("sora_jobs", "Jobs by state, read from the database at each scrape", ["state"], registry=r)
        self.fal_call_seconds = Histogram(
            "sora_fal_call_seconds", "Duration of calls to fal's queue API", ["call"], buckets=CALL_BUCKETS, registry=r
        )
        self.fal_queue_seconds = Histogram(
            "sora_fal_queue_seconds", "Time from submit until fal starts a job", buckets=JOB_BUCKETS, registry=r
        )
        self.generation_seconds = Histogram(
            "sora_generation_seconds", "Time fal spends generating a video", buckets=JOB_BUCKETS, registry=r
        )
        self.spend = Counter("sora_spend_usd", "USD committed to fal jobs, by guild", ["guild"], registry=r)
        self.discord_rate_limited = Counter(
            "sora_discord_rate_limited", "Discord answers with HTTP 429, by scope", ["scope"], registry=r
        )
        self.gateway_latency = Gauge(
            "sora_discord_gateway_latency_seconds", "Time between a gateway heartbeat and its ACK", registry=r
        )

    def record_spend(self, guild_id: int, usd: float) -> None:
        """The job runner's on_spend: called when a job's cost is committed (not when it is only reserved)."""
        if usd > 0:
            self.spend.labels(guild=str(guild_id)).inc(usd)

    def count_rate_limit(self, scope: str) -> None:
        self.discord_rate_limited.labels(scope=scope).inc()

    def set_jobs(self, counts: dict[str, int]) -> None:
        # Every state is exported, zeros included, so a query never sees a state vanish.
        for state in JobState:
            self.jobs.labels(state=state.value).set(counts.get(state.value, 0))

    def rate_limited_total(self) -> int:
        return int(sum(sample.value for sample in self._samples("sora_discord_rate_limited_total")))

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def _samples(self, name: str) -> list[Sample]:
        return [s for metric in self.registry.collect() for s in metric.samples if s.name == name]


def discord_trace(on_429: Callable[[str], None]) -> aiohttp.TraceConfig:
    """An aiohttp trace for discord.py's HTTP session (Client(http_trace=...)) that reports every 429.
    discord.py retries them itself and only logs them; this makes them countable."""
    trace = aiohttp.TraceConfig()

    async def on_request_end(
        _session: aiohttp.ClientSession, _context: object, params: aiohttp.TraceRequestEndParams
    ) -> None:
        if params.response.status == 429:
            headers = params.response.headers
            scope = headers.get("X-RateLimit-Scope") or ("global" if headers.get("X-RateLimit-Global") else "user")
            on_429(scope)

    trace.on_request_end.append(on_request_end)
    return trace
