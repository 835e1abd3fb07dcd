"""A submit reaches fal once: what fal_client does with a lost answer, what FalQueue does instead, and how
a lost submit is recognised in fal's request list. Real fal_client and aiohttp against the fake fal."""

from __future__ import annotations

import time

import aiohttp
import fal_client
import pytest

from bot.domain.sora import ENDPOINT_TEXT
from bot.fal.errors import FalAnswerLost, FalLookupRefused, FalRefused, FalUnavailable
from bot.fal.queue import FalQueue
from tests.fakes.fal import JobScript

ARGS = {"prompt": "a fox", "duration": 4, "aspect_ratio": "16:9", "resolution": "720p", "delete_video": False}


@pytest.fixture
async def queue(fake_fal):
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=fake_fal.client_ssl_context())) as http:
        yield FalQueue(fal_client.AsyncClient(key="test-fal-key"), http=http, platform_url=fake_fal.platform_url)


async def test_fal_client_alone_sends_a_submit_again_when_its_answer_is_lost(fake_fal):
    # Why FalQueue does not use fal_client's submit: the first request made a job, its answer was lost,
    # and fal_client quietly sent it again: two videos, both billed, one known.
    fake_fal.script_next(JobScript(submit_answer="drop"))
    handle = await fal_client.AsyncClient(key="test-fal-key").submit(ENDPOINT_TEXT, ARGS)
    assert len(fake_fal.submissions) == 2 and len(fake_fal.jobs) == 2
    assert handle.request_id == fake_fal.submissions[1].request_id


@pytest.mark.parametrize("answer", ["drop", "garbage"])
async def test_a_lost_answer_is_reported_and_never_sent_again(queue, fake_fal, answer):
    fake_fal.script_next(JobScript(submit_answer=answer))
    with pytest.raises(FalAnswerLost):
        await queue.submit(ENDPOINT_TEXT, ARGS)
    assert len(fake_fal.submissions) == 1 and len(fake_fal.jobs) == 1


async def test_answered_errors_say_fal_did_not_take_it(queue, fake_fal):
    fake_fal.script_next(JobScript(outcome="validation_on_submit"))
    with pytest.raises(FalRefused):
        await queue.submit(ENDPOINT_TEXT, ARGS)
    fake_fal.expected_key = "another-key"
    with pytest.raises(FalUnavailable) as refused:
        await queue.submit(ENDPOINT_TEXT, ARGS)
    assert refused.value.status == 401 and not isinstance(refused.value, FalAnswerLost)
    assert len(fake_fal.jobs) == 0


async def test_a_lost_submit_is_found_by_its_exact_input_and_time(queue, fake_fal):
    fake_fal.default_script = JobScript(queue_seconds=0.0, run_seconds=0.0)
    since = time.time() - 60
    other = {**ARGS, "prompt": "another fox"}
    for arguments in (other, ARGS, other, other):  # more than one page of the list (two a page)
        await queue.submit(ENDPOINT_TEXT, arguments)
    found = await queue.find_request(ENDPOINT_TEXT, ARGS, since)
    assert found == [fake_fal.submissions[1].request_id]
    assert await queue.find_request(ENDPOINT_TEXT, ARGS, time.time() + 120) == []  # sent before the window
    assert await queue.find_request(ENDPOINT_TEXT, {**ARGS, "duration": 8}, since) == []


async def test_the_list_only_shows_ended_requests_so_a_queued_one_is_not_found_yet(queue, fake_fal):
    fake_fal.default_script = JobScript(queue_seconds=30.0)
    await queue.submit(ENDPOINT_TEXT, ARGS)
    assert await queue.find_request(ENDPOINT_TEXT, ARGS, time.time() - 60) == []
    fake_fal.list_in_flight = True  # if fal lists requests as soon as they are sent, they are found at once
    assert len(await queue.find_request(ENDPOINT_TEXT, ARGS, time.time() - 60)) == 1


async def test_a_key_that_may_not_list_is_told_apart_from_an_outage(queue, fake_fal):
    fake_fal.list_status = 403
    with pytest.raises(FalLookupRefused):
        await queue.find_request(ENDPOINT_TEXT, ARGS, time.time())
    fake_fal.list_status = 503
    with pytest.raises(FalUnavailable):
        await queue.find_request(ENDPOINT_TEXT, ARGS, time.time())
