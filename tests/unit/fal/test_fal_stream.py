"""FalQueue.stream: fal's status stream (server-sent events) read through the bot's aiohttp session."""

from __future__ import annotations

import asyncio
import contextlib
import ssl

import aiohttp
import fal_client
import pytest

from bot.fal import queue as queue_module
from bot.fal.backend import QueueStatus, StatusStreaming
from bot.fal.errors import FalStreamBroken
from bot.fal.queue import STREAM_TLS_BUFFER, FalQueue
from tests.fakes.fal import FakeFal, JobScript, StreamFault

T2V = "fal-ai/sora-2/text-to-video"
ARGS = {"prompt": "a kite", "duration": 4, "aspect_ratio": "16:9", "resolution": "720p", "delete_video": False}


@pytest.fixture
async def http() -> aiohttp.ClientSession:
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl.create_default_context()))
    yield session  # type: ignore[misc]
    await session.close()


def queue(http: aiohttp.ClientSession, idle: float = 30.0) -> FalQueue:
    return FalQueue(fal_client.AsyncClient(key="test-fal-key"), http=http, stream_idle_timeout=idle)


async def follow(fal: FalQueue, request_id: str) -> list[QueueStatus]:
    seen: list[QueueStatus] = []
    async with asyncio.timeout(20):
        async for status in fal.stream(T2V, request_id):
            seen.append(status)
    return seen


async def test_every_change_in_order_with_logs_keep_alives_ignored(fake_fal: FakeFal, http) -> None:
    fake_fal.stream_ping_seconds = 0.05  # many keep-alives between the events
    fake_fal.script_next(JobScript(queue_seconds=0.6, run_seconds=1.0, start_position=2))
    fal = queue(http)
    assert isinstance(fal, StatusStreaming)
    request_id = await fal.submit(T2V, ARGS)
    seen = await follow(fal, request_id)
    states = [status.state for status in seen]
    assert states[0] == "queued" and states[-1] == "completed"
    assert states == sorted(states, key=["queued", "running", "completed"].index)  # never backwards
    positions = [status.position for status in seen if status.state == "queued"]
    assert positions == sorted(positions, reverse=True) and positions[-1] == 0
    assert "running" in states
    assert seen[-1].logs[-1] == "Video generation finished" and seen[-1].error is None
    logs = [status.logs for status in seen if status.state == "running"]
    assert logs[0][0] == "Starting video generation"
    job = fake_fal.job(request_id)
    assert job.streams_opened == 1 and job.status_polls == 0
    assert fake_fal.count(request_id, "stream") == 1


async def test_a_stream_reads_through_a_small_tls_buffer(fake_fal: FakeFal, http, monkeypatch) -> None:
    # asyncio's 256 KiB per TLS connection made 1,000 open streams 403 MiB (docs/benchmark.md).
    shrunk: list[tuple[int, int]] = []
    real = queue_module._shrink_tls_buffer

    def spy(response: aiohttp.ClientResponse) -> None:
        real(response)
        assert response.connection is not None
        protocol = response.connection.transport._ssl_protocol  # type: ignore[union-attr]
        shrunk.append((protocol.max_size, len(protocol._ssl_buffer)))

    monkeypatch.setattr(queue_module, "_shrink_tls_buffer", spy)
    fake_fal.script_next(JobScript(queue_seconds=0.3, run_seconds=0.5, start_position=2))
    fal = queue(http)
    seen = await follow(fal, await fal.submit(T2V, ARGS))
    assert shrunk == [(STREAM_TLS_BUFFER, STREAM_TLS_BUFFER)]
    assert seen[-1].state == "completed" and seen[-1].logs[-1] == "Video generation finished"


async def test_an_error_at_completed_is_reported(fake_fal: FakeFal, http) -> None:
    fake_fal.script_next(JobScript(queue_seconds=0.1, run_seconds=0.1, outcome="content_policy"))
    fal = queue(http)
    seen = await follow(fal, await fal.submit(T2V, ARGS))
    assert seen[-1].state == "completed" and seen[-1].error_type == "content_policy_violation"


@pytest.mark.parametrize("fault", ["cut", "garbage"])
async def test_a_cut_or_garbled_stream_raises_after_the_events_it_sent(
    fake_fal: FakeFal, http, fault: StreamFault
) -> None:
    fake_fal.script_next(JobScript(queue_seconds=0.5, run_seconds=0.5, stream_cut_after=1, stream_fault=fault))
    fal = queue(http)
    request_id = await fal.submit(T2V, ARGS)
    seen: list[QueueStatus] = []
    with pytest.raises(FalStreamBroken):
        async with asyncio.timeout(10):
            async for status in fal.stream(T2V, request_id):
                seen.append(status)
    assert [status.state for status in seen] == ["queued"]
    # Only the first stream was faulty: the second runs to COMPLETED.
    assert (await follow(fal, request_id))[-1].state == "completed"


async def test_a_silent_stream_raises_after_the_idle_timeout(fake_fal: FakeFal, http) -> None:
    fake_fal.script_next(JobScript(queue_seconds=5, stream_cut_after=1, stream_fault="silent"))
    fal = queue(http, idle=0.5)
    request_id = await fal.submit(T2V, ARGS)
    with pytest.raises(FalStreamBroken):
        await follow(fal, request_id)


async def test_keep_alives_alone_keep_a_stream_open(fake_fal: FakeFal, http) -> None:
    fake_fal.stream_ping_seconds = 0.1
    fake_fal.script_next(JobScript(queue_seconds=1.5, run_seconds=0.1, start_position=0))
    fal = queue(http, idle=0.5)  # shorter than the queue's silence, longer than the keep-alives' gap
    seen = await follow(fal, await fal.submit(T2V, ARGS))
    assert seen[-1].state == "completed"


@pytest.mark.parametrize("status", [401, 404, 500])
async def test_a_refused_stream_raises(fake_fal: FakeFal, http, status: int) -> None:
    fake_fal.stream_status = status
    fal = queue(http)
    request_id = await fal.submit(T2V, ARGS)
    with pytest.raises(FalStreamBroken) as error:
        await follow(fal, request_id)
    assert error.value.status == status


async def test_an_unreachable_fal_raises(http) -> None:
    fal = queue(http)
    with pytest.raises(FalStreamBroken):
        await follow(fal, "00000000-0000-0000-0000-000000000000")


async def test_without_the_bots_session_it_raises() -> None:
    fal = FalQueue(fal_client.AsyncClient(key="test-fal-key"))
    with pytest.raises(FalStreamBroken):
        await follow(fal, "any")


async def test_streams_past_the_limit_are_refused_until_one_closes(fake_fal: FakeFal, http) -> None:
    fake_fal.script_next(JobScript(queue_seconds=0.3, run_seconds=0.3), JobScript(queue_seconds=0.3, run_seconds=0.3))
    fal = FalQueue(fal_client.AsyncClient(key="test-fal-key"), http=http, max_streams=1)
    first, second = await fal.submit(T2V, ARGS), await fal.submit(T2V, ARGS)
    async with contextlib.aclosing(fal.stream(T2V, first)) as statuses:
        assert (await anext(statuses)).state == "queued"
        with pytest.raises(FalStreamBroken):
            await follow(fal, second)
    assert (await follow(fal, second))[-1].state == "completed"  # the first one's slot is free again
