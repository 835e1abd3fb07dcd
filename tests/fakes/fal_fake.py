"""A protocol-level fake of fal.ai's queue HTTP API (the parts the Sora 2 bot uses).

It is an HTTPS server (aiohttp) on 127.0.0.1 whose certificate comes from a ``trustme``
test CA, so the real ``fal_client`` talks to it unchanged once the environment says::

    FAL_QUEUE_RUN_HOST=<fal.host>     # read by fal_client at import time
    SSL_CERT_FILE=<fal.ca_path>       # read by httpx when a client is created

Queue protocol (as ``fal_client`` 1.0.3 drives it)::

    POST /{owner}/{alias}[/{path}]                 submit -> 200 {request_id, *_url, ...}
    GET  /{owner}/{alias}/requests/{id}/status     ?logs=true|1 to include logs
    GET  /{owner}/{alias}/requests/{id}            result
    PUT  /{owner}/{alias}/requests/{id}/cancel     cancel
    GET  /files/{name}                             the generated video (no auth, like a CDN)

Status/result/cancel must use the app id (``fal-ai/sora-2``), not the endpoint path, as
fal_client and the returned URLs do; other prefixes answer 404.

A job's state is a function of the time since its submission (``time.monotonic``) and
of the ``JobScript`` it was given: ``IN_QUEUE`` for ``queue_seconds`` (position counting
down from ``start_position`` to 0), then ``IN_PROGRESS`` for ``run_seconds`` (logs grow),
then ``COMPLETED``; both durations are multiplied by ``time_scale``.

Choices where fal's behaviour is not pinned down (documented here so tests can rely on
them):

* Every queue response carries ``x-fal-request-id`` when a request id is known, so 5xx
  answers are never taken for ingress errors (fal_client does not retry them).
* Error responses that have an ``error_type`` also send it as ``x-fal-error-type``
  (fal_client falls back to that header for ``FalClientHTTPError.error_type``).
* Cancel: while ``IN_QUEUE`` -> 202 ``{"status": "CANCELLATION_REQUESTED"}`` and the job is
  removed from the queue; it then reports ``COMPLETED`` with ``error="Request was
  cancelled"``, ``error_type="request_cancelled"`` and its result answers 400
  ``{"detail": "Request was cancelled", "error_type": "request_cancelled"}``.
  While ``IN_PROGRESS`` -> 202 ``CANCELLATION_REQUESTED`` too (fal forwards the signal to
  the app); the job stops the same way only if ``JobScript.honor_cancel_in_progress``,
  otherwise the app ignores it and the job finishes normally. Once ``COMPLETED`` (or
  already cancelled) -> 400 ``{"status": "ALREADY_COMPLETED"}``. Unknown id -> 404
  ``{"status": "NOT_FOUND"}``.
* Outcome ``server_error_then_ok``: the job completes without an error, the first result
  fetch answers 500 (``internal_server_error``) and later fetches return the video.
* Outcome ``result_gone``: status is a clean ``COMPLETED``; the result answers 404
  ``{"detail": "Request not found"}`` (as if the result had expired).
* Each authenticated submit to a known endpoint consumes one script (``script_next`` FIFO,
  else ``default_script``), also when the payload is rejected; the payload is checked
  first, then ``outcome="validation_on_submit"`` rejects an otherwise valid one. Every such
  submit, accepted or not, is recorded in ``submissions`` (``request_id`` is None when the
  submit was rejected). Submits with a bad key (401) or to an unknown endpoint (404) do
  not consume a script; unknown endpoints are still recorded as submissions.
* A video job's stock file is as long as its ``duration`` (a remix: as its source), made once per length.
* Faults: ``JobScript.submit_answer`` loses, garbles or withholds the answer to a submit;
  ``JobScript.file_fault`` serves an HTML page or half the file for the first downloads; ``files_open``
  holds downloads; ``list_status`` makes the request list (``LIST_PATH``, fal's platform API) fail.
* Unknown payload fields are ignored (as fal's pydantic models do) unless
  ``reject_unknown_fields`` is set, then they are a 422 ``extra_forbidden`` error.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import json
import math
import re
import shutil
import ssl
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import trustme
from aiohttp import web

from . import media

__all__ = [
    "ENDPOINTS",
    "FakeFal",
    "Job",
    "JobScript",
    "Outcome",
    "RecordedRequest",
    "Submission",
    "validate_payload",
]

Outcome = Literal[
    "ok",
    "content_policy",
    "validation_on_submit",
    "server_error",
    "result_gone",
    "server_error_then_ok",
]
RequestKind = Literal["submit", "status", "result", "cancel", "file", "list"]
# How the fake answers an accepted submit: "ok"; "drop" closes the connection once the job exists (the
# answer is lost); "garbage" answers 200 with a body that is not JSON; "hang" never answers (the job
# exists); "hang_before" never answers and never makes the job (fal did not get it).
SubmitAnswer = Literal["ok", "drop", "garbage", "hang", "hang_before"]
# A broken download: an HTML error page served as the video, or the mp4 cut in half.
FileFault = Literal["html", "truncated"]

CONTENT_POLICY_MESSAGE = "The prompt was flagged by the content moderation system."
CANCELLED_MESSAGE = "Request was cancelled"


@dataclass
class JobScript:
    """How the next job behaves. Durations are seconds (times ``time_scale``)."""

    queue_seconds: float = 0.6
    run_seconds: float = 1.0
    start_position: int = 2
    outcome: Outcome = "ok"
    video: Path | None = None
    video_by_seconds: dict[int, Path] | None = None  # the file for a job of that length (else the stock one)
    video_id: str | None = None
    status_errors: int = 0
    time_scale: float = 1.0
    honor_cancel_in_progress: bool = False
    submit_answer: SubmitAnswer = "ok"
    file_fault: FileFault | None = None
    file_faults: int = 1  # how many downloads of the video are broken before a good one


@dataclass
class Submission:
    """One authenticated POST to the queue, accepted (status 200) or not."""

    request_id: str | None
    endpoint: str
    payload: Any
    headers: dict[str, str]
    time: float
    status: int
    errors: list[dict[str, Any]] | None = None
    script: JobScript | None = None
    raw_body: bytes = b""

    @property
    def accepted(self) -> bool:
        return self.status == 200


@dataclass
class RecordedRequest:
    """One HTTP request the fake answered."""

    time: float
    method: str
    path: str
    query: dict[str, str]
    request_id: str | None
    status: int
    kind: RequestKind | None


@dataclass
class Job:
    """A submitted request; its state follows from the clock and its script."""

    request_id: str
    endpoint: str
    app: str
    payload: dict[str, Any]
    script: JobScript
    submitted_at: float
    submitted_wall: datetime
    video_id: str
    status_polls: int = 0
    result_fetches: int = 0
    cancel_requested: bool = False
    # Seconds after submission when the job was stopped by a cancel (None: not stopped).
    cancelled_after: float | None = None
    file_name: str | None = None
    char_id: str | None = None

    @property
    def queue_seconds(self) -> float:
        return self.script.queue_seconds * self.script.time_scale

    @property
    def run_seconds(self) -> float:
        return self.script.run_seconds * self.script.time_scale

    def elapsed(self, now: float | None = None) -> float:
        return (time.monotonic() if now is None else now) - self.submitted_at

    def phase(self, now: float | None = None) -> Literal["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]:
        if self.cancelled_after is not None:
            return "COMPLETED"
        t = self.elapsed(now)
        if t < self.queue_seconds:
            return "IN_QUEUE"
        if t < self.queue_seconds + self.run_seconds:
            return "IN_PROGRESS"
        return "COMPLETED"

    @property
    def cancelled(self) -> bool:
        return self.cancelled_after is not None

    def queue_position(self, now: float | None = None) -> int:
        start = max(self.script.start_position, 0)
        if self.queue_seconds <= 0:
            return 0
        step = self.queue_seconds / (start + 1)
        passed = math.floor(self.elapsed(now) / step)
        return max(0, min(start, start - passed))

    def logs(self, now: float | None = None) -> list[dict[str, Any]]:
        """Log lines emitted so far: one at start, then every 25 % of the run."""
        t = self.elapsed(now)
        if self.cancelled_after is not None:
            t = min(t, self.cancelled_after)
        run_t = t - self.queue_seconds
        if run_t < 0:
            return []
        r = self.run_seconds
        events: list[tuple[float, str]] = [(0.0, "Starting video generation")]
        events += [(r * k / 4, f"Generating video... {25 * k}%") for k in (1, 2, 3)]
        done = self.phase(now) == "COMPLETED" and not self.cancelled
        if done:
            events += [(r, "Generating video... 100%"), (r, "Video generation finished")]
        out = []
        for offset, message in events:
            if offset <= run_t or (done and offset <= r):
                stamp = self.submitted_wall + timedelta(seconds=self.queue_seconds + offset)
                out.append(
                    {
                        "message": message,
                        "level": "INFO",
                        "source": "USER",
                        "timestamp": stamp.isoformat(),
                    }
                )
        return out


# ----------------------------------------------------------------------------------------
# Payload validation (pydantic-style 422 detail lists)


# A field check: (field name, value) -> an error entry, or None when the value is fine.
Check = Callable[[str, Any], dict[str, Any] | None]


@dataclass(frozen=True)
class EndpointSpec:
    kind: Literal["video", "character"]
    fields: dict[str, Check]
    required: frozenset[str]


def _err(field_name: str, msg: str, type_: str, value: Any = None, **ctx: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"loc": ["body", field_name], "msg": msg, "type": type_}
    if type_ != "missing":
        out["input"] = value
    if ctx:
        out["ctx"] = ctx
    return out


def _literal_text(options: tuple[Any, ...]) -> str:
    shown = [repr(o) if isinstance(o, str) else str(o) for o in options]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]


def _string(min_len: int = 1, max_len: int | None = None) -> Check:
    def check(name: str, value: Any) -> dict[str, Any] | None:
        if not isinstance(value, str):
            return _err(name, "Input should be a valid string", "string_type", value)
        if len(value) < min_len:
            suffix = "" if min_len == 1 else "s"
            return _err(
                name,
                f"String should have at least {min_len} character{suffix}",
                "string_too_short",
                value,
                min_length=min_len,
            )
        if max_len is not None and len(value) > max_len:
            return _err(
                name,
                f"String should have at most {max_len} characters",
                "string_too_long",
                value,
                max_length=max_len,
            )
        return None

    return check


def _literal(options: tuple[str, ...]) -> Check:
    def check(name: str, value: Any) -> dict[str, Any] | None:
        if value not in options:
            text = _literal_text(options)
            return _err(name, f"Input should be {text}", "literal_error", value, expected=text)
        return None

    return check


def _duration() -> Check:
    allowed = (4, 8, 12, 16, 20)

    def check(name: str, value: Any) -> dict[str, Any] | None:
        ok = (isinstance(value, int) and not isinstance(value, bool) and value in allowed) or (
            isinstance(value, str) and value in {str(a) for a in allowed}
        )
        if not ok:
            text = _literal_text(allowed)
            return _err(name, f"Input should be {text}", "literal_error", value, expected=text)
        return None

    return check


def _boolean() -> Check:
    def check(name: str, value: Any) -> dict[str, Any] | None:
        if not isinstance(value, bool):
            return _err(name, "Input should be a valid boolean", "bool_type", value)
        return None

    return check


_T2V_ASPECT = ("16:9", "9:16")
_I2V_ASPECT = ("auto", "16:9", "9:16")


def _video_spec(
    aspect: tuple[str, ...] | None,
    resolution: tuple[str, ...] | None,
    extra_required: tuple[str, ...] = (),
    duration: bool = True,
) -> EndpointSpec:
    fields: dict[str, Check] = {
        "prompt": _string(1, 5000),
        "delete_video": _boolean(),
    }
    if duration:
        fields["duration"] = _duration()
    if aspect is not None:
        fields["aspect_ratio"] = _literal(aspect)
    if resolution is not None:
        fields["resolution"] = _literal(resolution)
    for name in extra_required:
        fields[name] = _string(1)
    return EndpointSpec("video", fields, frozenset(("prompt", *extra_required)))


ENDPOINTS: dict[str, EndpointSpec] = {
    "fal-ai/sora-2/text-to-video": _video_spec(_T2V_ASPECT, ("720p",)),
    "fal-ai/sora-2/text-to-video/pro": _video_spec(_T2V_ASPECT, ("720p", "1080p")),
    "fal-ai/sora-2/image-to-video": _video_spec(_I2V_ASPECT, ("auto", "720p"), ("image_url",)),
    "fal-ai/sora-2/image-to-video/pro": _video_spec(
        _I2V_ASPECT, ("auto", "720p", "1080p", "true_1080p"), ("image_url",)
    ),
    "fal-ai/sora-2/video-to-video/remix": _video_spec(None, None, ("video_id",), duration=False),
    "fal-ai/sora-2/characters": EndpointSpec(
        "character",
        {"name": _string(1, 100), "video_url": _string(1)},
        frozenset(("name", "video_url")),
    ),
}


def validate_payload(endpoint: str, payload: Any, *, reject_unknown: bool = False) -> list[dict[str, Any]]:
    """The fal-style 422 ``detail`` list for ``payload`` at ``endpoint`` (empty: valid)."""
    spec = ENDPOINTS[endpoint]
    if not isinstance(payload, dict):
        return [
            {
                "loc": ["body"],
                "msg": "Input should be a valid dictionary or object to extract fields from",
                "type": "model_attributes_type",
                "input": payload,
            }
        ]
    errors: list[dict[str, Any]] = []
    for name, check in spec.fields.items():
        if name not in payload:
            if name in spec.required:
                errors.append(_err(name, "Field required", "missing"))
            continue
        problem = check(name, payload[name])
        if problem is not None:
            errors.append(problem)
    if reject_unknown:
        for name in payload:
            if name not in spec.fields:
                errors.append(_err(name, "Extra inputs are not permitted", "extra_forbidden", payload[name]))
    return errors


# ----------------------------------------------------------------------------------------
# Shared test material: one CA per process, one default video per process


@functools.cache
def _tls_material() -> tuple[trustme.CA, trustme.LeafCert]:
    ca = trustme.CA(organization_name="FakeFal test CA")
    return ca, ca.issue_cert("127.0.0.1", "localhost")


_media_lock = threading.Lock()
_media_dir: Path | None = None
_default_videos: dict[int, Path] = {}
_probe_cache: dict[tuple[str, int, float], dict[str, Any]] = {}


def _shared_media_dir() -> Path:
    global _media_dir
    if _media_dir is None or not _media_dir.is_dir():
        _media_dir = Path(tempfile.mkdtemp(prefix="fakefal-media-"))
        atexit.register(shutil.rmtree, _media_dir, True)
    return _media_dir


def default_video_path(seconds: int = 4) -> Path:
    """The fake's stock video of `seconds` (1280x720 H.264+AAC), made once per process and length."""
    with _media_lock:
        video = _default_videos.get(seconds)
        if video is None or not video.is_file():
            video = media.make_mp4(_shared_media_dir() / f"fake-sora-{seconds}s.mp4", seconds=seconds)
            _default_videos[seconds] = video
        return video


def _video_metadata(path: Path) -> dict[str, Any]:
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime)
    with _media_lock:
        cached = _probe_cache.get(key)
    if cached is not None:
        return cached
    meta: dict[str, Any] = {"width": None, "height": None, "fps": None, "duration": None, "num_frames": None}
    try:
        info = media.probe(path)
    except media.MediaError:
        info = None
    if info is not None:
        video = next((s for s in info["streams"] if s.get("codec_type") == "video"), None)
        if video is not None:
            meta["width"] = video.get("width")
            meta["height"] = video.get("height")
            num, _, den = str(video.get("r_frame_rate", "0/1")).partition("/")
            try:
                meta["fps"] = round(float(num) / float(den or 1), 3)
            except (ValueError, ZeroDivisionError):
                meta["fps"] = None
            frames = video.get("nb_frames")
            meta["num_frames"] = int(frames) if frames and str(frames).isdigit() else None
        duration = info.get("format", {}).get("duration")
        meta["duration"] = float(duration) if duration else None
    with _media_lock:
        _probe_cache[key] = meta
    return meta


# ----------------------------------------------------------------------------------------
# The server


# fal's platform API (api.fal.ai/v1 in production), served by the same fake: this key's requests by endpoint.
LIST_PATH = "/v1/models/requests/by-endpoint"
_REQUEST_PATH = re.compile(r"(?P<app>.+?)/requests/(?P<rid>[^/]+)(?:/(?P<action>status|cancel))?")


def _classify(path: str, method: str) -> tuple[RequestKind | None, str | None]:
    """What a request is, from its path alone: (kind, request id)."""
    if path.startswith("/files/"):
        return "file", None
    if path == LIST_PATH:
        return "list", None
    match = _REQUEST_PATH.fullmatch(path.strip("/"))
    if match is not None:
        kinds: dict[str | None, RequestKind] = {None: "result", "status": "status", "cancel": "cancel"}
        return kinds[match["action"]], match["rid"]
    return ("submit" if method == "POST" else None), None


class FakeFal:
    """The fake fal queue server. See the module docstring for the protocol."""

    def __init__(self, port: int = 0, tmp_dir: Path | None = None) -> None:
        self.port = port
        self.tmp_dir = Path(tmp_dir) if tmp_dir is not None else Path(tempfile.mkdtemp(prefix="fakefal-"))
        self.expected_key: str | None = "test-fal-key"
        self.default_script = JobScript()
        self.reject_unknown_fields = False
        self.submissions: list[Submission] = []
        self.requests: list[RecordedRequest] = []
        self.jobs: dict[str, Job] = {}
        self.files: dict[str, Path] = {}
        self.file_faults: dict[str, tuple[FileFault, int]] = {}  # file name -> (fault, downloads left broken)
        # The request list: its answer's status (None: 200), and whether it shows requests not yet ended
        # (fal's list is read from ended requests; by default the fake shows only those).
        self.list_status: int | None = None
        self.list_in_flight = False
        self.files_open = asyncio.Event()  # clear it to hold every download (a test kills the bot meanwhile)
        self.files_open.set()
        self.downloads_started = 0  # file requests received (recorded requests count them once answered)
        self._scripts: deque[JobScript] = deque()
        self._runner: web.AppRunner | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self.ca_path = self.tmp_dir / "fakefal-ca.pem"

    # -- lifecycle --------------------------------------------------------------------

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"https://{self.host}"

    @property
    def platform_url(self) -> str:
        """What the bot's FAL_PLATFORM_URL points at (https://api.fal.ai/v1 in production)."""
        return f"{self.base_url}/v1"

    def client_ssl_context(self) -> ssl.SSLContext:
        """A client context trusting only the fake's CA (for aiohttp downloads)."""
        return ssl.create_default_context(cafile=str(self.ca_path))

    async def start(self) -> None:
        ca, leaf = _tls_material()
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        ca.cert_pem.write_to_path(str(self.ca_path))
        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        leaf.configure_cert(server_ctx)

        app = web.Application(middlewares=[self._record_middleware], client_max_size=16 * 1024 * 1024)
        app.router.add_get("/files/{name}", self._handle_file)
        app.router.add_get(LIST_PATH, self._handle_list)
        app.router.add_route("*", "/{tail:.*}", self._handle_queue)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        # The fixed port was free when picked and is reused test after test; retry
        # briefly in case the previous server's socket is still being torn down.
        deadline = time.monotonic() + 3.0
        while True:
            site = web.TCPSite(runner, "127.0.0.1", self.port, ssl_context=server_ctx, reuse_address=True)
            try:
                await site.start()
                break
            except OSError:
                if self.port == 0 or time.monotonic() > deadline:
                    await runner.cleanup()
                    raise
                await asyncio.sleep(0.05)
        self._runner = runner
        if self.port == 0:
            self.port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        for task in list(self._background):
            task.cancel()
        for task in list(self._background):
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self._background.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeFal:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- test-facing helpers ----------------------------------------------------------

    def script_next(self, *scripts: JobScript) -> None:
        """Queue scripts for the next submissions, in order (FIFO)."""
        self._scripts.extend(scripts)

    def count(self, request_id: str | None = None, kind: RequestKind | None = None) -> int:
        return sum(
            1
            for r in self.requests
            if (request_id is None or r.request_id == request_id) and (kind is None or r.kind == kind)
        )

    async def wait_for_submission(self, n: int = 1, timeout: float = 10) -> Submission:  # noqa: ASYNC109
        """Wait until at least ``n`` submissions were recorded; return the n-th."""
        deadline = time.monotonic() + timeout
        while len(self.submissions) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(self.submissions)} of {n} fal submissions after {timeout}s")
            await asyncio.sleep(0.01)
        return self.submissions[n - 1]

    def job(self, request_id: str) -> Job:
        return self.jobs[request_id]

    # -- plumbing ---------------------------------------------------------------------

    @web.middleware
    async def _record_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        started = time.monotonic()
        status = 500
        try:
            response: web.StreamResponse = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            kind, rid = _classify(request.path, request.method)
            self.requests.append(
                RecordedRequest(
                    time=started,
                    method=request.method,
                    path=request.path,
                    query=dict(request.query),
                    request_id=rid,
                    status=status,
                    kind=kind,
                )
            )

    @staticmethod
    def _json(
        status: int,
        body: Any,
        rid: str | None = None,
        error_type: str | None = None,
    ) -> web.Response:
        headers = {}
        if rid is not None:
            headers["x-fal-request-id"] = rid
        if error_type is not None:
            headers["x-fal-error-type"] = error_type
        return web.json_response(body, status=status, headers=headers)

    def _authorized(self, request: web.Request) -> bool:
        if self.expected_key is None:
            return True
        return request.headers.get("Authorization") == f"Key {self.expected_key}"

    def _urls(self, app: str, rid: str) -> dict[str, str]:
        base = f"{self.base_url}/{app}/requests/{rid}"
        return {"response_url": base, "status_url": f"{base}/status", "cancel_url": f"{base}/cancel"}

    def _track(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- handlers ---------------------------------------------------------------------

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        path = self.files.get(name)
        if path is None or not path.is_file():
            return self._json(404, {"detail": "File not found"})
        self.downloads_started += 1
        await self.files_open.wait()
        fault, left = self.file_faults.get(name, (None, 0))
        if fault is not None and left > 0:
            self.file_faults[name] = (fault, left - 1)
            if fault == "html":
                page = b"<!doctype html><html><body><h1>502 Bad Gateway</h1></body></html>"
                return web.Response(body=page, headers={"Content-Type": "video/mp4"})
            data = await asyncio.to_thread(path.read_bytes)
            return web.Response(body=data[: len(data) // 2], headers={"Content-Type": "video/mp4"})
        return web.FileResponse(path, headers={"Content-Type": "video/mp4"})

    async def _handle_list(self, request: web.Request) -> web.Response:
        """fal's "list requests by endpoint": this key's requests to one endpoint since `start`, newest
        first, with their input under `expand=payloads`; two to a page, so callers must follow the cursor."""
        if not self._authorized(request):
            return self._json(401, {"detail": "Unauthorized"})
        if self.list_status is not None:
            return self._json(self.list_status, {"detail": "The fake says no"})
        endpoint = request.query.get("endpoint_id", "")
        start = datetime.fromisoformat(request.query.get("start", "1970-01-01T00:00:00Z").replace("Z", "+00:00"))
        payloads = "payloads" in request.query.getall("expand", [])
        now = time.monotonic()
        jobs = [
            job
            for job in self.jobs.values()
            if job.endpoint == endpoint
            and job.submitted_wall >= start
            and (self.list_in_flight or job.phase(now) == "COMPLETED")
        ]
        jobs.sort(key=lambda job: job.submitted_wall, reverse=True)
        page = int(request.query.get("cursor", "0") or 0)
        shown = jobs[page * 2 : page * 2 + 2]
        items = []
        for job in shown:
            ended = job.phase(now) == "COMPLETED"
            item: dict[str, Any] = {
                "request_id": job.request_id,
                "endpoint_id": job.endpoint,
                "sent_at": job.submitted_wall.isoformat().replace("+00:00", "Z"),
                "ended_at": (job.submitted_wall + timedelta(seconds=job.queue_seconds + job.run_seconds)).isoformat()
                if ended
                else None,
                "status_code": 200 if ended else None,
            }
            if payloads:
                item["json_input"] = job.payload
            items.append(item)
        more = len(jobs) > page * 2 + 2
        return self._json(200, {"items": items, "next_cursor": str(page + 1) if more else None, "has_more": more})

    async def _handle_queue(self, request: web.Request) -> web.StreamResponse:
        tail = request.match_info["tail"].strip("/")
        match = _REQUEST_PATH.fullmatch(tail)
        if match is not None:
            action = match["action"]
            kind: RequestKind
            if action is None:
                kind, method = "result", "GET"
            elif action == "status":
                kind, method = "status", "GET"
            else:
                kind, method = "cancel", "PUT"
            if request.method != method:
                return self._json(405, {"detail": "Method Not Allowed"})
            if not self._authorized(request):
                return self._unauthorized(match["app"])
            job = self.jobs.get(match["rid"])
            if job is None or job.app != match["app"]:
                if kind == "cancel":
                    return self._json(404, {"status": "NOT_FOUND"})
                return self._json(404, {"detail": "Request not found"})
            if kind == "status":
                return self._status(request, job)
            if kind == "result":
                return await self._result(job)
            return self._cancel(job)
        if request.method == "POST":
            return await self._submit(request, tail)
        return self._json(404, {"detail": "Not Found"})

    def _unauthorized(self, app: str) -> web.Response:
        return self._json(
            401,
            {"detail": f"Cannot access application '{app}'. Authentication is required to access this application."},
        )

    async def _submit(self, request: web.Request, endpoint: str) -> web.Response:
        app = "/".join(endpoint.split("/")[:2])
        if not self._authorized(request):
            return self._unauthorized(app)
        raw = await request.read()
        now = time.monotonic()
        headers = dict(request.headers)
        try:
            payload: Any = json.loads(raw) if raw else None
            json_ok = True
        except (json.JSONDecodeError, UnicodeDecodeError):
            payload, json_ok = raw.decode("utf-8", "replace"), False

        def record(status: int, rid: str | None, errors: list[dict[str, Any]] | None, script: JobScript | None) -> None:
            self.submissions.append(Submission(rid, endpoint, payload, headers, now, status, errors, script, raw))

        if endpoint not in ENDPOINTS:
            record(404, None, None, None)
            return self._json(404, {"detail": f"Application '{endpoint}' not found"})

        script = self._scripts.popleft() if self._scripts else self.default_script
        if script.submit_answer == "hang_before":
            record(0, None, None, script)
            await asyncio.sleep(3600)
        if not json_ok:
            errors = [{"loc": ["body"], "msg": "JSON decode error", "type": "json_invalid", "ctx": {}}]
        else:
            errors = validate_payload(endpoint, payload, reject_unknown=self.reject_unknown_fields)
        if not errors and script.outcome == "validation_on_submit":
            errors = [
                {
                    "loc": ["body", "duration"],
                    "msg": "Duration is not supported for this request.",
                    "type": "value_error",
                    "ctx": {},
                }
            ]
        if errors:
            record(422, None, errors, script)
            return self._json(422, {"detail": errors})

        rid = str(uuid.uuid4())
        job = Job(
            request_id=rid,
            endpoint=endpoint,
            app=app,
            payload=payload,
            script=script,
            submitted_at=now,
            submitted_wall=datetime.now(UTC),
            video_id=script.video_id or f"video_{uuid.uuid4().hex}",
        )
        self.jobs[rid] = job
        record(200, rid, None, script)
        if ENDPOINTS[endpoint].kind == "video" and script.video is None and script.video_by_seconds is None:
            # Make (or reuse) the stock video while the job is "queued".
            self._track(asyncio.to_thread(default_video_path, self._seconds(job)))
        body = {"status": "IN_QUEUE", "request_id": rid, **self._urls(app, rid)}
        body["queue_position"] = job.queue_position(now)
        if script.submit_answer == "drop":
            assert request.transport is not None
            request.transport.abort()  # fal has the job; its answer never arrives
            return web.Response(status=200)
        if script.submit_answer == "garbage":
            return web.Response(status=200, body=b"<html>upstream reset</html>", content_type="text/html")
        if script.submit_answer == "hang":
            await asyncio.sleep(3600)
        return self._json(200, body, rid)

    def _status(self, request: web.Request, job: Job) -> web.Response:
        job.status_polls += 1
        rid = job.request_id
        if job.status_polls <= job.script.status_errors:
            return self._json(500, {"detail": "Internal Server Error"}, rid)
        now = time.monotonic()
        with_logs = request.query.get("logs", "").lower() in {"1", "true"}
        phase = job.phase(now)
        body: dict[str, Any] = {"status": phase, "request_id": rid, **self._urls(job.app, rid)}
        body["logs"] = job.logs(now) if with_logs else None
        if phase == "IN_QUEUE":
            body["queue_position"] = job.queue_position(now)
            body["metrics"] = {}
        elif phase == "IN_PROGRESS":
            body["metrics"] = {}
        else:
            if job.cancelled_after is not None:
                ran = max(job.cancelled_after - job.queue_seconds, 0.0)
                body["metrics"] = {"inference_time": round(ran, 3)} if ran > 0 else {}
                body["error"] = CANCELLED_MESSAGE
                body["error_type"] = "request_cancelled"
            else:
                body["metrics"] = {"inference_time": round(job.run_seconds, 3)}
                if job.script.outcome == "content_policy":
                    body["error"] = CONTENT_POLICY_MESSAGE
                    body["error_type"] = "content_policy_violation"
                elif job.script.outcome == "server_error":
                    body["error"] = "Internal server error"
                    body["error_type"] = "internal_server_error"
        return self._json(200, body, rid)

    async def _result(self, job: Job) -> web.Response:
        rid = job.request_id
        if job.phase() != "COMPLETED":
            return self._json(400, {"detail": "Request is still in progress"}, rid)
        job.result_fetches += 1
        if job.cancelled:
            return self._json(
                400, {"detail": CANCELLED_MESSAGE, "error_type": "request_cancelled"}, rid, "request_cancelled"
            )
        outcome = job.script.outcome
        if outcome == "content_policy":
            detail = [
                {
                    "loc": ["body", "prompt"],
                    "msg": CONTENT_POLICY_MESSAGE,
                    "type": "content_policy_violation",
                    "ctx": {},
                }
            ]
            return self._json(422, {"detail": detail}, rid, "content_policy_violation")
        if outcome == "server_error" or (outcome == "server_error_then_ok" and job.result_fetches == 1):
            return self._json(
                500,
                {"detail": "Internal server error", "error_type": "internal_server_error"},
                rid,
                "internal_server_error",
            )
        if outcome == "result_gone":
            return self._json(404, {"detail": "Request not found"}, rid)
        if ENDPOINTS[job.endpoint].kind == "character":
            if job.char_id is None:
                job.char_id = f"char_{uuid.uuid4().hex[:24]}"
            return self._json(200, {"id": job.char_id, "name": job.payload.get("name")}, rid)
        return self._json(200, await self._video_result(job), rid)

    def _seconds(self, job: Job) -> int:
        """The length of the video a job makes: its duration, or for a remix its source's."""
        if "video_id" in job.payload:
            source = next((j for j in self.jobs.values() if j.video_id == job.payload["video_id"]), None)
            return self._seconds(source) if source is not None else 4
        try:
            return int(job.payload.get("duration", 4))
        except (TypeError, ValueError):
            return 4

    async def _video_result(self, job: Job) -> dict[str, Any]:
        seconds = self._seconds(job)
        path = job.script.video or (job.script.video_by_seconds or {}).get(seconds)
        path = path or await asyncio.to_thread(default_video_path, seconds)
        meta = await asyncio.to_thread(_video_metadata, path)
        if job.file_name is None:
            name = f"{job.video_id}.mp4"
            n = 1
            while name in self.files and self.files[name] != path:
                n += 1
                name = f"{job.video_id}-{n}.mp4"
            self.files[name] = path
            job.file_name = name
            if job.script.file_fault is not None:
                self.file_faults[name] = (job.script.file_fault, job.script.file_faults)
        video = {
            "url": f"{self.base_url}/files/{job.file_name}",
            "content_type": "video/mp4",
            "file_name": job.file_name,
            "file_size": path.stat().st_size,
            **meta,
        }
        return {"video": video, "video_id": job.video_id, "thumbnail": None}

    def _cancel(self, job: Job) -> web.Response:
        rid = job.request_id
        now = time.monotonic()
        phase = job.phase(now)
        if phase == "COMPLETED":
            return self._json(400, {"status": "ALREADY_COMPLETED"}, rid)
        job.cancel_requested = True
        if phase == "IN_QUEUE" or job.script.honor_cancel_in_progress:
            job.cancelled_after = job.elapsed(now)
        return self._json(202, {"status": "CANCELLATION_REQUESTED"}, rid)
