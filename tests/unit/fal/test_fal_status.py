"""FalQueue.status through aiohttp (what the bot runs) says what fal_client's own status call says."""

from __future__ import annotations

import asyncio
import ssl

import aiohttp
import fal_client
import pytest

from bot.fal.errors import FalResultGone, FalUnavailable
from bot.fal.queue import FalQueue
from tests.fakes.fal import FakeFal, JobScript

T2V = "fal-ai/sora-2/text-to-video"
ARGS = {"prompt": "a kite", "duration": 4, "aspect_ratio": "16:9", "resolution": "720p", "delete_video": False}


async def both(fake_fal: FakeFal) -> tuple[FalQueue, FalQueue, aiohttp.ClientSession]:
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl.create_default_context()))
    client = fal_client.AsyncClient(key="test-fal-key")
    return FalQueue(client), FalQueue(client, http=http), http


async def test_the_same_status_through_both_clients_over_a_whole_job(fake_fal: FakeFal) -> None:
    # Phases long enough that, even with a busy core, three calls often fall within one unchanged status.
    fake_fal.script_next(JobScript(queue_seconds=0.9, run_seconds=1.2, start_position=1))
    plain, fast, http = await both(fake_fal)
    try:
        request_id = await fast.submit(T2V, ARGS)
        compared: set[str] = set()
        async with asyncio.timeout(20):
            while "completed" not in compared:
                # fal's answer moves on with time (queue position, logs): compare only when the aiohttp
                # reads before and after fal_client's are equal, so the job did not move in between.
                before = await fast.status(T2V, request_id)
                theirs = await plain.status(T2V, request_id)
                after = await fast.status(T2V, request_id)
                if before == after:
                    assert theirs == before
                    compared.add(before.state)
                await asyncio.sleep(0.02)
        assert compared == {"queued", "running", "completed"}
        assert after.logs[-1] == "Video generation finished" and after.error is None
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
