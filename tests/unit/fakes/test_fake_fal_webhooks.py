"""The fake fal's webhooks, checked as the bot's receiver will check them: a loopback aiohttp receiver, the
signature verified with cryptography against the JWKS fetched from the fake, the body compared with the
result GET answers."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tests.fakes.fal import CANCELLED_MESSAGE, CONTENT_POLICY_MESSAGE, FakeFal, JobScript

T2V = "fal-ai/sora-2/text-to-video"
ARGS = {"prompt": "a fox", "duration": 4, "aspect_ratio": "16:9", "resolution": "720p", "delete_video": False}
AUTH = {"Authorization": "Key test-fal-key"}
FAST = JobScript(queue_seconds=0.1, run_seconds=0.2, start_position=0)


@dataclass
class Delivery:
    headers: dict[str, str]
    raw: bytes
    at: float

    @property
    def body(self) -> Any:
        return json.loads(self.raw)


@dataclass
class Receiver:
    """A webhook receiver on loopback: records what reached it; `answer` decides the reply to each."""

    port: int = 0
    got: list[Delivery] = field(default_factory=list)
    answer: Callable[[int], Awaitable[web.StreamResponse]] | None = None
    runner: web.AppRunner | None = None
    site: web.TCPSite | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/fal/webhook"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.got.append(Delivery(dict(request.headers), await request.read(), time.monotonic()))
        if self.answer is not None:
            return await self.answer(len(self.got))
        return web.Response(status=200)

    async def open(self) -> None:
        assert self.runner is not None
        self.site = web.TCPSite(self.runner, "127.0.0.1", self.port, reuse_address=True)
        await self.site.start()
        self.port = int(self.runner.addresses[0][1])

    async def close(self) -> None:
        assert self.site is not None
        await self.site.stop()

    async def wait(self, n: int, timeout: float = 5) -> list[Delivery]:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while len(self.got) < n:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        return self.got


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    app = web.Application()
    rec = Receiver()
    app.router.add_post("/fal/webhook", rec.handle)
    rec.runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
    await rec.runner.setup()
    await rec.open()
    yield rec
    await rec.runner.cleanup()


@pytest.fixture
async def http(fake_fal: FakeFal) -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(ssl=fake_fal.client_ssl_context())
    async with aiohttp.ClientSession(connector=connector, headers=AUTH) as session:
        yield session


async def submit(http: aiohttp.ClientSession, fake: FakeFal, webhook: str, endpoint: str = T2V) -> str:
    async with http.post(f"{fake.base_url}/{endpoint}", params={"fal_webhook": webhook}, json=ARGS) as resp:
        assert resp.status == 200
        return str((await resp.json())["request_id"])


async def get_jwks(http: aiohttp.ClientSession, fake: FakeFal) -> dict[str, Any]:
    async with http.get(fake.jwks_url) as resp:
        assert resp.status == 200
        return dict(await resp.json())


async def get_result(http: aiohttp.ClientSession, fake: FakeFal, rid: str) -> tuple[int, Any]:
    async with http.get(f"{fake.base_url}/fal-ai/sora-2/requests/{rid}") as resp:
        return resp.status, await resp.json()


def verifies(jwks: dict[str, Any], delivery: Delivery) -> bool:
    """fal's check: ED25519 over request_id, user_id, timestamp and sha256_hex(body), by any listed key."""
    h = delivery.headers
    message = "\n".join(
        [
            h["X-Fal-Webhook-Request-Id"],
            h["X-Fal-Webhook-User-Id"],
            h["X-Fal-Webhook-Timestamp"],
            hashlib.sha256(delivery.raw).hexdigest(),
        ]
    ).encode()
    for key in jwks["keys"]:
        assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("OKP", "Ed25519", "EdDSA", "sig")
        public = Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(key["x"] + "=" * (-len(key["x"]) % 4)))
        try:
            public.verify(bytes.fromhex(h["X-Fal-Webhook-Signature"]), message)
            return True
        except InvalidSignature:
            continue
    return False


async def test_a_finished_job_posts_a_signed_webhook_whose_payload_is_the_result(fake_fal, receiver, http):
    fake_fal.script_next(FAST)
    rid = await submit(http, fake_fal, receiver.url)
    job = fake_fal.job(rid)
    assert job.webhook_url == receiver.url
    (delivery,) = await receiver.wait(1)
    assert job.completed_at <= delivery.at < job.completed_at + 3  # the first stock video takes ~1 s to make
    assert verifies(await get_jwks(http, fake_fal), delivery)
    h = delivery.headers
    assert h["X-Fal-Webhook-Request-Id"] == rid
    assert h["X-Fal-Webhook-User-Id"] == fake_fal.webhook_user_id
    assert abs(int(h["X-Fal-Webhook-Timestamp"]) - time.time()) < 5
    assert h["Content-Type"] == "application/json"
    body = delivery.body
    assert set(body) == {"request_id", "gateway_request_id", "status", "payload", "error"}
    assert (body["request_id"], body["gateway_request_id"], body["status"], body["error"]) == (rid, rid, "OK", None)
    assert body["payload"]["video"]["url"].startswith(fake_fal.base_url)
    assert job.result_fetches == 0  # a receiver that trusts the payload fetches nothing
    assert (job.webhook_attempts, job.webhook_answers) == (1, [200])
    assert job.webhook_delivered_at is not None and job.webhook_delivered_at >= delivery.at
    assert await get_result(http, fake_fal, rid) == (200, body["payload"])
    assert job.result_fetches == 1


async def test_a_tampered_body_or_another_key_does_not_verify(fake_fal, receiver, http):
    fake_fal.script_next(FAST)
    await submit(http, fake_fal, receiver.url)
    (delivery,) = await receiver.wait(1)
    jwks = await get_jwks(http, fake_fal)
    assert verifies(jwks, delivery)
    assert not verifies(jwks, Delivery(delivery.headers, delivery.raw.replace(b'"OK"', b'"ERROR"'), delivery.at))
    fake_fal.rotate_webhook_key()
    assert not verifies(await get_jwks(http, fake_fal), delivery)


async def test_a_content_policy_failure_posts_an_error_with_the_error_body(fake_fal, receiver, http):
    fake_fal.script_next(JobScript(queue_seconds=0.1, run_seconds=0.2, start_position=0, outcome="content_policy"))
    rid = await submit(http, fake_fal, receiver.url)
    (delivery,) = await receiver.wait(1)
    assert verifies(await get_jwks(http, fake_fal), delivery)
    body = delivery.body
    assert (body["status"], body["error"]) == ("ERROR", CONTENT_POLICY_MESSAGE)
    assert body["payload"]["detail"][0]["type"] == "content_policy_violation"
    assert await get_result(http, fake_fal, rid) == (422, body["payload"])


async def test_a_cancelled_job_posts_its_webhook_when_cancelled(fake_fal, receiver, http):
    fake_fal.script_next(JobScript(queue_seconds=30, run_seconds=1, start_position=3))
    rid = await submit(http, fake_fal, receiver.url)
    async with http.put(f"{fake_fal.base_url}/fal-ai/sora-2/requests/{rid}/cancel") as resp:
        assert resp.status == 202
    (delivery,) = await receiver.wait(1, timeout=2)
    body = delivery.body
    assert (body["status"], body["error"]) == ("ERROR", CANCELLED_MESSAGE)
    assert body["payload"] == {"detail": CANCELLED_MESSAGE, "error_type": "request_cancelled"}
    assert delivery.at >= fake_fal.job(rid).completed_at


async def test_a_payload_error_webhook_leaves_the_result_to_be_fetched(fake_fal, receiver, http):
    fake_fal.script_next(JobScript(queue_seconds=0.1, run_seconds=0.2, start_position=0, webhook="payload_error"))
    rid = await submit(http, fake_fal, receiver.url)
    (delivery,) = await receiver.wait(1)
    assert verifies(await get_jwks(http, fake_fal), delivery)
    body = delivery.body
    assert (body["status"], body["payload"], body["payload_error"], body["error"]) == (
        "OK",
        None,
        "Payload too large",
        None,
    )
    status, result = await get_result(http, fake_fal, rid)
    assert status == 200 and "video" in result


async def test_a_dropped_webhook_never_arrives(fake_fal, receiver, http):
    fake_fal.script_next(JobScript(queue_seconds=0.1, run_seconds=0.2, start_position=0, webhook="drop"))
    rid = await submit(http, fake_fal, receiver.url)
    await asyncio.sleep(0.3 + 0.7)
    job = fake_fal.job(rid)
    assert job.phase() == "COMPLETED" and receiver.got == []
    assert (job.webhook_url, job.webhook_attempts, job.webhook_delivered_at) == (receiver.url, 0, None)


async def test_a_failing_receiver_is_retried_each_time_freshly_signed(fake_fal, receiver, http):
    # 500; then nothing listens (refused); then an answer slower than the fake waits (timeout); then 200.
    fake_fal.webhook_retry_seconds = (0.3, 0.6, 0.2, 0.2)
    fake_fal.webhook_timeout_seconds = 0.3
    steps = itertools.count(int(time.time()))
    fake_fal.webhook_clock = lambda: float(next(steps))  # one second later per attempt, so each is signed anew

    async def refuse_a_while() -> None:
        await asyncio.sleep(0.05)
        await receiver.close()
        await asyncio.sleep(0.4)
        await receiver.open()

    async def answer(n: int) -> web.StreamResponse:
        if n == 1:
            reopen.append(asyncio.create_task(refuse_a_while()))
            return web.Response(status=500)
        if n == 2:
            await asyncio.sleep(1.0)
        return web.Response(status=200)

    reopen: list[asyncio.Task[None]] = []
    receiver.answer = answer
    fake_fal.script_next(FAST)
    rid = await submit(http, fake_fal, receiver.url)
    job = fake_fal.job(rid)
    async with asyncio.timeout(5):
        while job.webhook_delivered_at is None:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    assert job.webhook_attempts == 4
    assert job.webhook_answers == [500, 0, 0, 200]
    got = receiver.got  # the refused attempt never reached it
    assert len(got) == 3
    jwks = await get_jwks(http, fake_fal)
    assert all(verifies(jwks, d) for d in got)
    assert len({d.raw for d in got}) == 1
    stamps = [int(d.headers["X-Fal-Webhook-Timestamp"]) for d in got]
    assert stamps == sorted(set(stamps)) and stamps[0] + 3 == stamps[-1]  # attempts 1, 3 and 4 of the clock
    assert len({d.headers["X-Fal-Webhook-Signature"] for d in got}) == 3
    await asyncio.gather(*reopen)


async def test_a_receiver_that_never_accepts_gets_one_try_and_every_retry(fake_fal, receiver, http):
    fake_fal.webhook_retry_seconds = (0.05,) * 10

    async def answer(n: int) -> web.StreamResponse:
        return web.Response(status=503)

    receiver.answer = answer
    fake_fal.script_next(FAST)
    rid = await submit(http, fake_fal, receiver.url)
    await receiver.wait(11)
    await asyncio.sleep(0.3)
    job = fake_fal.job(rid)
    assert (job.webhook_attempts, job.webhook_answers, job.webhook_delivered_at) == (11, [503] * 11, None)


async def test_duplicates_follow_a_delivered_webhook(fake_fal, receiver, http):
    fake_fal.script_next(JobScript(queue_seconds=0.1, run_seconds=0.2, start_position=0, webhook_duplicates=2))
    rid = await submit(http, fake_fal, receiver.url)
    got = await receiver.wait(3)
    await asyncio.sleep(0.2)
    assert len(receiver.got) == 3
    jwks = await get_jwks(http, fake_fal)
    assert all(verifies(jwks, d) for d in got) and len({d.raw for d in got}) == 1
    job = fake_fal.job(rid)
    assert (job.webhook_attempts, job.webhook_answers) == (3, [200, 200, 200])
    assert job.webhook_delivered_at is not None and job.webhook_delivered_at <= got[1].at


async def test_rotating_the_key_changes_the_jwks_and_the_signature(fake_fal, receiver, http):
    before = await get_jwks(http, fake_fal)
    old_key = fake_fal.webhook_key
    fake_fal.rotate_webhook_key()
    after = await get_jwks(http, fake_fal)
    assert fake_fal.webhook_key is not old_key
    assert len(after["keys"]) == 1 and after["keys"][0]["kid"] != before["keys"][0]["kid"]
    assert after["keys"][0]["x"] != before["keys"][0]["x"]
    fake_fal.script_next(FAST)
    await submit(http, fake_fal, receiver.url)
    (delivery,) = await receiver.wait(1)
    assert verifies(after, delivery) and not verifies(before, delivery)
    fake_fal.rotate_webhook_key(keep_old=True)
    both = await get_jwks(http, fake_fal)
    assert [k["kid"] for k in both["keys"]][1] == after["keys"][0]["kid"] and len(both["keys"]) == 2


async def test_the_jwks_can_be_made_to_fail(fake_fal, http):
    fake_fal.jwks_status = 503
    async with http.get(fake_fal.jwks_url) as resp:
        assert resp.status == 503
    fake_fal.jwks_status = None
    assert len((await get_jwks(http, fake_fal))["keys"]) == 1
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=fake_fal.client_ssl_context())) as anonymous:
        async with anonymous.get(fake_fal.jwks_url) as resp:  # fal's keys need no key
            assert resp.status == 200


async def test_no_webhook_is_sent_without_fal_webhook(fake_fal, http):
    fake_fal.script_next(FAST)
    async with http.post(f"{fake_fal.base_url}/{T2V}", json=ARGS) as resp:
        rid = (await resp.json())["request_id"]
    await asyncio.sleep(0.5)
    job = fake_fal.job(rid)
    assert (job.webhook_url, job.webhook_attempts) == (None, 0)
