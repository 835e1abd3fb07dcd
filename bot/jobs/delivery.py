"""Delivery: the paid video is downloaded, checked and fitted once, kept on disk under the job's own folder
until Discord has it, and posted until Discord takes it (never twice: a look at the channel before each
retry, and the nonce). The runner decides when (its state machine); this does the work."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import aiohttp

from bot.domain.messenger import Messenger, PostForbidden, PostTooLarge, PostUnavailable, VideoCard
from bot.domain.models import FalResult, Job
from bot.domain.text import Text
from bot.domain.video_refs import message_link
from bot.jobs import progress
from bot.jobs.config import RunnerConfig
from bot.jobs.download import download
from bot.jobs.failures import JobFailed, who
from bot.jobs.probe import probe
from bot.jobs.progress import ProgressReporter
from bot.jobs.transcode import fit
from bot.storage.videos import VideoStore

log = logging.getLogger("bot.jobs.runner")  # job lines: the same logger as the rest of the job's path

BROKEN_VIDEO = Text("fal sent a broken video file twice, so it was not posted; nothing was charged. Please ask again.")


class Delivery:
    def __init__(
        self,
        messenger: Messenger,
        http: aiohttp.ClientSession,
        videos: VideoStore,
        config: RunnerConfig,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._messenger = messenger
        self._http = http
        self._videos = videos
        self._config = config
        self._clock = clock

    def job_dir(self, job_id: int) -> Path:
        base = self._config.work_dir or Path(tempfile.gettempdir()) / "sora-bot-work"
        return base / f"job{job_id}"

    async def ready_video(self, job: Job, result: FalResult, reporter: ProgressReporter) -> ReadyVideo:
        """The file to post, downloaded, checked and fitted once, and kept on disk (under the job's own
        folder) until the job ends: a post that fails, even across a restart, never downloads it again."""
        work = self.job_dir(job.id)
        kept = await asyncio.to_thread(ReadyVideo.load, work)
        if kept is not None:
            return kept
        await asyncio.to_thread(work.mkdir, parents=True, exist_ok=True)
        reporter.update(progress.downloading(job))
        path = await self.download_checked(job, result.video.url, work)
        limit = self._messenger.upload_limit(job)
        ready = ReadyVideo(path)
        if path.stat().st_size > limit:
            reporter.update(progress.compressing(job, limit))
            fitted = await fit(self._config.ffmpeg, path, limit, job.spec.duration) if self._config.ffmpeg else None
            if fitted is None:
                ready = ReadyVideo(
                    None,
                    link=result.video.url,
                    note="Too large for this server's upload limit even after compressing: "
                    "here is fal's link (it expires after a while).",
                )
            else:
                ready = ReadyVideo(fitted, note="Compressed to fit this server's upload limit.")
        await asyncio.to_thread(ready.save, work)
        return ready

    async def download_checked(self, job: Job, url: str, work: Path) -> Path:
        """Download and check that it plays as a video of the asked length; once more if not (a download
        cut short, or a CDN error page), then give up: a broken file is never posted nor charged."""
        for attempt in (1, 2):
            path = await download(self._http, url, work, max_bytes=self._config.max_download_bytes)
            checked = await probe(self._config.ffmpeg, path, job.spec.duration)
            if checked.ok:
                return path
            log.warning("%s fal's video is broken (%s); attempt %d of 2", who(job), checked.why, attempt)
            await asyncio.to_thread(path.unlink, missing_ok=True)
        raise JobFailed(BROKEN_VIDEO)

    async def post(
        self, job: Job, card: VideoCard, path: Path | None, fal_link: str, reporter: ProgressReporter
    ) -> int:
        """Post until Discord has it: a 503 or a dropped connection is retried with backoff (the nonce and
        a look at the channel make each retry safe) for up to delivery_patience, across restarts too."""
        delay = self._config.post_retry_min
        began = self._clock()
        while True:
            try:
                return await self._messenger.post_video(job, card, path)
            except PostTooLarge:
                card = replace(
                    card,
                    link=fal_link,
                    note=Text("Discord refused the file as too large: here is fal's link (it expires after a while)."),
                )
                path = None
                continue
            except PostForbidden as exc:
                raise JobFailed(
                    Text(
                        "I may not post videos in this channel (I need Send Messages, Attach Files and Embed "
                        "Links there). Ask an admin, or use another channel."
                    )
                ) from exc
            except PostUnavailable as exc:
                if self._clock() - began > self._config.delivery_patience:
                    raise JobFailed(
                        Text("Discord would not take this video for a whole day; nothing was charged.")
                    ) from exc
                log.warning("%s posting failed (%s); the video is kept, retrying in %.0f s", who(job), exc, delay)
                reporter.update(progress.retrying_post(job))
            await asyncio.sleep(delay)
            delay = min(self._config.post_retry_max, delay * 2)
            posted = await self.look_for_post(job, patiently=False)  # a lost answer may hide a post
            if posted is not None:
                return posted

    async def look_for_post(self, job: Job, *, patiently: bool) -> int | None:
        """The job's video message if Discord already has it; patiently: wait out a Discord outage."""
        delay = self._config.post_retry_min
        while True:
            try:
                return await self._messenger.find_posted_video(job)
            except PostUnavailable as exc:
                if not patiently:
                    return None
                log.warning("%s cannot read the channel (%s); retrying in %.0f s", who(job), exc, delay)
            await asyncio.sleep(delay)
            delay = min(self._config.post_retry_max, delay * 2)

    async def parent_link(self, job: Job) -> str | None:
        parent = await self._videos.get_video(job.spec.parent_video_id) if job.spec.parent_video_id else None
        return message_link(parent.guild_id, parent.channel_id, parent.message_id) if parent else None

    async def discard_files(self, job_id: int) -> None:
        await asyncio.to_thread(shutil.rmtree, self.job_dir(job_id), True)

    def drop_stale_files(self, unfinished: set[int]) -> None:
        """Kept videos of jobs that have ended (the bot died between the end and the clean-up)."""
        base = self.job_dir(0).parent
        for folder in base.glob("job*") if base.is_dir() else ():
            if folder.name[3:].isdigit() and int(folder.name[3:]) not in unfinished:
                shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True)
class ReadyVideo:
    """What will be posted: the checked file (None: post the link instead), with the card's note."""

    path: Path | None
    note: str | None = None
    link: str | None = None

    MANIFEST = "ready.json"

    def save(self, work: Path) -> None:
        data = {"file": self.path.name if self.path else None, "note": self.note, "link": self.link}
        (work / self.MANIFEST).write_text(json.dumps(data), encoding="utf-8")

    @classmethod
    def load(cls, work: Path) -> ReadyVideo | None:
        try:
            data = json.loads((work / cls.MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        path = work / data["file"] if data.get("file") else None
        if path is not None and not path.is_file():
            return None
        return cls(path, data.get("note"), data.get("link"))
