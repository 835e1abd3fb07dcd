"""fal's queue through fal_client.AsyncClient (status polls through aiohttp), with fal's errors mapped to
our own typed errors (errors.py)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from collections.abc import AsyncGenerator
from typing import Any

import aiohttp
import fal_client
import httpx

from bot.domain.text import Text
from bot.fal.backend import QueueStatus
from bot.fal.errors import (
    FalAnswerLost,
    FalError,
    FalLookupRefused,
    FalRefused,
    FalResultGone,
    FalStreamBroken,
    FalUnavailable,
    refusal_sentence,
)

# fal requests on the wire at once. Beyond its 100 connections fal_client's httpx pool queues requests in
# httpcore, which rescans that whole queue against every connection on each request and each response
# (quadratic: seconds of blocked event loop once 1,000 jobs poll); and it keeps only 20 idle connections,
# so more than that in flight opens and drops TLS connections. Jobs wait here instead, in O(1).
MAX_IN_FLIGHT = 16
# fal's platform API, where a request can be found again by its endpoint, time and input.
PLATFORM_URL = "https://api.fal.ai/v1"
SUBMIT_TIMEOUT = 60.0
LOOKUP_PAGES = 10  # 100 requests a page: enough for one job's window on a busy key
# A status stream that sends nothing (not even a keep-alive comment) for this long is taken for dead.
STREAM_IDLE_TIMEOUT = 30.0
# Status streams open at once: each holds a connection (and a file descriptor) for its job's whole life.
# Past this, jobs poll instead (the stream is refused here and tried again later). The benchmark held
# 1,000 open (see STREAM_TLS_BUFFER for their memory).
MAX_STREAMS = 2000
# The read buffer of a status stream's TLS connection. asyncio gives every TLS connection a 256 KiB one
# (SSLProtocol.max_size, filled on each read): 1,000 open streams held 403 MiB in the benchmark. A stream
# reads a few hundred bytes at a time (one TLS record is at most 16 KiB).
STREAM_TLS_BUFFER = 16 * 1024


class FalQueue:
    """Submit, poll, fetch and cancel. Never waits on fal itself: the job runner paces the polling."""

    def __init__(
        self,
        client: fal_client.AsyncClient,
        *,
        http: aiohttp.ClientSession | None = None,
        timeout: float = 30.0,
        max_in_flight: int = MAX_IN_FLIGHT,
        platform_url: str = PLATFORM_URL,
        stream_idle_timeout: float = STREAM_IDLE_TIMEOUT,
        max_streams: int = MAX_STREAMS,
    ) -> None:
        self._client = client
        self._max_streams = max_streams
        self._streams = 0  # open now
        self._stream_idle_timeout = stream_idle_timeout
        self._platform_url = platform_url.rstrip("/")
        # Status polls are nearly all of fal's traffic (1,000 jobs: 200 a second). Through httpx each costs
        # about 4 ms of event loop (its pool checks every idle connection, through anyio, on each request);
        # through aiohttp about 0.6 ms. fal_client keeps submit, result and cancel.
        self._http = http
        self._timeout = timeout
        self._slots = asyncio.Semaphore(max_in_flight)

    async def submit(self, endpoint: str, arguments: dict[str, Any], *, webhook_url: str | None = None) -> str:
        """One POST, never repeated here: fal_client's submit retries lost connections and timeouts by itself
        (up to 10 times), and each retry that reached fal is a second video made and billed. Raises
        FalAnswerLost when fal may have taken the request without our hearing of it."""
        url = fal_client.client.QUEUE_URL_FORMAT + endpoint
        params = {"fal_webhook": webhook_url} if webhook_url else None
        try:
            async with self._slots:
                async with self._session().post(
                    url,
                    json=arguments,
                    params=params,
                    headers=self._auth(),
                    timeout=aiohttp.ClientTimeout(total=SUBMIT_TIMEOUT),
                ) as response:
                    body = await response.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise FalAnswerLost(f"fal's answer was lost ({type(exc).__name__}).") from None
        data = _loads(body)
        if response.status >= 400:
            # An answered error: fal says it did not take the request.
            detail = data.get("detail", body.decode(errors="replace")) if isinstance(data, dict) else body[:300]
            error_type = data.get("error_type") if isinstance(data, dict) else None
            raise _from_http(response.status, detail, error_type or response.headers.get("x-fal-error-type"))
        request_id = data.get("request_id") if isinstance(data, dict) else None
        if not isinstance(request_id, str) or not request_id:
            raise FalAnswerLost("fal's answer to the submit held no request id.")
        return request_id

    async def find_request(self, endpoint: str, arguments: dict[str, Any], since: float) -> list[str]:
        """The ids of this key's requests to `endpoint` with exactly `arguments` as input, sent at or after
        `since` (epoch seconds), oldest first: how a submit whose answer was lost is recognised. fal's
        list may show a request only once it has ended, so callers ask again until they give up."""
        start = dt.datetime.fromtimestamp(since, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        params = {"endpoint_id": endpoint, "start": start, "expand": "payloads", "limit": "100"}
        found: list[tuple[str, str]] = []
        for _ in range(LOOKUP_PAGES):
            data = await self._platform_get("/models/requests/by-endpoint", params)
            for item in data.get("items") or []:
                if isinstance(item, dict) and item.get("json_input") == arguments and item.get("request_id"):
                    found.append((str(item.get("sent_at") or ""), str(item["request_id"])))
            cursor = data.get("next_cursor")
            if not data.get("has_more") or not cursor:
                break
            params["cursor"] = str(cursor)
        return [request_id for _, request_id in sorted(found)]

    async def _platform_get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        try:
            async with self._slots:
                async with self._session().get(
                    self._platform_url + path,
                    params=params,
                    headers=self._auth(),
                    timeout=aiohttp.ClientTimeout(total=self._timeout),
                ) as response:
                    body = await response.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise FalUnavailable(Text("fal could not be reached ({error}).", error=type(exc).__name__)) from None
        if response.status in (401, 403):
            raise FalLookupRefused(f"fal refused to list requests (HTTP {response.status}).", status=response.status)
        data = _loads(body)
        if response.status >= 400 or not isinstance(data, dict):
            raise FalUnavailable(
                Text("fal's request list failed (HTTP {status}).", status=response.status), status=response.status
            )
        return data

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Key {self._client.key}"}

    def _session(self) -> aiohttp.ClientSession:
        """The bot's session: submits and request lists never go through fal_client (see submit)."""
        if self._http is None:
            raise RuntimeError("FalQueue needs the bot's aiohttp session to submit or list requests")
        return self._http

    async def status(self, endpoint: str, request_id: str) -> QueueStatus:
        if self._http is not None:
            return await self._status_aiohttp(endpoint, request_id)
        try:
            async with self._slots:
                status = await self._client.status(endpoint, request_id, with_logs=True)
        except fal_client.FalClientHTTPError as exc:
            raise _from_http(exc.status_code, exc.message, exc.error_type) from None
        except httpx.HTTPError as exc:
            raise FalUnavailable(Text("fal could not be reached ({error}).", error=type(exc).__name__)) from None
        if isinstance(status, fal_client.Queued):
            return QueueStatus("queued", position=status.position)
        if isinstance(status, fal_client.InProgress):
            return QueueStatus("running", logs=_messages(status.logs))
        assert isinstance(status, fal_client.Completed)
        return QueueStatus("completed", logs=_messages(status.logs), error=status.error, error_type=status.error_type)

    async def _status_aiohttp(self, endpoint: str, request_id: str) -> QueueStatus:
        assert self._http is not None
        handle = await self._client.get_handle(endpoint, request_id)  # fal_client's URL, no request
        headers = self._auth()
        try:
            async with self._slots:
                async with self._http.get(
                    handle.status_url,
                    params={"logs": "1"},
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=self._timeout),
                ) as response:
                    body = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise FalUnavailable(Text("fal could not be reached ({error}).", error=type(exc).__name__)) from None
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if response.status >= 400:
            detail = data.get("detail", body.decode(errors="replace")) if isinstance(data, dict) else body[:300]
            error_type = data.get("error_type") if isinstance(data, dict) else None
            raise _from_http(response.status, detail, error_type or response.headers.get("x-fal-error-type"))
        status = _status_of(data)
        if status is None:
            raise FalUnavailable(Text("fal answered with a status this bot does not know."))
        return status

    async def stream(self, endpoint: str, request_id: str) -> AsyncGenerator[QueueStatus, None]:
        """fal's status stream (server-sent events, each `data:` the status object; `:` comments keep it
        alive), read with the bot's aiohttp session: one QueueStatus per event, ending after "completed".
        Streams do not take one of the in-flight slots (they last as long as the job). Every failure
        raises FalStreamBroken, including a stream that ends before COMPLETED or stays silent longer
        than stream_idle_timeout."""
        if self._http is None:
            raise FalStreamBroken("the status stream needs the bot's aiohttp session.")
        if self._streams >= self._max_streams:
            raise FalStreamBroken(f"{self._streams} status streams are open already.")
        self._streams += 1
        try:
            async with contextlib.aclosing(self._stream(endpoint, request_id)) as statuses:
                async for status in statuses:
                    yield status
        finally:
            self._streams -= 1

    async def _stream(self, endpoint: str, request_id: str) -> AsyncGenerator[QueueStatus, None]:
        assert self._http is not None
        handle = await self._client.get_handle(endpoint, request_id)  # fal_client's URL, no request
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self._timeout, sock_read=self._stream_idle_timeout)
        headers = {**self._auth(), "Accept": "text/event-stream"}
        try:
            async with self._http.get(
                handle.status_url + "/stream", params={"logs": "1"}, headers=headers, timeout=timeout
            ) as response:
                if response.status >= 400:
                    raise FalStreamBroken(
                        f"fal refused the status stream (HTTP {response.status}).", status=response.status
                    )
                _shrink_tls_buffer(response)
                data: list[str] = []
                async for raw in response.content:
                    line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                    if line:
                        field, _, value = line.partition(":")
                        if field == "data":
                            data.append(value[1:] if value.startswith(" ") else value)
                        continue  # comments (keep-alives) and other fields carry no status
                    if not data:
                        continue
                    status = _stream_status(_loads("\n".join(data).encode()))
                    data = []
                    yield status
                    if status.state == "completed":
                        return
        except FalStreamBroken:
            raise
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            raise FalStreamBroken(f"fal's status stream failed ({type(exc).__name__}).") from None
        raise FalStreamBroken("fal's status stream ended before the request completed.")

    async def result(self, endpoint: str, request_id: str) -> dict[str, Any]:
        """Fetch a completed request's result with one GET (fal_client's result() would poll first)."""
        handle = await self._client.get_handle(endpoint, request_id)
        try:
            async with self._slots:
                response = await handle.client.get(handle.response_url, timeout=self._timeout)
        except httpx.HTTPError as exc:
            raise FalUnavailable(Text("fal could not be reached ({error}).", error=type(exc).__name__)) from None
        if response.status_code >= 400:
            body = _json(response)
            detail = body.get("detail", response.text) if isinstance(body, dict) else response.text
            error_type = body.get("error_type") if isinstance(body, dict) else None
            raise _from_http(response.status_code, detail, error_type)
        data = response.json()
        if not isinstance(data, dict):
            raise FalUnavailable(Text("fal answered with something that is not a video."))
        return data

    async def cancel(self, endpoint: str, request_id: str) -> bool:
        try:
            async with self._slots:
                await self._client.cancel(endpoint, request_id)
        except (fal_client.FalClientHTTPError, httpx.HTTPError):
            return False
        return True


def _shrink_tls_buffer(response: aiohttp.ClientResponse) -> None:
    """Give this response's TLS connection a STREAM_TLS_BUFFER read buffer instead of asyncio's 256 KiB.
    It goes through CPython's private SSLProtocol attributes (3.11 to 3.13), so it does nothing when they are
    not there. The connection keeps the small buffer when it returns to the pool (its reads are small)."""
    connection = response.connection
    transport = connection.transport if connection is not None else None
    protocol: Any = getattr(transport, "_ssl_protocol", None)
    if not isinstance(getattr(protocol, "_ssl_buffer", None), bytearray):
        return
    buffer = bytearray(STREAM_TLS_BUFFER)
    protocol.max_size = STREAM_TLS_BUFFER  # read by get_buffer() and by each read of decrypted data
    protocol._ssl_buffer = buffer
    protocol._ssl_buffer_view = memoryview(buffer)


def _loads(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _stream_status(data: Any) -> QueueStatus:
    """One event of the status stream as a QueueStatus; anything else raises FalStreamBroken."""
    status = _status_of(data)
    if status is None:
        raise FalStreamBroken("fal's status stream sent something this bot does not understand.")
    return status


def _status_of(data: Any) -> QueueStatus | None:
    """fal's status object (a polled answer, or a streamed event) as a QueueStatus; None if it is not one."""
    state = data.get("status") if isinstance(data, dict) else None
    if state == "IN_QUEUE":
        position = data.get("queue_position")
        return QueueStatus("queued", position=position if isinstance(position, int) else None)
    if state == "IN_PROGRESS":
        return QueueStatus("running", logs=_messages(data.get("logs")))
    if state == "COMPLETED":
        logs = _messages(data.get("logs"))
        return QueueStatus("completed", logs=logs, error=data.get("error"), error_type=data.get("error_type"))
    return None


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _messages(logs: list[dict[str, Any]] | None) -> list[str]:
    return [str(entry.get("message", "")) for entry in logs or [] if entry.get("message")]


def _from_http(status: int, detail: Any, error_type: str | None) -> FalError:
    if status == 404:
        return FalResultGone(
            Text("fal no longer has this video (results expire soon after they are made)."), status=404
        )
    if status in (400, 422):
        return FalRefused(refusal_sentence(detail, error_type), status=status)
    if status in (401, 403):
        return FalUnavailable(
            Text("fal refused the bot's credentials; the operator must check FAL_KEY."), status=status
        )
    return FalUnavailable(Text("fal had an internal error (HTTP {status}).", status=status), status=status)
