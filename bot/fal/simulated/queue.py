"""Simulated fal (FAL_BACKEND=simulated): the same queue lifecycle as fal (queued, in progress with
progress logs, completed), served in-process with no key and no cost, so an admin can try every command.

Everything a request needs is on disk under `directory`, so a restart resumes simulated jobs like real
ones. Videos are served by a loopback HTTP server rather than as file:// URLs: the production download
path then stays http(s)-only (it never reads a local file because a result said so), it is exercised
for real (streaming, size cap, retries), and a link posted instead of a file is a valid embed URL. The
server's port is remembered, so result URLs stored before a restart still work after it."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.fal.backend import QueueStatus
from bot.fal.errors import FalRefused, FalResultGone, FalUnavailable, refusal_sentence
from bot.fal.simulated.inputs import CHARACTERS, REMIX, SPECS, Shape, error, problems, shape
from bot.fal.simulated.render import RenderFailed, caption, render

log = logging.getLogger(__name__)

REFUSE_MARKER = "#refuse"  # put in a prompt to see how a content-policy refusal looks, at no cost
KEEP_VIDEOS_SECONDS = 24 * 3600
_VIDEO_FILE = re.compile(r"^video_sim_[0-9a-f]{24}\.mp4$")
_REQUEST_ID = re.compile(r"^[0-9a-f-]{36}$")


@dataclass
class Record:
    """One simulated request, as stored in requests/<request id>.json."""

    endpoint: str
    arguments: dict[str, Any]
    submitted_at: float
    output_id: str  # the video id (or character id) this request makes
    width: int = 0
    height: int = 0
    seconds: int = 0
    resolution: str = "720p"
    aspect_ratio: str = "16:9"
    cancelled: bool = False

    @property
    def refused(self) -> bool:
        return REFUSE_MARKER in str(self.arguments.get("prompt", "")).lower()


class SimulatedFal:
    simulated = True

    def __init__(
        self,
        directory: Path,
        ffmpeg: str | None,
        *,
        queue_seconds: float = 2.0,
        run_seconds: float = 8.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._dir = directory
        self._ffmpeg = ffmpeg
        self._queue_seconds = queue_seconds
        self._run_seconds = run_seconds
        self._clock = clock
        self._renders: dict[str, asyncio.Task[None]] = {}
        self._render_slot = asyncio.Semaphore(1)  # one ffmpeg at a time: the bot must stay responsive
        self._captions = True  # becomes False once ffmpeg proves unable to draw text
        self._runner: web.AppRunner | None = None
        self._port = 0

    # -- lifecycle ---------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Prepare the folders, drop old clips and serve the videos on loopback."""
        await asyncio.to_thread(self._prepare)
        app = web.Application()
        app.router.add_get("/videos/{name}", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        remembered = await asyncio.to_thread(self._remembered_port)
        for port in dict.fromkeys((remembered, 0)):
            try:
                site = web.TCPSite(self._runner, "127.0.0.1", port)
                await site.start()
                break
            except OSError:
                log.info("simulated video server: port %s is taken; stored links to it will not work", port)
        self._port = int(self._runner.addresses[0][1])
        await asyncio.to_thread((self._dir / "port").write_text, str(self._port))
        log.info("simulated fal ready: videos served on 127.0.0.1:%d", self._port)

    async def close(self) -> None:
        for task in self._renders.values():
            task.cancel()
        await asyncio.gather(*self._renders.values(), return_exceptions=True)
        self._renders.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    # -- the queue API -----------------------------------------------------------------------------------

    async def submit(self, endpoint: str, arguments: dict[str, Any], *, webhook_url: str | None = None) -> str:
        if endpoint not in SPECS:
            raise FalRefused(f"fal refused this request: there is no application {endpoint!r}.", status=404)
        found = problems(endpoint, arguments)
        if not found and endpoint == REMIX:
            found = await self._remix_problems(str(arguments["video_id"]))
        if not found and arguments.get("character_ids"):
            found = await self._character_problems(list(arguments["character_ids"]))
        if found:
            raise FalRefused(refusal_sentence(found), status=422)
        if endpoint != CHARACTERS and self._ffmpeg is None:
            raise FalUnavailable("Simulated mode cannot make videos without ffmpeg (see `python -m bot check`).")
        record = await self._new_record(endpoint, arguments)
        request_id = str(uuid.uuid4())
        await asyncio.to_thread(self._write, self._request_path(request_id), asdict(record))
        log.info("simulated request=%s endpoint=%s queued", request_id, endpoint)
        if endpoint != CHARACTERS and not record.refused:
            self._start_render(request_id, record)
        return request_id

    async def find_request(self, endpoint: str, arguments: dict[str, Any], since: float) -> list[str]:
        """Like fal's request list: the requests with exactly these arguments, sent since `since`."""

        def scan() -> list[tuple[float, str]]:
            found = []
            for path in (self._dir / "requests").glob("*.json"):
                record = Record(**self._read(path))
                if record.endpoint == endpoint and record.arguments == arguments and record.submitted_at >= since:
                    found.append((record.submitted_at, path.stem))
            return found

        return [request_id for _, request_id in sorted(await asyncio.to_thread(scan))]

    async def status(self, endpoint: str, request_id: str) -> QueueStatus:
        record = await self._record(endpoint, request_id)
        if record.cancelled:
            return QueueStatus("completed", error="Request was cancelled by the user.", error_type="request_cancelled")
        elapsed = self._clock() - record.submitted_at
        if elapsed < self._queue_seconds:
            return QueueStatus("queued", position=max(0, math.ceil(self._queue_seconds - elapsed) - 1))
        running = elapsed - self._queue_seconds
        if record.refused and running >= self._run_seconds:
            return QueueStatus(
                "completed",
                error="The prompt was flagged by the content policy.",
                error_type="content_policy_violation",
            )
        if record.endpoint == CHARACTERS or record.refused:
            if running >= self._run_seconds:
                return QueueStatus("completed", logs=["Character created (simulated)"])
            return QueueStatus("running", logs=_progress_logs(running / self._run_seconds))
        task = self._start_render(request_id, record)
        if task is not None and task.done() and (task.cancelled() or task.exception() is not None):
            if running >= self._run_seconds:
                return QueueStatus(
                    "completed", error="The simulated video could not be rendered.", error_type="internal_server_error"
                )
        elif running >= self._run_seconds and self._video_path(record.output_id).exists():
            return QueueStatus("completed", logs=_progress_logs(1.0))
        # Time is up but ffmpeg is still working: stay "in progress", as a slow fal job would.
        return QueueStatus("running", logs=_progress_logs(min(running / self._run_seconds, 0.99)))

    async def result(self, endpoint: str, request_id: str) -> dict[str, Any]:
        record = await self._record(endpoint, request_id)
        state = await self.status(endpoint, request_id)
        if state.state != "completed":
            raise FalRefused("fal refused this request: it is still in progress.", status=400)
        if state.error_type == "request_cancelled":
            raise FalRefused("fal refused this request: it was cancelled.", status=400)
        if state.error_type == "content_policy_violation":
            detail = [{"loc": ["body", "prompt"], "msg": state.error, "type": "content_policy_violation"}]
            raise FalRefused(refusal_sentence(detail), status=422)
        if state.error is not None:
            raise FalUnavailable("The simulated video could not be rendered (ffmpeg failed; see the log).", status=500)
        if record.endpoint == CHARACTERS:
            return {"id": record.output_id, "name": record.arguments["name"], "simulated": True}
        path = self._video_path(record.output_id)
        if not path.exists():
            raise FalResultGone("fal no longer has this video (results expire soon after they are made).", status=404)
        return {
            "video": {
                "url": f"{self.base_url}/videos/{path.name}",
                "content_type": "video/mp4",
                "file_name": path.name,
                "file_size": path.stat().st_size,
                "width": record.width,
                "height": record.height,
                "duration": record.seconds,
            },
            "video_id": record.output_id,
            "simulated": True,  # read by VideoCard.for_job: the embed says the video is simulated
        }

    async def cancel(self, endpoint: str, request_id: str) -> bool:
        try:
            record = await self._record(endpoint, request_id)
        except FalResultGone:
            return False
        if record.cancelled or self._clock() - record.submitted_at >= self._queue_seconds:
            return False  # like fal: only a request still in the queue can be stopped
        record.cancelled = True
        await asyncio.to_thread(self._write, self._request_path(request_id), asdict(record))
        task = self._renders.pop(request_id, None)
        if task is not None:
            task.cancel()
        return True

    # -- requests and outputs ----------------------------------------------------------------------------

    async def _new_record(self, endpoint: str, arguments: dict[str, Any]) -> Record:
        now = self._clock()
        if endpoint == CHARACTERS:
            character_id = f"char_sim_{uuid.uuid4().hex[:24]}"
            await asyncio.to_thread(self._write, self._character_path(character_id), {"name": arguments["name"]})
            return Record(endpoint, arguments, now, character_id)
        if endpoint == REMIX:
            # A remix keeps its source's shape and length.
            source = await asyncio.to_thread(self._read, self._video_meta_path(str(arguments["video_id"])))
            aspect, resolution, duration = source["aspect_ratio"], source["resolution"], source["seconds"]
        else:
            aspect = str(arguments.get("aspect_ratio", "16:9"))
            resolution = str(arguments.get("resolution", "720p"))
            duration = arguments.get("duration", 4)
        size = shape(aspect, resolution, duration)
        return Record(
            endpoint,
            arguments,
            now,
            f"video_sim_{uuid.uuid4().hex[:24]}",
            width=size.width,
            height=size.height,
            seconds=size.seconds,
            resolution="1080p" if min(size.width, size.height) == 1080 else "720p",
            aspect_ratio="9:16" if size.height > size.width else "16:9",
        )

    async def _remix_problems(self, video_id: str) -> list[dict[str, Any]]:
        meta_path = self._video_meta_path(video_id)
        if not re.fullmatch(r"video_sim_[0-9a-f]{24}", video_id) or not meta_path.exists():
            return [error("video_id", f"Video {video_id} was not found.", "value_error")]
        meta = await asyncio.to_thread(self._read, meta_path)
        if not meta.get("remixable"):
            return [error("video_id", "This video was deleted after generation and cannot be remixed.", "value_error")]
        return []

    async def _character_problems(self, character_ids: list[str]) -> list[dict[str, Any]]:
        for character_id in character_ids:
            if (
                not re.fullmatch(r"char_sim_[0-9a-f]{24}", character_id)
                or not self._character_path(character_id).exists()
            ):
                return [error("character_ids", f"Character {character_id} was not found.", "value_error")]
        return []

    async def _record(self, endpoint: str, request_id: str) -> Record:
        path = self._request_path(request_id)
        if not _REQUEST_ID.fullmatch(request_id) or not path.exists():
            raise FalResultGone("fal no longer has this request.", status=404)
        record = Record(**await asyncio.to_thread(self._read, path))
        if record.endpoint.split("/")[:2] != endpoint.split("/")[:2]:
            raise FalResultGone("fal no longer has this request.", status=404)
        return record

    def _start_render(self, request_id: str, record: Record) -> asyncio.Task[None] | None:
        """The render of a request's video, started if it is neither running nor done."""
        task = self._renders.get(request_id)
        if task is None and not self._video_path(record.output_id).exists():
            task = asyncio.create_task(self._render(record), name=f"simulated-render-{request_id}")
            self._renders[request_id] = task
        return task

    async def _render(self, record: Record) -> None:
        assert self._ffmpeg is not None
        size = Shape(record.width, record.height, record.seconds)
        target = self._video_path(record.output_id)
        async with self._render_slot:
            text = caption(str(record.arguments.get("prompt", ""))) if self._captions else None
            try:
                await render(self._ffmpeg, target, size, text)
            except RenderFailed as exc:
                if text is None:
                    log.warning("simulated render of %s failed: %s", record.output_id, exc)
                    raise
                # An ffmpeg without drawtext or fonts still makes the clip, just without its caption.
                log.warning("ffmpeg cannot draw text (%s); simulated videos will carry no caption", exc)
                self._captions = False
                await render(self._ffmpeg, target, size, None)
        meta = {
            "aspect_ratio": record.aspect_ratio,
            "resolution": record.resolution,
            "seconds": record.seconds,
            "remixable": record.arguments.get("delete_video") is False,
        }
        await asyncio.to_thread(self._write, self._video_meta_path(record.output_id), meta)

    # -- files -------------------------------------------------------------------------------------------

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        path = self._dir / "videos" / name
        if not _VIDEO_FILE.fullmatch(name) or not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers={"Content-Type": "video/mp4"})

    def _prepare(self) -> None:
        for sub in ("requests", "videos", "characters"):
            (self._dir / sub).mkdir(parents=True, exist_ok=True)
        # Clips are delivered within minutes; their metadata stays, so they remain remixable.
        cutoff = self._clock() - KEEP_VIDEOS_SECONDS
        for clip in (self._dir / "videos").glob("*.mp4"):
            if clip.stat().st_mtime < cutoff:
                clip.unlink(missing_ok=True)

    def _remembered_port(self) -> int:
        try:
            return int((self._dir / "port").read_text())
        except (OSError, ValueError):
            return 0

    def _request_path(self, request_id: str) -> Path:
        return self._dir / "requests" / f"{request_id}.json"

    def _video_path(self, video_id: str) -> Path:
        return self._dir / "videos" / f"{video_id}.mp4"

    def _video_meta_path(self, video_id: str) -> Path:
        return self._dir / "videos" / f"{video_id}.json"

    def _character_path(self, character_id: str) -> Path:
        return self._dir / "characters" / f"{character_id}.json"

    @staticmethod
    def _read(path: Path) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))  # the files _write wrote
        return data

    @staticmethod
    def _write(path: Path, data: dict[str, Any]) -> None:
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(data), encoding="utf-8")
        partial.replace(path)


def _progress_logs(fraction: float) -> list[str]:
    logs = ["Starting video generation (simulated)"]
    logs += [f"Generating video... {p}%" for p in (25, 50, 75, 100) if fraction * 100 >= p]
    return logs
