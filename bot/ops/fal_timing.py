"""A FalBackend that times what passes through it: each call to fal (latency for /status and the
metrics), and each job's time in fal's queue and in generation, read from the status answers the job
runner already asks for, so timing needs no hook in the runner."""

from __future__ import annotations

import statistics
import time
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, TypeVar

from bot.fal.backend import FalBackend, QueueStatus, StatusStreaming, StreamingFalBackend
from bot.ops.metrics import Metrics

T = TypeVar("T")
TRACKED_MAX = 10_000  # jobs whose phases we remember; the oldest go first if jobs vanish untracked


class TimedFal:
    def __init__(self, inner: FalBackend, metrics: Metrics, clock: Callable[[], float] = time.monotonic) -> None:
        self._inner = inner
        self._metrics = metrics
        self._clock = clock
        self._submitted: dict[str, float] = {}
        self._started: dict[str, float] = {}
        self._recent: deque[float] = deque(maxlen=50)

    @property
    def simulated(self) -> bool:
        return bool(getattr(self._inner, "simulated", False))

    def recent_latency(self) -> float | None:
        """Median duration of the last calls to fal, in seconds (None before the first call)."""
        return statistics.median(self._recent) if self._recent else None

    async def submit(self, endpoint: str, arguments: dict[str, Any], *, webhook_url: str | None = None) -> str:
        request_id = await self._timed("submit", self._inner.submit(endpoint, arguments, webhook_url=webhook_url))
        if len(self._submitted) >= TRACKED_MAX:
            self._submitted.pop(next(iter(self._submitted)))
        self._submitted[request_id] = self._clock()
        return request_id

    async def find_request(self, endpoint: str, arguments: dict[str, Any], since: float) -> list[str]:
        return await self._timed("find", self._inner.find_request(endpoint, arguments, since))

    async def status(self, endpoint: str, request_id: str) -> QueueStatus:
        status = await self._timed("status", self._inner.status(endpoint, request_id))
        self._observe(request_id, status)
        return status

    def _observe(self, request_id: str, status: QueueStatus) -> None:
        """A job's time in the queue and in generation, from the statuses it passes through."""
        now = self._clock()
        if status.state == "running" and request_id not in self._started:
            if len(self._started) >= TRACKED_MAX:
                self._started.pop(next(iter(self._started)))
            self._started[request_id] = now
            submitted = self._submitted.pop(request_id, None)
            if submitted is not None:  # unknown after a restart: better no figure than a wrong one
                self._metrics.fal_queue_seconds.observe(now - submitted)
        elif status.state == "completed":
            self._submitted.pop(request_id, None)
            started = self._started.pop(request_id, None)
            if started is not None and status.error is None:
                self._metrics.generation_seconds.observe(now - started)

    async def result(self, endpoint: str, request_id: str) -> dict[str, Any]:
        return await self._timed("result", self._inner.result(endpoint, request_id))

    async def cancel(self, endpoint: str, request_id: str) -> bool:
        cancelled = await self._timed("cancel", self._inner.cancel(endpoint, request_id))
        if cancelled:
            self._submitted.pop(request_id, None)
            self._started.pop(request_id, None)
        return cancelled

    async def _timed(self, call: str, awaitable: Awaitable[T]) -> T:
        began = self._clock()
        try:
            return await awaitable
        finally:
            elapsed = self._clock() - began
            self._recent.append(elapsed)
            self._metrics.fal_call_seconds.labels(call=call).observe(elapsed)


class TimedStreamingFal(TimedFal):
    """TimedFal over a backend that streams statuses: the runner sees the stream (a TimedFal alone would
    hide it, and every job would poll), and each streamed status is timed as a polled one is."""

    def __init__(
        self, inner: StreamingFalBackend, metrics: Metrics, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(inner, metrics, clock)
        self._streaming = inner

    async def stream(self, endpoint: str, request_id: str) -> AsyncGenerator[QueueStatus, None]:
        async for status in self._streaming.stream(endpoint, request_id):
            self._observe(request_id, status)
            yield status


def timed(inner: FalBackend, metrics: Metrics) -> TimedFal:
    """The timing wrapper that keeps what the backend can do: streaming backends stay streaming."""
    if isinstance(inner, StatusStreaming):
        return TimedStreamingFal(inner, metrics)
    return TimedFal(inner, metrics)
