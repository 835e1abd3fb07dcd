"""What the storage tests share: a request to store, and a clock that moves a little at every reading."""

from __future__ import annotations

from bot.domain.models import VideoSpec

SPEC = VideoSpec(kind="text_to_video", prompt="p", model="sora-2", duration=4, aspect_ratio="16:9", resolution="720p")


class Clock:
    def __init__(self, start: float = 1_000_000.0, step: float = 0.5) -> None:
        self.now = start
        self._step = step

    def __call__(self) -> float:
        self.now += self._step  # every write a little later: created_at orders the jobs
        return self.now
