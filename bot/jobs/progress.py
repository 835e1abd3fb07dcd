"""The progress message: what it says at each state, and how often it may be edited."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from bot.domain.models import Job
from bot.domain.text import Money, Text
from bot.domain.waiting_line import Place

log = logging.getLogger(__name__)


def headline(job: Job) -> Text:
    """The request at a glance; its cost in the readers' own money format."""
    spec = job.spec
    return Text(
        "🎥 {model} · {duration} s · {aspect} · {resolution} · {cost}",
        model="Sora 2 Pro" if spec.model == "sora-2-pro" else "Sora 2",
        duration=spec.duration,
        aspect=spec.aspect_ratio,
        resolution=spec.resolution,
        cost=Money(round(job.cost_usd * 1_000_000)),
    )


def elapsed(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def queued(job: Job, position: int | None, waited: float) -> str:
    if position is not None:
        return Text(
            "{headline}\n⏳ Queued: position {position} in fal's queue · {elapsed}",
            headline=headline(job), position=position + 1, elapsed=elapsed(waited),
        )  # fmt: skip
    return Text("{headline}\n⏳ Queued: in fal's queue · {elapsed}", headline=headline(job), elapsed=elapsed(waited))


def waiting(job: Job, place: Place) -> str:
    """Where a job in the waiting line stands: behind the member's own videos, or the server's."""
    top, ahead = headline(job), place.ahead
    if place.member_blocked:
        n = place.member_running
        if ahead == 0:
            if n == 1:
                return Text("{headline}\n⏳ Waiting: {count} of your videos is being made; yours is next",
                            headline=top, count=n)  # fmt: skip
            return Text("{headline}\n⏳ Waiting: {count} of your videos are being made; yours is next",
                        headline=top, count=n)  # fmt: skip
        if n == 1:
            return Text("{headline}\n⏳ Waiting: {count} of your videos is being made; {ahead} more of yours before it",
                        headline=top, count=n, ahead=ahead)  # fmt: skip
        return Text("{headline}\n⏳ Waiting: {count} of your videos are being made; {ahead} more of yours before it",
                    headline=top, count=n, ahead=ahead)  # fmt: skip
    if ahead == 0:
        return Text("{headline}\n⏳ Waiting: this server has {count} videos in the making; yours is next",
                    headline=top, count=place.guild_running)  # fmt: skip
    return Text("{headline}\n⏳ Waiting: this server has {count} videos in the making; {ahead} ahead of yours",
                headline=top, count=place.guild_running, ahead=ahead)  # fmt: skip


def submitting(job: Job) -> str:
    return Text("{headline}\n📨 Sending your request to fal…", headline=headline(job))


def finding_submit(job: Job) -> str:
    return Text(
        "{headline}\n🔎 fal's answer was lost on the way; checking whether fal received your request…",
        headline=headline(job),
    )


def retrying_post(job: Job) -> str:
    return Text(
        "{headline}\n⬆️ Discord is not taking uploads right now; your video is kept and will be posted…",
        headline=headline(job),
    )


def generating(job: Job, seconds: float, last_log: str | None) -> str:
    if last_log:
        return Text(
            "{headline}\n🎬 Generating · {elapsed} elapsed\n> {log}",
            headline=headline(job), elapsed=elapsed(seconds), log=last_log.strip()[:150],
        )  # fmt: skip
    return Text("{headline}\n🎬 Generating · {elapsed} elapsed", headline=headline(job), elapsed=elapsed(seconds))


def downloading(job: Job) -> str:
    return Text("{headline}\n⬇️ Downloading the video…", headline=headline(job))


def compressing(job: Job, limit_bytes: int) -> str:
    limit = round(limit_bytes / 2**20)
    return Text("{headline}\n🗜️ Compressing to fit this server's {limit} MiB upload limit…", headline=headline(job),
                limit=limit)  # fmt: skip


def uploading(job: Job) -> str:
    return Text("{headline}\n⬆️ Uploading…", headline=headline(job))


def delivered(job: Job) -> str:
    return Text("{headline}\n✅ Done: the video is below.", headline=headline(job))


def cancelled(job: Job, actor_id: int, refunded: str) -> str:
    actor = "<@" + str(actor_id) + ">"
    return Text("{headline}\n🚫 Cancelled by {actor}; {refunded}.", headline=headline(job), actor=actor,
                refunded=refunded)  # fmt: skip


def failed(job: Job, reason: str) -> str:
    return Text("{headline}\n❌ {reason}", headline=headline(job), reason=reason)


# Discord allows a bot about 50 requests a second in all (per token: every process of the bot together);
# progress edits may take half of that.
PROGRESS_EDITS_PER_SECOND = 25.0


def edit_interval(minimum: float, jobs_in_flight: int, processes: int = 1) -> float:
    """Seconds between two edits of one job's message, stretched with load so that all jobs' edits
    together stay within the budget (1,000 jobs: one edit each every 40 s). The budget is the bot
    token's, shared by its live processes: each takes an equal share of it (two processes: 12.5 edits a
    second each, so 1,000 jobs in one of them: every 80 s)."""
    return max(minimum, jobs_in_flight * max(1, processes) / PROGRESS_EDITS_PER_SECOND)


class ProgressReporter:
    """Coalesces progress edits for one job: at most one edit per interval, and a newer text replaces
    an unsent older one instead of queueing behind it. A final text is never dropped: it waits out the
    minimum interval (not the load-stretched one) and is sent."""

    def __init__(
        self,
        send: Callable[[str], Awaitable[object]],  # what it returns (the message id) is not used here
        interval: Callable[[], float],
        clock: Callable[[], float] = time.monotonic,
        final_interval: float = 0.0,
    ) -> None:
        self._send = send
        self._interval = interval
        self._final_interval = final_interval
        self._clock = clock
        self._pending: str | None = None
        self._last_text: str | None = None
        self._last_sent_at: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._not_before: float | None = None
        self.edits = 0

    def hold(self, seconds: float) -> None:
        """Edit nothing for `seconds`, a final text excepted (spreads the first edits of resumed jobs)."""
        self._not_before = self._clock() + seconds

    def update(self, text: str) -> None:
        """Ask for the message to show `text`; returns at once."""
        if text == self._last_text:
            self._pending = None
            return
        self._pending = text
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush_later())

    async def final(self, text: str) -> bool:
        """Show a final state now (it must not be dropped), then stop. False when Discord did not take it:
        the caller keeps it owed."""
        await self.close()
        if self._last_sent_at is not None:
            wait = self._last_sent_at + self._final_interval - self._clock()
            if wait > 0:
                await asyncio.sleep(wait)
        self._pending = text
        return await self._flush()

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._task = None

    async def _flush_later(self) -> None:
        wait = 0.0
        if self._last_sent_at is not None:
            wait = self._last_sent_at + self._interval() - self._clock()
        if self._not_before is not None:
            wait = max(wait, self._not_before - self._clock())
        if wait > 0:
            await asyncio.sleep(wait)
        await self._flush()

    async def _flush(self) -> bool:
        text, self._pending = self._pending, None
        if text is None or text == self._last_text:
            return True
        self._last_sent_at = self._clock()
        try:
            await self._send(text)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # A lost progress edit is harmless: the next state supersedes it (a final one is kept owed).
            log.warning("progress edit failed (%s: %s)", type(exc).__name__, exc)
            return False
        self._last_text = text
        self.edits += 1
        return True
