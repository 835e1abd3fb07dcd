"""HTTP side of the Discord fake: body parsing, recording, auth, rate limits and route dispatch."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import BodyPartReader, web
from multidict import CIMultiDict

from .models import JSON, DiscordError, FileSink, RecordedFile, RecordedRequest
from .ratelimit import RateLimiter

if TYPE_CHECKING:
    from .server import FakeDiscord

API_PREFIX = "/api/v10"
log = logging.getLogger(__name__)
CHUNK = 1 << 20


@dataclass
class Call:
    """One routed request as a handler sees it."""

    record: RecordedRequest
    params: dict[str, str]

    @property
    def json(self) -> Any:
        return self.record.json

    @property
    def body(self) -> JSON:
        return self.record.json if isinstance(self.record.json, dict) else {}

    @property
    def files(self) -> list[RecordedFile]:
        return self.record.files

    @property
    def query(self) -> dict[str, str]:
        return self.record.query

    def int_param(self, name: str) -> int:
        try:
            return int(self.params[name])
        except ValueError:
            raise DiscordError(404, 0, "404: Not Found") from None


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Call], Awaitable[Reply]]


@dataclass
class Route:
    method: str
    template: str
    handler: Handler
    pattern: re.Pattern[str]
    authenticated: bool


def compile_template(template: str) -> re.Pattern[str]:
    parts = [f"(?P<{seg[1:-1]}>[^/]+)" if seg.startswith("{") else re.escape(seg) for seg in template.split("/")]
    return re.compile("/".join(parts))


class RestDispatcher:
    """The catch-all aiohttp handler for /api/v10/...: records everything, then routes."""

    def __init__(self, fake: FakeDiscord, limiter: RateLimiter, upload_dir: Path) -> None:
        self._fake = fake
        self._limiter = limiter
        self._upload_dir = upload_dir
        self._routes: list[Route] = []

    def add(self, method: str, template: str, handler: Handler, *, authenticated: bool = True) -> None:
        self._routes.append(Route(method, template, handler, compile_template(template), authenticated))

    def _match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """The route for method+path, its params, and whether the path exists for another method."""
        path_known = False
        best: tuple[Route | None, dict[str, str]] = (None, {})
        best_literals = -1
        for route in self._routes:
            m = route.pattern.fullmatch(path)
            if m is None:
                continue
            path_known = True
            literals = sum(1 for seg in route.template.split("/") if not seg.startswith("{"))
            if route.method == method and literals > best_literals:
                best, best_literals = (route, m.groupdict()), literals
        return best[0], best[1], path_known

    async def handle(self, request: web.Request) -> web.StreamResponse:
        arrived = time.monotonic()
        path = request.path[len(API_PREFIX) :] if request.path.startswith(API_PREFIX + "/") else request.path
        try:
            body, files = await self._read_body(request)
        except (ValueError, UnicodeDecodeError):
            body, files = None, []
        record = RecordedRequest(
            time=arrived,
            method=request.method,
            path=path,
            query=dict(request.query),
            headers=CIMultiDict(request.headers),
            json=body,
            files=files,
            content_type=request.content_type,
        )
        headers: dict[str, str] = {"Via": "1.1 google", "X-Fake-Discord": "1"}
        fault = self._fake.faults.take(record.method, record.path, record.json)
        if fault is not None and fault.action == "reset":
            return self._drop(request, record)
        if fault is not None and fault.action == "status":
            record.status = fault.status
            self._fake._record_request(record)
            body = json.dumps({"message": f"{fault.status}: Service Unavailable", "code": 0}).encode()
            return web.Response(body=body, status=fault.status, headers=headers | {"Content-Type": "application/json"})
        if fault is not None and fault.action == "hold":
            await fault.released.wait()
        try:
            reply = await self._answer(request, record, headers)
        except DiscordError as exc:
            reply = Reply(exc.status, exc.body())
        except Exception as exc:  # a bug in the fake: answer 500, keep it visible to the test
            log.exception("fake Discord failed on %s %s", record.method, record.path)
            self._fake.internal_errors.append(f"{record.method} {record.path}: {exc!r}")
            reply = Reply(500, {"message": f"fake Discord internal error: {exc!r}", "code": 0})
        record.status = reply.status
        record.response_json = reply.body
        headers.update(reply.headers)
        if fault is not None and fault.action == "answer_lost":
            return self._drop(request, record)
        self._fake._record_request(record)
        if fault is not None and fault.action == "hold_after":
            await fault.released.wait()
        if reply.status == 204 or reply.body is None:
            return web.Response(status=reply.status, headers=headers)
        # Exactly "application/json": discord.py compares the header verbatim (no charset).
        headers["Content-Type"] = "application/json"
        return web.Response(body=json.dumps(reply.body).encode(), status=reply.status, headers=headers)

    def _drop(self, request: web.Request, record: RecordedRequest) -> web.StreamResponse:
        """Close the connection without an answer (recorded with status 0)."""
        record.status = 0
        self._fake._record_request(record)
        assert request.transport is not None
        request.transport.abort()
        return web.Response(status=200)

    async def _answer(self, request: web.Request, record: RecordedRequest, headers: dict[str, str]) -> Reply:
        route, params, path_known = self._match(record.method, record.path)
        if route is None:
            if path_known:
                raise DiscordError(405, 0, "405: Method Not Allowed")
            raise DiscordError(404, 0, "404: Not Found")
        record.route = route.template
        if route.authenticated and request.headers.get("Authorization") != f"Bot {self._fake.bot_token}":
            raise DiscordError(401, 0, "401: Unauthorized")
        major = params.get("channel_id") or params.get("guild_id") or params.get("webhook_id") or ""
        decision = self._limiter.decide(record.method, record.path, route.template, major)
        headers.update(decision.headers)
        if decision.refused is not None:
            return Reply(decision.status, decision.refused)
        return await route.handler(Call(record, params))

    async def _read_body(self, request: web.Request) -> tuple[Any, list[RecordedFile]]:
        if request.content_type.startswith("multipart/"):
            return await self._read_multipart(request)
        if not request.can_read_body:
            return None, []
        raw = await request.read()
        if not raw:
            return None, []
        if request.content_type == "application/json":
            return json.loads(raw), []
        try:
            return json.loads(raw), []
        except ValueError:
            return None, []

    async def _read_multipart(self, request: web.Request) -> tuple[Any, list[RecordedFile]]:
        reader = await request.multipart()
        payload: Any = None
        files: list[RecordedFile] = []
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            name = part.name or ""
            if part.filename is None and not name.startswith("files["):
                text = await part.text()
                if name == "payload_json":
                    payload = json.loads(text)
                continue
            suffix = re.sub(r"[^A-Za-z0-9.]", "", Path(part.filename or "").suffix)[:16]
            target = self._upload_dir / f"{uuid.uuid4().hex}{suffix}"
            content_type = part.headers.get("Content-Type", "application/octet-stream")
            sink = FileSink(target, name, part.filename or name, content_type)
            while chunk := await part.read_chunk(CHUNK):
                sink.write(chunk)
            files.append(sink.close())
        return payload, files
