import hashlib

import aiohttp
import pytest
from aiohttp import web

from bot.jobs.download import DownloadError, download


@pytest.fixture
async def server():
    payload = bytes(range(256)) * 4096  # 1 MiB
    hits = {"flaky": 0}

    async def video(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        await response.prepare(request)  # no Content-Length: the cap must hold while streaming
        for start in range(0, len(payload), 65536):
            await response.write(payload[start : start + 65536])
        return response

    async def flaky(request: web.Request) -> web.Response:
        hits["flaky"] += 1
        if hits["flaky"] == 1:
            return web.Response(status=503)
        return web.Response(body=payload)

    async def gone(request: web.Request) -> web.Response:
        return web.Response(status=404)

    app = web.Application()
    app.router.add_get("/video.mp4", video)
    app.router.add_get("/flaky.mp4", flaky)
    app.router.add_get("/gone.mp4", gone)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    async with aiohttp.ClientSession() as session:
        yield f"http://127.0.0.1:{port}", session, payload, hits
    await runner.cleanup()


async def test_streams_the_whole_file_to_disk(server, tmp_path):
    base, session, payload, _ = server
    path = await download(session, f"{base}/video.mp4", tmp_path, max_bytes=2 * 2**20)
    assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(payload).digest()


async def test_over_the_cap_is_refused_and_leaves_no_file(server, tmp_path):
    base, session, _, _ = server
    with pytest.raises(DownloadError, match="larger than"):
        await download(session, f"{base}/video.mp4", tmp_path, max_bytes=300_000)
    assert list(tmp_path.iterdir()) == []


async def test_a_transient_failure_is_retried(server, tmp_path):
    base, session, payload, hits = server
    path = await download(session, f"{base}/flaky.mp4", tmp_path, max_bytes=2 * 2**20)
    assert hits["flaky"] == 2 and path.stat().st_size == len(payload)


async def test_an_expired_link_says_so(server, tmp_path):
    base, session, _, _ = server
    with pytest.raises(DownloadError, match="expired"):
        await download(session, f"{base}/gone.mp4", tmp_path, max_bytes=2**20)
