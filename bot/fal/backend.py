"""What the job runner needs from a fal backend: fal's real queue (queue.py FalQueue) or the local
simulation (simulated/queue.py SimulatedFal). Both raise the typed errors of errors.py."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable


@dataclass(frozen=True)
class QueueStatus:
    state: Literal["queued", "running", "completed"]
    position: int | None = None  # 0-based, as fal reports it
    logs: list[str] = field(default_factory=list)
    error: str | None = None
    error_type: str | None = None


class FalBackend(Protocol):
    async def submit(self, endpoint: str, arguments: dict[str, Any], *, webhook_url: str | None = None) -> str:
        """Queue a request, sent once; returns its request id. With a webhook_url fal posts the outcome
        there when the request ends (a backend without webhooks ignores it). Raises FalRefused (422),
        FalUnavailable with fal's status (it did not take the request), or FalAnswerLost (it may have)."""

    async def find_request(self, endpoint: str, arguments: dict[str, Any], since: float) -> list[str]:
        """Request ids with exactly these arguments sent since `since`, oldest first (a lost submit found
        again). Raises FalLookupRefused when the backend cannot list requests, FalUnavailable to retry."""

    async def status(self, endpoint: str, request_id: str) -> QueueStatus:
        """Where the request is; raises FalResultGone for an unknown or expired request."""

    async def result(self, endpoint: str, request_id: str) -> dict[str, Any]:
        """fal's result JSON of a completed request: {"video": {...}, "video_id": ...} or {"id", "name"}."""

    async def cancel(self, endpoint: str, request_id: str) -> bool:
        """Ask to stop a request that has not started; True when the request was accepted."""


@runtime_checkable
class StatusStreaming(Protocol):
    """A backend that can push a request's status (fal's status stream); one without it is polled."""

    def stream(self, endpoint: str, request_id: str) -> AsyncGenerator[QueueStatus, None]:
        """Each change of the request's status as it comes, ending after "completed". Raises only
        FalStreamBroken (the caller polls instead)."""


class StreamingFalBackend(FalBackend, StatusStreaming, Protocol):
    """A FalBackend that also streams statuses (FalQueue)."""
