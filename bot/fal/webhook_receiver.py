"""The HTTP endpoint fal posts its webhooks to (FAL_UPDATES=webhook): aiohttp on WEBHOOK_HOST:WEBHOOK_PORT,
at the path of FAL_WEBHOOK_URL. Nothing is believed before its signature is verified (webhooks.py); a
valid webhook is handed to the inbox, which records it, before fal hears 200."""

from __future__ import annotations

import logging
from typing import Literal, Protocol

from aiohttp import web

from bot.fal.webhooks import JwksUnavailable, Webhook, WebhookRefused, WebhookVerifier

log = logging.getLogger(__name__)

# fal's webhook carries the result's JSON (a video's URL and metadata): a few KiB. A bigger body is not
# fal's and is refused before it is read, let alone verified.
MAX_BODY_BYTES = 256 * 1024
# Sent with every answer, so `python -m bot check` can tell this receiver from another program on the port.
RECEIVER_HEADER = "X-Sora-Webhook-Receiver"

Recorded = Literal["recorded", "duplicate", "replay", "unknown"]


class WebhookInbox(Protocol):
    async def record(self, webhook: Webhook) -> Recorded:
        """Keep a verified webhook (durably, before it is answered) and tell the job's owner. "unknown"
        when no job has its request id, "replay" when this signature was seen before; "duplicate" when
        the request's webhook is recorded already (a no-op)."""


class WebhookReceiver:
    def __init__(
        self,
        verifier: WebhookVerifier,
        inbox: WebhookInbox,
        *,
        host: str,
        port: int,
        path: str,
        max_body: int = MAX_BODY_BYTES,
    ) -> None:
        self._verifier = verifier
        self._inbox = inbox
        self._host = host
        self._port = port
        self._path = path or "/"
        self._max_body = max_body
        self._runner: web.AppRunner | None = None

    @property
    def port(self) -> int:
        """The port listened on (the one picked, when started with port 0)."""
        return self._port

    async def start(self) -> None:
        """Listen; raises OSError when the address cannot be bound (the caller says so in one line)."""
        app = web.Application(client_max_size=self._max_body)
        app.router.add_post(self._path, self._receive)
        app.router.add_get(self._path, self._describe)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        if self._port == 0:
            self._port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _describe(self, request: web.Request) -> web.Response:
        return _answer(405, "fal webhooks are POSTed here", headers={"Allow": "POST"})

    async def _receive(self, request: web.Request) -> web.Response:
        peer = request.remote or "?"
        if request.content_length is not None and request.content_length > self._max_body:
            log.warning("webhook refused from %s: body of %d bytes is too large", peer, request.content_length)
            return _answer(413, "too large")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            log.warning("webhook refused from %s: body too large", peer)
            return _answer(413, "too large")
        try:
            webhook = await self._verifier.verify(request.headers, body)
        except WebhookRefused as refused:
            log.warning("webhook refused from %s: %s", peer, refused.reason)
            return _answer(401, "refused")
        except JwksUnavailable as exc:
            # Not the sender's fault: fal tries again later, by when the keys may be readable.
            log.warning("webhook not verified (fal's keys cannot be read: %s); fal will retry", exc)
            return _answer(503, "keys unavailable")
        try:
            outcome = await self._inbox.record(webhook)
        except Exception:
            log.exception("webhook for request=%s could not be recorded; fal will retry", webhook.request_id)
            return _answer(500, "not recorded")
        if outcome in ("unknown", "replay"):
            what = "no job has this request" if outcome == "unknown" else "its signature was used before"
            log.warning("webhook refused from %s: request=%s %s", peer, webhook.request_id, what)
            return _answer(401, "refused")
        log.info("webhook %s request=%s status=%s", outcome, webhook.request_id, webhook.status)
        return _answer(200, "ok")


def _answer(status: int, text: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=text, headers={RECEIVER_HEADER: "1", **(headers or {})})
