"""Metrics: fal call and job-phase timing through TimedFal, Discord 429s through a real aiohttp trace,
spend by guild, and the exposition text."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp import web

from bot.fal.backend import QueueStatus
from bot.ops.fal_timing import TimedFal
from bot.ops.metrics import Metrics, discord_trace


class ScriptedFal:
    """A FalBackend whose status answers follow a script (a test double of the protocol, not of our code)."""

    def __init__(self, answers: list[QueueStatus]) -> None:
        self.answers = answers

    async def submit(self, endpoint: str, arguments: dict[str, Any], *, webhook_url: str | None = None) -> str:
        return "req-1"

    async def status(self, endpoint: str, request_id: str) -> QueueStatus:
        return self.answers.pop(0)

    async def result(self, endpoint: str, request_id: str) -> dict[str, Any]:
        return {}

    async def cancel(self, endpoint: str, request_id: str) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels or None)


async def test_queue_and_generation_time_come_from_the_status_answers():
    clock, metrics = Clock(), Metrics()
    fal = TimedFal(
        ScriptedFal(
            [
                QueueStatus("queued", position=0),
                QueueStatus("running"),
                QueueStatus("running"),
                QueueStatus("completed"),
            ]
        ),
        metrics,
        clock=clock,
    )
    request_id = await fal.submit("e", {})
    for step in (5.0, 7.0, 30.0, 40.0):
        clock.now = step
        await fal.status("e", request_id)
    assert value(metrics, "sora_fal_queue_seconds_count") == 1.0
    assert value(metrics, "sora_fal_queue_seconds_sum") == 7.0  # submit at 0, first seen running at 7
    assert value(metrics, "sora_generation_seconds_sum") == 33.0  # running at 7, completed at 40
    assert value(metrics, "sora_fal_call_seconds_count", call="status") == 4.0
    assert fal.recent_latency() == 0.0


async def test_a_failed_job_counts_no_generation_time():
    metrics = Metrics()
    fal = TimedFal(ScriptedFal([QueueStatus("running"), QueueStatus("completed", error="x")]), metrics)
    request_id = await fal.submit("e", {})
    await fal.status("e", request_id)
    await fal.status("e", request_id)
    assert value(metrics, "sora_generation_seconds_count") == 0.0


async def test_discord_429s_are_counted_by_scope():
    async def limited(request: web.Request) -> web.Response:
        scope = request.query.get("scope")
        headers = {"Retry-After": "1"} | ({"X-RateLimit-Scope": scope} if scope else {})
        return web.json_response({"message": "You are being rate limited."}, status=429, headers=headers)

    app = web.Application()
    app.router.add_get("/", limited)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    metrics = Metrics()
    try:
        async with aiohttp.ClientSession(trace_configs=[discord_trace(metrics.count_rate_limit)]) as http:
            for query in ("?scope=global", "?scope=user", ""):
                async with http.get(f"http://127.0.0.1:{port}/{query}") as response:
                    assert response.status == 429
    finally:
        await runner.cleanup()
    assert value(metrics, "sora_discord_rate_limited_total", scope="global") == 1.0
    assert value(metrics, "sora_discord_rate_limited_total", scope="user") == 2.0
    assert metrics.rate_limited_total() == 3


def test_spend_by_guild_and_jobs_by_state_are_exported():
    metrics = Metrics()
    metrics.record_spend(42, 0.8)
    metrics.record_spend(42, 0.4)
    metrics.record_spend(7, 0.0)  # nothing spent: no series for it
    metrics.set_jobs({"delivered": 3})
    text = metrics.render().decode()
    assert 'sora_spend_usd_total{guild="42"} 1.2' in text
    assert 'guild="7"' not in text
    assert 'sora_jobs{state="delivered"} 3.0' in text and 'sora_jobs{state="queued"} 0.0' in text
