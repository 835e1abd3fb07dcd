"""The job runner: one task and one state machine per job, every transition persisted before it is
acted on, so a restart resumes each unfinished job from where it was and delivers it exactly once."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bot import progress, sora
from bot.delivery import DownloadError, download
from bot.fal import FalError, FalQueue, FalResultGone, FalUnavailable, refusal_sentence
from bot.guild_settings import GuildSettings, refusal, shape_arguments
from bot.messenger import Messenger, PostForbidden, PostTooLarge, VideoCard
from bot.models import FalResult, Job, JobState, Refused, Video, VideoRequest
from bot.progress import ProgressReporter
from bot.quota import Limits
from bot.settings_store import SettingsStore
from bot.sora import PriceTable, fal_call
from bot.store import Reservation, Store
from bot.transcode import fit
from bot.video_refs import message_link

log = logging.getLogger(__name__)

STATUS_FAILURES_ALLOWED = 8
SUBMIT_ATTEMPTS = 3


class JobFailed(Exception):
    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


@dataclass(frozen=True)
class Origin:
    """Where a request came from."""

    guild_id: int
    channel_id: int
    user_id: int
    reply_to_message_id: int | None = None
    role_ids: tuple[int, ...] = ()  # the member's roles, for a Pro-role rule


@dataclass(frozen=True)
class RunnerConfig:
    poll_min: float = 2.0
    poll_max: float = 5.0
    job_timeout: float = 3600.0
    progress_interval: float = 3.0
    max_download_bytes: int = 512 * 2**20
    ffmpeg: str | None = None
    work_dir: Path | None = None
    quota_defaults: Limits | None = None  # None: no quota (unlimited)


class JobRunner:
    def __init__(
        self,
        store: Store,
        fal: FalQueue,
        messenger: Messenger,
        http: aiohttp.ClientSession,
        prices: PriceTable,
        config: RunnerConfig,
        clock: Callable[[], float] = time.time,
        settings: SettingsStore | None = None,
        on_spend: Callable[[int, float], None] | None = None,
    ) -> None:
        self._settings = settings
        self._on_spend = on_spend  # (guild id, USD): told once per delivered job, when its cost is committed
        self._store = store
        self._fal = fal
        self._messenger = messenger
        self._http = http
        self._prices = prices
        self._config = config
        self._clock = clock
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._stopping = False

    @property
    def active(self) -> int:
        return len(self._tasks)

    def progress_interval(self) -> float:
        return progress.edit_interval(self._config.progress_interval, self.active)

    async def screen(self, request: VideoRequest, origin: Origin) -> None:
        """The server's rules alone, read without waiting for any writer: raises Refused. accept() applies
        them again before the quota."""
        rules = await self._settings.get(origin.guild_id) if self._settings else GuildSettings()
        why = refusal(rules, request, origin.channel_id, origin.role_ids)
        if why is not None:
            raise Refused(why)

    async def accept(self, request: VideoRequest, origin: Origin) -> Job:
        """Record the job and reserve its cost (nothing sent to fal yet); the caller then calls start().
        Raises Refused (QuotaRefused for limits), having spent nothing, when the server's rules or a
        limit say no."""
        rules = await self._settings.get(origin.guild_id) if self._settings else GuildSettings()
        why = refusal(rules, request, origin.channel_id, origin.role_ids)
        if why is not None:
            raise Refused(why)
        endpoint, arguments = fal_call(request)
        arguments = shape_arguments(rules, endpoint, arguments)
        defaults = self._config.quota_defaults
        reservation = (
            Reservation(self._prices.cost_micros(request), defaults, sora.describe(request)) if defaults else None
        )
        return await self._store.create_job(
            kind=request.kind,
            guild_id=origin.guild_id,
            channel_id=origin.channel_id,
            user_id=origin.user_id,
            endpoint=endpoint,
            arguments=arguments,
            prompt=request.prompt,
            model=request.model,
            duration=request.duration,
            aspect_ratio=request.aspect_ratio,
            resolution=request.resolution,
            cost_usd=self._prices.cost(request),
            reply_to_message_id=origin.reply_to_message_id,
            parent_video_id=request.source_video_id,
            reservation=reservation,
        )

    async def cancel(self, job_id: int, actor_id: int) -> str:
        """Cancel a queued job at fal and refund it; returns the sentence for whoever asked."""
        job = await self._store.get_job(job_id)
        if job is None or job.state.finished:
            return "This video is already finished."
        if job.state in (JobState.PENDING, JobState.SUBMITTING):
            return "This request is being sent to fal right now; try again in a moment."
        if job.state != JobState.QUEUED or job.request_id is None:
            return "fal has already started making this video, so it can no longer be cancelled."
        task = self._tasks.get(job.id)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if not await self._fal.cancel(job.endpoint, job.request_id):
            # fal said no: it has started (or finished). The job carries on from its stored state.
            fresh = await self._store.get_job(job.id)
            if fresh is not None and not fresh.state.finished:
                self.start(fresh)
            return "fal has already started making this video, so it can no longer be cancelled."
        job = await self._store.update_job(job.id, JobState.CANCELLED, error=f"cancelled by <@{actor_id}>")
        log.info(
            "job=%s guild=%s user=%s state=%s cancelled by %s", job.id, job.guild_id, job.user_id, job.state, actor_id
        )
        refunded = f"${job.cost_usd:.2f} refunded" if self._config.quota_defaults else "nothing was charged"
        await self._edit(job.id, progress.cancelled(job, actor_id, refunded))
        self._messenger.forget(job.id)
        return f"Cancelled; {refunded}."

    async def set_progress_message(self, job: Job, message_id: int) -> Job:
        """For jobs started from a message (reply-to-remix): the bot's acknowledgement is the progress message."""
        return await self._store.update_job(job.id, progress_message_id=message_id)

    def start(self, job: Job, *, hold_edits: float = 0.0) -> None:
        if self._stopping or job.id in self._tasks:
            return
        task = asyncio.create_task(self._run(job, hold_edits), name=f"job-{job.id}")
        self._tasks[job.id] = task
        task.add_done_callback(lambda _t, job_id=job.id: self._tasks.pop(job_id, None))

    async def resume_all(self) -> int:
        """Pick up every unfinished job after a start. A job caught between 'about to submit' and
        'request id stored' may or may not exist at fal: it is failed, never submitted again."""
        resumed = 0
        jobs = await self._store.unfinished_jobs()
        # Their messages still show where they were: spread the first edits over one load-stretched
        # interval rather than sending them all at once (Discord answers such a burst with 429s).
        spread = progress.edit_interval(self._config.progress_interval, len(jobs) + self.active)
        for job in jobs:
            if job.id in self._tasks:
                continue
            if job.state == JobState.SUBMITTING:
                await self._fail(
                    job,
                    "The bot restarted while sending this request to fal, so it was stopped; "
                    "nothing was charged. Please ask again.",
                )
                continue
            log.info("job=%s guild=%s user=%s state=%s resuming", job.id, job.guild_id, job.user_id, job.state)
            self.start(job, hold_edits=random.uniform(0, spread))
            resumed += 1
        return resumed

    async def stop(self) -> None:
        """Stop every job task; their states are already on disk, so the next start resumes them."""
        self._stopping = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def wait_idle(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    # -- the state machine ------------------------------------------------------------------------------

    async def _run(self, job: Job, hold_edits: float = 0.0) -> None:
        reporter = ProgressReporter(
            lambda text: self._edit(job.id, text), self.progress_interval, final_interval=self._config.progress_interval
        )
        if hold_edits:
            reporter.hold(hold_edits)
        try:
            submitted_now = job.state == JobState.PENDING
            if submitted_now:
                job = await self._submit(job, reporter)
            if job.state in (JobState.QUEUED, JobState.RUNNING):
                job = await self._wait(job, reporter, first_poll_now=not submitted_now)
            if job.state in (JobState.COMPLETED, JobState.UPLOADING):
                await self._deliver(job, reporter)
        except asyncio.CancelledError:
            await reporter.close()
            raise
        except (JobFailed, FalError, DownloadError) as exc:
            await self._fail(await self._fresh(job), exc.user_message, reporter)
        except Exception:
            log.exception(
                "job=%s guild=%s user=%s state=%s failed unexpectedly", job.id, job.guild_id, job.user_id, job.state
            )
            await self._fail(await self._fresh(job), "Something went wrong on our side; nothing was charged.", reporter)
        finally:
            self._messenger.forget(job.id)

    async def _fresh(self, job: Job) -> Job:
        return await self._store.get_job(job.id) or job

    async def _edit(self, job_id: int, text: str) -> None:
        job = await self._store.get_job(job_id)
        if job is None:
            return
        message_id = await self._messenger.edit_progress(job, text)
        if message_id is not None and message_id != job.progress_message_id:
            await self._store.update_job(job.id, progress_message_id=message_id)

    async def _submit(self, job: Job, reporter: ProgressReporter) -> Job:
        reporter.update(progress.submitting(job))
        job = await self._store.update_job(job.id, JobState.SUBMITTING)
        for attempt in range(1, SUBMIT_ATTEMPTS + 1):
            try:
                request_id = await self._fal.submit(job.endpoint, job.arguments)
                break
            except FalUnavailable as exc:
                # Only an answered request (HTTP 5xx) proves fal did not take the job; anything else
                # might have reached it, and a second submit could make (and bill) the video twice.
                if exc.status is None or attempt == SUBMIT_ATTEMPTS:
                    raise
                await asyncio.sleep(2**attempt)
        job = await self._store.update_job(job.id, JobState.QUEUED, request_id=request_id)
        log.info(
            "job=%s guild=%s user=%s state=%s submitted request=%s",
            job.id,
            job.guild_id,
            job.user_id,
            job.state,
            request_id,
        )
        return job

    async def _wait(self, job: Job, reporter: ProgressReporter, *, first_poll_now: bool = True) -> Job:
        """Poll fal until the job ends: after poll_min, then doubling up to poll_max. A job just submitted
        is known to be queued, so its first poll waits too; a resumed one is polled at once."""
        assert job.request_id is not None
        delay = self._config.poll_min
        if not first_poll_now:
            await asyncio.sleep(delay)
            delay = min(self._config.poll_max, delay * 2)
        failures = 0
        running_since: float | None = None
        deadline = job.created_at + self._config.job_timeout
        while True:
            if self._clock() > deadline:
                await self._fal.cancel(job.endpoint, job.request_id)
                raise JobFailed("fal took too long to make this video, so it was cancelled; nothing was charged.")
            try:
                status = await self._fal.status(job.endpoint, job.request_id)
                failures = 0
            except FalResultGone:
                raise
            except FalError as exc:
                failures += 1
                if failures > STATUS_FAILURES_ALLOWED:
                    raise JobFailed("fal stopped answering about this video; nothing was charged.") from exc
                log.warning(
                    "job=%s guild=%s user=%s state=%s status poll failed (%s), retrying",
                    job.id,
                    job.guild_id,
                    job.user_id,
                    job.state,
                    exc.user_message,
                )
                await asyncio.sleep(min(self._config.poll_max * 2, self._config.poll_min * 2**failures))
                continue
            if status.state == "queued":
                reporter.update(progress.queued(job, status.position, self._clock() - job.created_at))
            elif status.state == "running":
                if job.state != JobState.RUNNING:
                    job = await self._store.update_job(job.id, JobState.RUNNING)
                running_since = running_since or self._clock()
                last = status.logs[-1] if status.logs else None
                reporter.update(progress.generating(job, self._clock() - running_since, last))
            else:
                if status.error:
                    # The result carries fal's own explanation (422 detail list, or the 5xx).
                    try:
                        await self._fal.result(job.endpoint, job.request_id)
                    except FalError as exc:
                        raise JobFailed(exc.user_message) from exc
                    raise JobFailed(refusal_sentence(status.error, status.error_type))
                result = await self._fetch_result(job)
                return await self._store.update_job(job.id, JobState.COMPLETED, result_json=json.dumps(result))
            await asyncio.sleep(delay)
            delay = min(self._config.poll_max, delay * 2)

    async def _fetch_result(self, job: Job) -> dict[str, Any]:
        assert job.request_id is not None
        for attempt in range(1, 4):
            try:
                data = await self._fal.result(job.endpoint, job.request_id)
                FalResult.model_validate(data)
                return data
            except FalUnavailable:
                if attempt == 3:
                    raise
                await asyncio.sleep(2**attempt)
            except ValueError as exc:  # pydantic: not a video result
                raise JobFailed("fal's answer held no video.") from exc
        raise AssertionError("unreachable")

    async def _deliver(self, job: Job, reporter: ProgressReporter) -> None:
        assert job.result is not None
        result = FalResult.model_validate(job.result)
        if job.state == JobState.UPLOADING:
            # We died while posting: the post may have gone through. Never post it twice.
            posted = await self._messenger.find_posted_video(job)
            if posted is not None:
                await self._finish(job, result, posted, reporter)
                return
        reporter.update(progress.downloading(job))
        work = Path(tempfile.mkdtemp(prefix=f"job{job.id}-", dir=self._config.work_dir))
        try:
            path = await download(self._http, result.video.url, work, max_bytes=self._config.max_download_bytes)
            parent_link = await self._parent_link(job)
            card = VideoCard.for_job(job, result.video_id, parent_link=parent_link)
            limit = self._messenger.upload_limit(job)
            if path.stat().st_size > limit:
                reporter.update(progress.compressing(job, limit))
                fitted = await fit(self._config.ffmpeg, path, limit, job.duration) if self._config.ffmpeg else None
                if fitted is None:
                    path = None
                    card = VideoCard.for_job(
                        job,
                        result.video_id,
                        parent_link=parent_link,
                        link=result.video.url,
                        note="Too large for this server's upload limit even after compressing: "
                        "here is fal's link (it expires after a while).",
                    )
                else:
                    path = fitted
                    card = VideoCard.for_job(
                        job,
                        result.video_id,
                        note="Compressed to fit this server's upload limit.",
                        parent_link=parent_link,
                    )
            reporter.update(progress.uploading(job))
            job = await self._store.update_job(job.id, JobState.UPLOADING)
            try:
                message_id = await self._messenger.post_video(job, card, path)
            except PostTooLarge:
                card = VideoCard.for_job(
                    job,
                    result.video_id,
                    parent_link=parent_link,
                    link=result.video.url,
                    note="Discord refused the file as too large: here is fal's link (it expires after a while).",
                )
                message_id = await self._messenger.post_video(job, card, None)
            except PostForbidden as exc:
                raise JobFailed(
                    "I may not post videos in this channel (I need Send Messages, Attach Files and Embed "
                    "Links there). Ask an admin, or use another channel."
                ) from exc
            await self._finish(job, result, message_id, reporter)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    async def _parent_link(self, job: Job) -> str | None:
        parent = await self._store.get_video(job.parent_video_id) if job.parent_video_id else None
        return message_link(parent.guild_id, parent.channel_id, parent.message_id) if parent else None

    async def _finish(self, job: Job, result: FalResult, message_id: int, reporter: ProgressReporter) -> None:
        video = Video(
            video_id=result.video_id,
            job_id=job.id,
            guild_id=job.guild_id,
            channel_id=job.channel_id,
            message_id=message_id,
            user_id=job.user_id,
            prompt=job.prompt,
            model=job.model,
            duration=job.duration,
            aspect_ratio=job.aspect_ratio,
            resolution=job.resolution,
            remixable=job.remixable,
            parent_video_id=job.parent_video_id,
            created_at=self._clock(),
        )
        job = await self._store.mark_delivered(job, video)
        if self._on_spend is not None:
            self._on_spend(job.guild_id, job.cost_usd)
        log.info(
            "job=%s guild=%s user=%s state=%s delivered message=%s",
            job.id,
            job.guild_id,
            job.user_id,
            job.state,
            message_id,
        )
        await reporter.final(progress.delivered(job))

    async def _fail(self, job: Job, reason: str, reporter: ProgressReporter | None = None) -> None:
        job = await self._store.update_job(job.id, JobState.FAILED, error=reason)
        log.info("job=%s guild=%s user=%s state=%s failed: %s", job.id, job.guild_id, job.user_id, job.state, reason)
        try:
            if reporter is not None:
                await reporter.final(progress.failed(job, reason))
            else:
                await self._edit(job.id, progress.failed(job, reason))
            await self._messenger.tell_requester(job, reason)
        except Exception:
            log.warning(
                "job=%s guild=%s user=%s state=%s could not tell the member it failed",
                job.id,
                job.guild_id,
                job.user_id,
                job.state,
                exc_info=True,
            )
