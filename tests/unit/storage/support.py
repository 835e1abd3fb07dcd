"""What the storage tests share: a request to store, a member's reservation of it, and a clock that moves a
little at every reading."""

from __future__ import annotations

from bot.domain.models import Job, VideoSpec
from bot.domain.quota import Limits
from bot.storage.jobs import JobStore, Reservation

SPEC = VideoSpec(kind="text_to_video", prompt="p", model="sora-2", duration=4, aspect_ratio="16:9", resolution="720p")


class Clock:
    def __init__(self, start: float = 1_000_000.0, step: float = 0.5) -> None:
        self.now = start
        self._step = step

    def __call__(self) -> float:
        self.now += self._step  # every write a little later: created_at orders the jobs
        return self.now


async def reserve(store: JobStore, guild_id: int, user_id: int, limits: Limits, micros: int) -> Job:
    """A member's job accepted with its cost reserved under the server's limits, held by process "A"."""
    return await store.create_job(
        SPEC,
        guild_id=guild_id,
        channel_id=2,
        user_id=user_id,
        endpoint="fal-ai/sora-2/text-to-video",
        arguments={"prompt": "p"},
        cost_usd=micros / 1_000_000,
        owner="A",
        reservation=Reservation(micros, limits, "video"),
    )
