"""The fake fal queue server (FakeFal): its HTTP handlers. The package docstring describes the protocol."""

from __future__ import annotations

import asyncio
import json
import re
import ssl
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .media_cache import _tls_material, _video_metadata, default_video_path
from .scripts import (
    CANCELLED_MESSAGE,
    CONTENT_POLICY_MESSAGE,
    FileFault,
    Job,
    JobScript,
    RecordedRequest,
    RequestKind,
    Submission,
)
from .validation import ENDPOINTS, validate_payload
from .webhooks import (
    DEFAULT_RETRY_SECONDS,
    PAYLOAD_TOO_LARGE,
    WEBHOOK_USER_ID,
    deliver,
    generate_key,
    jwks,
    webhook_body,
)

JWKS_PATH = "/.well-known/jwks.json"  # fal's webhook keys (rest.fal.ai in production), served by the same fake
# fal's platform API (api.fal.ai/v1 in production), served by the same fake: this key's requests by endpoint.
LIST_PATH = "/v1/models/requests/by-endpoint"
_REQUEST_PATH = re.compile(r"(?P<app>.+?)/requests/(?P<rid>[^/]+)(?:/(?P<action>status/stream|status|cancel))?")


def _classify(path: str, method: str) -> tuple[RequestKind | None, str | None]:
    """What a request is, from its path alone: (kind, request id)."""
    if path.startswith("/files/"):
        return "file", None
    if path == LIST_PATH:
        return "list", None
    match = _REQUEST_PATH.fullmatch(path.strip("/"))
    if match is not None:
        kinds: dict[str | None, RequestKind] = {
            None: "result",
            "status": "status",
            "status/stream": "stream",
            "cancel": "cancel",
        }
        return kinds[match["action"]], match["rid"]
    return ("submit" if method == "POST" else None), None


class FakeFal:
    """The fake fal queue server. See the package docstring for the protocol."""

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
        # The status stream: its answer's status when refused (None: it streams), and the seconds between
        # its keep-alive comments and between its looks at the job.
        self.stream_status: int | None = None
        # A stream sleeps until its job's next change by the clock (Job.next_change), at most
        # stream_tick_seconds (a cancel is seen within that).
        self.stream_ping_seconds = 0.2
        self.stream_tick_seconds = 0.02
        self.streams_open = 0  # status streams open now
        self.streams_open_peak = 0  # the most open at once (reset it to measure a window)
        self._file_jobs: dict[str, Job] = {}  # video file name -> the job that made it
        self.files_open = asyncio.Event()  # clear it to hold every download (a test kills the bot meanwhile)
        self.files_open.set()
        self.downloads_started = 0  # file requests received (recorded requests count them once answered)
        self._scripts: deque[JobScript] = deque()
        self._runner: web.AppRunner | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self.ca_path = self.tmp_dir / "fakefal-ca.pem"
        # Webhooks: the signing key (published at jwks_url with any retired keys still listed), the fal user
        # id they name, the waits before each retry of a failed delivery (their count is the retry count),
        # the JWKS answer's status when it fails (None: 200), how often a waiting webhook looks at its job,
        # and the clock of its timestamps (a test may set it back to sign stale ones, or step it).
        self.webhook_key = generate_key()
        self.webhook_retired_keys: list[Ed25519PrivateKey] = []
        self.webhook_user_id = WEBHOOK_USER_ID
        self.webhook_retry_seconds: tuple[float, ...] = DEFAULT_RETRY_SECONDS
        self.webhook_timeout_seconds = 3.0
        self.webhook_tick_seconds = 0.02
        self.jwks_status: int | None = None
        self.webhook_clock: Callable[[], float] = time.time  # the unix time a webhook is signed with

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

    @property
    def jwks_url(self) -> str:
        """What the bot's FAL_JWKS_URL points at (https://rest.fal.ai/.well-known/jwks.json in production)."""
        return f"{self.base_url}{JWKS_PATH}"

    def rotate_webhook_key(self, keep_old: bool = False) -> None:
        """Sign webhooks with a new key from now on; the JWKS lists it (and, with keep_old, the old one too)."""
        if keep_old:
            self.webhook_retired_keys.append(self.webhook_key)
        self.webhook_key = generate_key()

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
        app.router.add_get(JWKS_PATH, self._handle_jwks)
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
        job = self._file_jobs.get(name)
        if job is not None and job.first_download_at is None:
            job.first_download_at = time.monotonic()
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

    async def _handle_jwks(self, request: web.Request) -> web.Response:
        """fal's public webhook keys (no auth); `jwks_status` makes it fail."""
        if self.jwks_status is not None:
            return self._json(self.jwks_status, {"detail": "The fake's JWKS is down"})
        return self._json(200, jwks([self.webhook_key, *self.webhook_retired_keys]))

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
            elif action == "status/stream":
                kind, method = "stream", "GET"
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
            if kind == "stream":
                return await self._stream(request, job)
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
        if request.query.get("fal_webhook"):
            job.webhook_url = request.query["fal_webhook"]
            if script.webhook != "drop":
                self._track(self._send_webhook(job))
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
        with_logs = request.query.get("logs", "").lower() in {"1", "true"}
        return self._json(200, self._status_body(job, with_logs), rid)

    async def _stream(self, request: web.Request, job: Job) -> web.StreamResponse:
        """fal's status stream: server-sent events, each `data:` the status object, sent when it changes;
        `: ping` comments between; closed after COMPLETED. The script's fault may cut it, garble it or
        make it fall silent."""
        job.streams_opened += 1
        # Recorded now (the request log has it only once it ends): a reopened stream is a job asking again.
        job.stream_opened_at.append(time.monotonic())
        rid = job.request_id
        if self.stream_status is not None:
            return self._json(self.stream_status, {"detail": "The fake refuses the stream"}, rid)
        self.streams_open += 1
        self.streams_open_peak = max(self.streams_open_peak, self.streams_open)
        try:
            return await self._stream_events(request, job)
        except ConnectionResetError:  # the bot went away (a kill -9): the stream just ends
            return web.Response(status=200)
        finally:
            self.streams_open -= 1

    async def _stream_events(self, request: web.Request, job: Job) -> web.StreamResponse:
        rid = job.request_id
        with_logs = request.query.get("logs", "").lower() in {"1", "true"}
        script = job.script
        faulty = script.stream_cut_after is not None and job.streams_opened <= script.stream_faults
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "x-fal-request-id": rid})
        await response.prepare(request)
        sent, last, last_ping = 0, None, time.monotonic()
        while True:
            if faulty and sent >= (script.stream_cut_after or 0):
                if script.stream_fault == "garbage":
                    await response.write(b"data: <html>upstream reset</html>\n\n")
                    await asyncio.sleep(3600)
                elif script.stream_fault == "silent":
                    await asyncio.sleep(3600)
                assert request.transport is not None
                request.transport.abort()
                return response
            body = self._status_body(job, with_logs)
            if body != last:
                await response.write(b"data: " + json.dumps(body).encode() + b"\n\n")
                sent, last = sent + 1, body
                if body["status"] == "COMPLETED":
                    await response.write_eof()
                    return response
            elif time.monotonic() - last_ping >= self.stream_ping_seconds:
                await response.write(b": ping\n\n")
                last_ping = time.monotonic()
            now = time.monotonic()
            wake = min(job.next_change(now) + 0.001, last_ping + self.stream_ping_seconds)
            await asyncio.sleep(min(max(wake - now, 0.001), self.stream_tick_seconds))

    def _status_body(self, job: Job, with_logs: bool) -> dict[str, Any]:
        rid = job.request_id
        now = time.monotonic()
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
        return body

    async def _result(self, job: Job) -> web.Response:
        rid = job.request_id
        if job.phase() != "COMPLETED":
            return self._json(400, {"detail": "Request is still in progress"}, rid)
        job.result_fetches += 1
        status, body, error_type = await self._final_result(job, first_fetch=job.result_fetches == 1)
        return self._json(status, body, rid, error_type)

    async def _final_result(
        self, job: Job, *, first_fetch: bool = True, fetch_faults: bool = True
    ) -> tuple[int, Any, str | None]:
        """A COMPLETED job's result, as (HTTP status, body, error type): what a result fetch answers and what
        a webhook carries. ``fetch_faults`` applies the faults of fetching (outcomes server_error_then_ok on
        the first fetch, and result_gone); a webhook is sent without them."""
        if job.cancelled:
            return 400, {"detail": CANCELLED_MESSAGE, "error_type": "request_cancelled"}, "request_cancelled"
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
            return 422, {"detail": detail}, "content_policy_violation"
        if outcome == "server_error" or (outcome == "server_error_then_ok" and first_fetch and fetch_faults):
            error = {"detail": "Internal server error", "error_type": "internal_server_error"}
            return 500, error, "internal_server_error"
        if outcome == "result_gone" and fetch_faults:
            return 404, {"detail": "Request not found"}, None
        if ENDPOINTS[job.endpoint].kind == "character":
            if job.char_id is None:
                job.char_id = f"char_{uuid.uuid4().hex[:24]}"
            return 200, {"id": job.char_id, "name": job.payload.get("name")}, None
        return 200, await self._video_result(job), None

    async def _send_webhook(self, job: Job) -> None:
        """Once the job is COMPLETED (a cancel completes it early), send its webhook as its script says."""
        # A cancel moves the moment of completion earlier, with no event to wait on: look every tick.
        while job.phase() != "COMPLETED":  # noqa: ASYNC110
            await asyncio.sleep(min(self.webhook_tick_seconds, max(job.completed_at - time.monotonic(), 0.001)))
        status, result, _ = await self._final_result(job, fetch_faults=False)
        ok = status == 200
        error = None if ok else self._status_body(job, with_logs=False).get("error")
        payload_error = PAYLOAD_TOO_LARGE if job.script.webhook == "payload_error" else None
        await deliver(
            job,
            webhook_body(job.request_id, ok, result, error, payload_error),
            key=lambda: self.webhook_key,
            user_id=self.webhook_user_id,
            retry_seconds=self.webhook_retry_seconds,
            duplicates=job.script.webhook_duplicates,
            timeout=self.webhook_timeout_seconds,
            clock=self.webhook_clock,
        )

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
            self._file_jobs[name] = job
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
