"""GET /metrics for Prometheus on METRICS_HOST:METRICS_PORT. The gauges that are read from elsewhere
(jobs by state, gateway latency) are refreshed at each scrape rather than on a timer."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from bot.ops.metrics import Metrics

log = logging.getLogger(__name__)


class MetricsServer:
    def __init__(self, metrics: Metrics, refresh: Callable[[], Awaitable[None]], host: str, port: int) -> None:
        self._metrics = metrics
        self._refresh = refresh
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()
        log.info("metrics on http://%s:%d/metrics", self._host, self._port)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, _request: web.Request) -> web.Response:
        try:
            await self._refresh()
        except Exception:  # a scrape must still answer with what is known
            log.warning("metrics refresh failed", exc_info=True)
        return web.Response(body=self._metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})
