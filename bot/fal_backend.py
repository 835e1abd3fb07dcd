"""What the job runner needs from a fal backend: fal's real queue (bot/fal.py FalQueue) or the local
simulation (bot/simulated.py SimulatedFal). Both raise the typed errors of bot/fal.py."""

from __future__ import annotations

from typing import Any, Protocol

from bot.fal import QueueStatus


class FalBackend(Protocol):
    async def submit(self, endpoint: str, arguments: dict[str, Any]) -> str:
        """Queue a request; returns its request id. Raises FalRefused (422) or FalUnavailable."""

    async def status(self, endpoint: str, request_id: str) -> QueueStatus:
        """Where the request is; raises FalResultGone for an unknown or expired request."""

    async def result(self, endpoint: str, request_id: str) -> dict[str, Any]:
        """fal's result JSON of a completed request: {"video": {...}, "video_id": ...} or {"id", "name"}."""

    async def cancel(self, endpoint: str, request_id: str) -> bool:
        """Ask to stop a request that has not started; True when the request was accepted."""
