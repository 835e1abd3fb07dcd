"""FAL_UPDATES=webhook end to end: the running bot (its receiver on loopback, fal's keys from the fake's
JWKS) takes each job's result from fal's signed webhook. Every forged, altered, stale, replayed,
misaddressed or oversized webhook is refused and changes nothing; the job is still delivered once, by the
genuine webhook, with an exact ledger."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bot.app import App
from bot.config import ConfigurationError
from bot.domain.models import JobState
from tests.e2e.conftest import settings_for
from tests.e2e.helpers import db_rows, eventually, eventually_async, job_in_state, ledger_of, options, video_posts
from tests.fakes.fal import JobScript, sign
from tests.fakes.ports import pick_free_port
from tests.pg import ENGINES

PATH = "/fal/webhook"


async def start_hooked(world, start_bot, **overrides):
    port = pick_free_port()
    bot = await start_bot(
        fal_updates="webhook",
        fal_webhook_url=f"http://127.0.0.1:{port}{PATH}",
        webhook_port=port,
        fal_jwks_url=world.fal.jwks_url,
        **overrides,
    )
    return bot, f"http://127.0.0.1:{port}{PATH}"


async def submitted_job(world):
    await world.discord.send_slash_command(
        world.guild_id, world.channel_id, world.user_id, name="generate", options=options("a red kite")
    )
    submission = await world.fal.wait_for_submission()
    return world.fal.job(submission.request_id)


def forged_body(request_id: str) -> bytes:
    """A webhook that would hand the bot someone else's video, were it believed."""
    video = {"url": "https://evil.example/v.mp4", "content_type": "video/mp4", "file_name": "v.mp4"}
    payload = {"video": {**video, "file_size": 1, "width": 1, "height": 1}, "video_id": "video_evil"}
    body = {"request_id": request_id, "gateway_request_id": request_id, "status": "OK", "payload": payload}
    return json.dumps(body).encode()


def attack(kind: str, fake, request_id: str) -> tuple[dict[str, str], bytes]:
    now = int(time.time())
    body = forged_body(request_id)
    if kind == "forged signature":
        headers = sign(fake.webhook_key, request_id, fake.webhook_user_id, str(now), body)
        headers["X-Fal-Webhook-Signature"] = Ed25519PrivateKey.generate().sign(b"anything").hex()
    elif kind == "another key":
        headers = sign(Ed25519PrivateKey.generate(), request_id, fake.webhook_user_id, str(now), body)
    elif kind == "altered body":
        genuine = body.replace(b"video_evil", b"video_okay")
        headers = sign(fake.webhook_key, request_id, fake.webhook_user_id, str(now), genuine)
    elif kind == "stale timestamp":
        headers = sign(fake.webhook_key, request_id, fake.webhook_user_id, str(now - 301), body)
    elif kind == "unknown request id":
        body = forged_body("req-nobody-has")
        headers = sign(fake.webhook_key, "req-nobody-has", fake.webhook_user_id, str(now), body)
    else:  # oversized: a genuine signature over a body far larger than any result
        body = body[:-1] + b', "padding": "' + b"x" * 300_000 + b'"}'
        headers = sign(fake.webhook_key, request_id, fake.webhook_user_id, str(now), body)
    return {**headers, "Content-Type": "application/json"}, body


async def post(url: str, headers: dict[str, str], body: bytes) -> int:
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as response:
        return response.status


def recorded(world) -> tuple[int, int]:
    webhooks = db_rows(world, "SELECT COUNT(*) AS n FROM fal_webhooks")[0]["n"]
    signatures = db_rows(world, "SELECT COUNT(*) AS n FROM fal_webhook_signatures")[0]["n"]
    return webhooks, signatures


KINDS = ["forged signature", "another key", "altered body", "stale timestamp", "unknown request id", "oversized"]


@pytest.mark.parametrize("kind", KINDS)
async def test_a_bad_webhook_is_refused_and_changes_nothing(world, start_bot, kind, caplog):
    world.fal.default_script = JobScript(queue_seconds=1.0, run_seconds=1.5, video_id="video_genuine")
    bot, url = await start_hooked(world, start_bot)
    at_fal = await submitted_job(world)
    headers, body = attack(kind, world.fal, at_fal.request_id)
    assert await post(url, headers, body) == (413 if kind == "oversized" else 401)
    assert recorded(world) == (0, 0)
    job = await bot.app.jobs.get_job(1)
    assert job is not None and not job.state.finished and job.result is None
    # The genuine webhook still delivers the job, once, with fal's video; the ledger is exact.
    await eventually_async(lambda: job_in_state(bot.app.jobs, 1, JobState.DELIVERED), timeout=20)
    done = await bot.app.jobs.get_job(1)
    assert done.result["video_id"] == "video_genuine" and len(video_posts(world.discord, world.channel_id)) == 1
    assert at_fal.webhook_answers == [200] and at_fal.result_fetches == 0
    assert [kind for kind, _ in ledger_of(world)] == ["reserve", "commit"]
    # Logged without secrets: no signature, no body.
    refusals = [r.getMessage() for r in caplog.records if r.getMessage().startswith("webhook refused")]
    assert len(refusals) == 1
    assert headers["X-Fal-Webhook-Signature"] not in refusals[0] and "evil" not in refusals[0]


@pytest.mark.parametrize("engine", ENGINES)
async def test_a_replayed_webhook_is_refused_and_the_video_is_delivered_once(world, start_bot, engine):
    world.fal.default_script = JobScript(queue_seconds=0.5, run_seconds=1.0)
    bot, url = await start_hooked(world, start_bot)
    at_fal = await submitted_job(world)
    await eventually_async(lambda: job_in_state(bot.app.jobs, 1, JobState.DELIVERED), timeout=20)
    (headers, body) = at_fal.webhooks_sent[0]
    assert await post(url, headers, body) == 401  # the very webhook fal delivered, sent again
    assert recorded(world) == (1, 1)
    assert len(video_posts(world.discord, world.channel_id)) == 1
    assert at_fal.result_fetches == 0 and at_fal.webhook_answers == [200]
    assert [kind for kind, _ in ledger_of(world)] == ["reserve", "commit"]


async def test_the_running_bot_takes_the_result_from_the_webhook(world, start_bot):
    """Wired as `python -m bot` wires it: submit with fal_webhook, one status stream for progress, and the
    result from the webhook (2 fal requests, whatever the job's length)."""
    world.fal.default_script = JobScript(queue_seconds=1.0, run_seconds=3.0, video_id="video_pushed")
    bot, url = await start_hooked(world, start_bot)
    at_fal = await submitted_job(world)
    await eventually(lambda: video_posts(world.discord, world.channel_id), timeout=30)
    assert at_fal.webhook_url == url
    assert (at_fal.streams_opened, at_fal.status_polls, at_fal.result_fetches) == (1, 0, 0)
    assert world.fal.count(request_id=at_fal.request_id) + world.fal.count(kind="submit") == 2
    row = db_rows(world, "SELECT request_id, job_id FROM fal_webhooks")
    assert row == [{"request_id": at_fal.request_id, "job_id": 1}]


async def test_a_busy_webhook_port_stops_the_bot_with_one_line(world):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = settings_for(
            world,
            fal_updates="webhook",
            fal_webhook_url=f"http://127.0.0.1:{port}{PATH}",
            webhook_port=port,
            fal_jwks_url=world.fal.jwks_url,
        )
        app = await App.create(settings)
        with pytest.raises(ConfigurationError, match=f"WEBHOOK_PORT {port} cannot be opened on 127.0.0.1"):
            await asyncio.wait_for(app.run(asyncio.Event()), 20)
