"""FalQueue.status through aiohttp (what the bot runs) says what fal_client's own status call says."""

from __future__ import annotations

import asyncio
import ssl

import aiohttp
import fal_client
import pytest

from bot.fal import FalQueue, FalResultGone, FalUnavailable, QueueStatus
from tests.fakes.fal_fake import FakeFal, JobScript

T2V = "fal-ai/sora-2/text-to-video"
ARGS = {"prompt": "a kite", "duration": 4, "aspect_ratio": "16:9", "resolution": "720p", "delete_video": False}


async def both(fake_fal: FakeFal) -> tuple[FalQueue, FalQueue, aiohttp.ClientSession]:
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl.create_default_context()))
    client = fal_client.AsyncClient(key="test-fal-key")
    return FalQueue(client), FalQueue(client, http=http), http


async def test_the_same_status_through_both_clients_over_a_whole_job(fake_fal: FakeFal) -> None:
    fake_fal.script_next(JobScript(queue_seconds=0.3, run_seconds=0.6, start_position=2))
    plain, fast, http = await both(fake_fal)
    try:
        request_id = await fast.submit(T2V, ARGS)
        seen: list[QueueStatus] = []
        async with asyncio.timeout(10):
            while not seen or seen[-1].state != "completed":
                ours, theirs = await fast.status(T2V, request_id), await plain.status(T2V, request_id)
                if ours.state == theirs.state:  # the job may move on between the two calls
                    assert ours == theirs
                seen.append(ours)
                await asyncio.sleep(0.05)
        assert {s.state for s in seen} == {"queued", "running", "completed"}
        assert seen[-1].logs[-1] == "Video generation finished" and seen[-1].error is None
    finally:
        await http.close()


async def test_errors_map_to_the_same_typed_errors(fake_fal: FakeFal) -> None:
    fake_fal.script_next(JobScript(status_errors=1))
    plain, fast, http = await both(fake_fal)
    try:
        request_id = await fast.submit(T2V, ARGS)
        with pytest.raises(FalUnavailable) as error:
            await fast.status(T2V, request_id)  # the script's one 500
        assert error.value.status == 500
        assert (await fast.status(T2V, request_id)).state == "queued"
        for queue in (plain, fast):
            with pytest.raises(FalResultGone):
                await queue.status(T2V, "00000000-0000-0000-0000-000000000000")
    finally:
        await http.close()
