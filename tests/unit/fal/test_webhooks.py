"""fal's signed webhooks: the verifier believes exactly what a key of fal's JWKS signed, within ±300 s, and
the JWKS cache fetches as rarely as it can while still picking up a rotated key."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import os
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from bot.fal.webhooks import JwksCache, JwksUnavailable, Webhook, WebhookRefused, WebhookVerifier

NOW = 1_800_000_000.0
DAY = 24 * 3600
RID = "6a1f0c52-3f1e-4c55-9a55-0d3b1c1e0a77"
UID = "user-4242"
PAYLOAD = {"video": {"url": "https://v3.fal.media/files/kite.mp4", "content_type": "video/mp4"}, "seed": 7}
HEADERS = ("X-Fal-Webhook-Request-Id", "X-Fal-Webhook-User-Id", "X-Fal-Webhook-Timestamp", "X-Fal-Webhook-Signature")
UNKNOWN = "no key of fal's JWKS verifies the signature"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def jwk(key: Ed25519PrivateKey | Ed25519PublicKey, kid: str = "k1") -> dict[str, Any]:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "use": "sig", "alg": "EdDSA"}


def body_of(**fields: Any) -> bytes:
    document: dict[str, Any] = {"request_id": RID, "gateway_request_id": RID, "status": "OK", "payload": PAYLOAD}
    document["error"] = None
    document.update(fields)
    return json.dumps(document).encode()


def signed(
    key: Ed25519PrivateKey, body: bytes, *, request_id: str = RID, user_id: str = UID, timestamp: float = NOW
) -> dict[str, str]:
    """The headers fal sends with ``body``, signed by ``key``."""
    stamp = str(int(timestamp))
    message = f"{request_id}\n{user_id}\n{stamp}\n{hashlib.sha256(body).hexdigest()}".encode()
    return {
        "X-Fal-Webhook-Request-Id": request_id,
        "X-Fal-Webhook-User-Id": user_id,
        "X-Fal-Webhook-Timestamp": stamp,
        "X-Fal-Webhook-Signature": key.sign(message).hex(),
    }


class JwksServer:
    """A JWKS on 127.0.0.1 whose answer a test changes between requests, counting the requests."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self.keys: list[dict[str, Any]] = [jwk(key)]
        self.status = 200
        self.raw: bytes | None = None  # served instead of the keys when set
        self.cache_control: str | None = None
        self.hits = 0
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        headers = {"Cache-Control": self.cache_control} if self.cache_control else {}
        body = self.raw if self.raw is not None else json.dumps({"keys": self.keys}).encode()
        return web.Response(status=self.status, body=body, content_type="application/json", headers=headers)


@pytest.fixture
def fal_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
async def jwks(fal_key: Ed25519PrivateKey) -> AsyncIterator[JwksServer]:
    server = JwksServer(fal_key)
    app = web.Application()
    app.router.add_get("/.well-known/jwks.json", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    server.url = f"http://127.0.0.1:{port}/.well-known/jwks.json"
    yield server
    await runner.cleanup()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(http: aiohttp.ClientSession, jwks: JwksServer, clock: Clock) -> JwksCache:
    return JwksCache(http, jwks.url, clock=clock)


@pytest.fixture
def verifier(cache: JwksCache, clock: Clock) -> WebhookVerifier:
    return WebhookVerifier(cache, clock=clock)


async def refused(verifier: WebhookVerifier, headers: dict[str, str], body: bytes) -> str:
    with pytest.raises(WebhookRefused) as caught:
        await verifier.verify(headers, body)
    return caught.value.reason


# --- what a verified webhook says ---------------------------------------------------------------------------


async def test_a_valid_webhook_verifies_and_parses(verifier: WebhookVerifier, fal_key: Ed25519PrivateKey) -> None:
    body = body_of()
    headers = signed(fal_key, body)
    webhook = await verifier.verify(headers, body)
    assert webhook == Webhook(
        request_id=RID,
        user_id=UID,
        timestamp=int(NOW),
        signature=headers["X-Fal-Webhook-Signature"],
        status="OK",
        payload=PAYLOAD,
        error=None,
        payload_error=None,
        body=body,
    )
    assert webhook.must_fetch_result is False


async def test_headers_are_found_whatever_their_case_and_the_signature_kept_lowercase(
    verifier: WebhookVerifier, fal_key: Ed25519PrivateKey
) -> None:
    body = body_of()
    headers = signed(fal_key, body)
    lower = {name.lower(): value for name, value in headers.items()}
    lower["x-fal-webhook-signature"] = lower["x-fal-webhook-signature"].upper()
    assert (await verifier.verify(lower, body)).signature == headers["X-Fal-Webhook-Signature"]
    assert (await verifier.verify(CIMultiDict(headers), body)).request_id == RID  # what aiohttp hands over


async def test_ok_with_payload_error_must_fetch_the_result(
    verifier: WebhookVerifier, fal_key: Ed25519PrivateKey
) -> None:
    body = body_of(payload=None, payload_error="Payload too large to include in the webhook")
    webhook = await verifier.verify(signed(fal_key, body), body)
    assert (webhook.status, webhook.payload, webhook.error) == ("OK", None, None)
    assert webhook.payload_error == "Payload too large to include in the webhook"
    assert webhook.must_fetch_result is True


async def test_ok_without_payload_must_fetch_the_result(verifier: WebhookVerifier, fal_key: Ed25519PrivateKey) -> None:
    body = body_of(payload=None)
    webhook = await verifier.verify(signed(fal_key, body), body)
    assert webhook.payload is None and webhook.payload_error is None and webhook.must_fetch_result is True


async def test_an_error_webhook_carries_fal_s_error(verifier: WebhookVerifier, fal_key: Ed25519PrivateKey) -> None:
    detail = {"detail": [{"loc": ["body", "prompt"], "msg": "flagged", "type": "content_policy_violation"}]}
    body = body_of(status="ERROR", payload=detail, error="Invalid status code: 422")
    webhook = await verifier.verify(signed(fal_key, body), body)
    assert (webhook.status, webhook.error, webhook.payload) == ("ERROR", "Invalid status code: 422", detail)
    assert webhook.must_fetch_result is False


# --- what is refused ----------------------------------------------------------------------------------------


async def test_a_forged_signature_is_refused(verifier: WebhookVerifier, fal_key: Ed25519PrivateKey) -> None:
    body = body_of()
    headers = signed(fal_key, body)
    headers["X-Fal-Webhook-Signature"] = os.urandom(64).hex()
    reason = await refused(verifier, headers, body)
    assert reason == UNKNOWN
    assert headers["X-Fal-Webhook-Signature"] not in reason


async def test_a_webhook_signed_by_another_key_is_refused(verifier: WebhookVerifier) -> None:
    body = body_of()
    assert await refused(verifier, signed(Ed25519PrivateKey.generate(), body), body) == UNKNOWN


async def test_a_body_altered_after_signing_is_refused(verifier: WebhookVerifier, fal_key: Ed25519PrivateKey) -> None:
    headers = signed(fal_key, body_of())
    assert await refused(verifier, headers, body_of(status="ERROR", payload=None, error="x")) == UNKNOWN


async def test_an_altered_request_id_header_is_refused(verifier: WebhookVerifier, fal_key: Ed25519PrivateKey) -> None:
    body = body_of()
    headers = signed(fal_key, body) | {"X-Fal-Webhook-Request-Id": "another-request"}
    assert await refused(verifier, headers, body) == UNKNOWN


@pytest.mark.parametrize("offset", [-301, 301])
async def test_a_timestamp_301_s_away_is_refused(
    verifier: WebhookVerifier, fal_key: Ed25519PrivateKey, offset: int
) -> None:
    body = body_of()
    reason = await refused(verifier, signed(fal_key, body, timestamp=NOW + offset), body)
    assert reason == "timestamp 301 s away from our clock"


@pytest.mark.parametrize("offset", [-299, 299, -300, 300])
async def test_a_timestamp_within_300_s_is_accepted(
    verifier: WebhookVerifier, fal_key: Ed25519PrivateKey, offset: int
) -> None:
    body = body_of()
    webhook = await verifier.verify(signed(fal_key, body, timestamp=NOW + offset), body)
    assert webhook.timestamp == int(NOW) + offset


@pytest.mark.parametrize("missing", HEADERS)
async def test_each_missing_header_is_refused(
    verifier: WebhookVerifier, fal_key: Ed25519PrivateKey, jwks: JwksServer, missing: str
) -> None:
    body = body_of()
    headers = signed(fal_key, body)
    del headers[missing]
    assert await refused(verifier, headers, body) == f"missing header {missing}"
    headers[missing] = ""
    assert await refused(verifier, headers, body) == f"missing header {missing}"
    assert jwks.hits == 0  # refused before any key was needed


@pytest.mark.parametrize(
    "signature",
    ["zz" * 64, "ab" * 63, "ab" * 65, "", " " + "ab" * 63 + "a", "0x" + "ab" * 63],
    ids=["non-hex", "63-bytes", "65-bytes", "empty", "spaces", "0x-prefix"],
)
async def test_a_malformed_signature_is_refused(
    verifier: WebhookVerifier, fal_key: Ed25519PrivateKey, signature: str
) -> None:
    body = body_of()
    headers = signed(fal_key, body) | {"X-Fal-Webhook-Signature": signature}
    expected = "missing header X-Fal-Webhook-Signature" if not signature else "signature is not 64 bytes of hex"
    assert await refused(verifier, headers, body) == expected


@pytest.mark.parametrize("stamp", ["1.8e9", "-1800000000", "1800000000.0", "١٨٠٠٠٠٠٠٠٠", " 1800000000"])
async def test_a_timestamp_that_is_not_an_integer_is_refused(
    verifier: WebhookVerifier, fal_key: Ed25519PrivateKey, stamp: str
) -> None:
    body = body_of()
    headers = signed(fal_key, body) | {"X-Fal-Webhook-Timestamp": stamp}
    assert await refused(verifier, headers, body) == "timestamp is not an integer"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html>not json</html>", "body is not a fal webhook: not JSON"),
        (b"\xff\xfe", "body is not a fal webhook: not JSON"),
        (b'["OK"]', "body is not a fal webhook: not a JSON object"),
        (body_of(request_id="another-request"), "request id in the body differs from the header's"),
        (body_of(request_id=None), "request id in the body differs from the header's"),
        (body_of(status="COMPLETED"), "body is not a fal webhook: status is neither OK nor ERROR"),
        (body_of(status=None), "body is not a fal webhook: status is neither OK nor ERROR"),
        (body_of(payload=[1, 2]), "body is not a fal webhook: payload is neither an object nor null"),
        (body_of(error=422), "body is not a fal webhook: error is neither a string nor null"),
        (body_of(payload_error={}), "body is not a fal webhook: payload_error is neither a string nor null"),
    ],
    ids=[
        "not-json",
        "not-utf8",
        "not-object",
        "rid-differs",
        "rid-null",
        "unknown-status",
        "no-status",
        "payload-list",
        "error-int",
        "payload-error-obj",
    ],
)
async def test_a_signed_body_that_is_not_a_fal_webhook_is_refused(
    verifier: WebhookVerifier, fal_key: Ed25519PrivateKey, body: bytes, reason: str
) -> None:
    assert await refused(verifier, signed(fal_key, body), body) == reason


# --- the JWKS cache -----------------------------------------------------------------------------------------


async def test_the_jwks_is_fetched_once_for_many_verifications(
    verifier: WebhookVerifier, fal_key: Ed25519PrivateKey, jwks: JwksServer, clock: Clock
) -> None:
    bodies = [body_of(payload={"n": n}) for n in range(30)]
    # Concurrent first use shares one fetch...
    webhooks = await asyncio.gather(*(verifier.verify(signed(fal_key, body), body) for body in bodies))
    assert [webhook.payload for webhook in webhooks] == [{"n": n} for n in range(30)]
    # ...and later ones, within the day, fetch nothing.
    for hour in range(23):
        clock.now = NOW + hour * 3600
        await verifier.verify(signed(fal_key, bodies[0], timestamp=clock.now), bodies[0])
    assert jwks.hits == 1


@pytest.mark.parametrize(
    ("cache_control", "lifetime"),
    [(None, DAY), ("public, max-age=600", 600), ("max-age=604800, must-revalidate", DAY), ("no-cache", DAY)],
)
async def test_the_jwks_is_fetched_again_after_its_max_age_capped_at_a_day(
    verifier: WebhookVerifier,
    fal_key: Ed25519PrivateKey,
    jwks: JwksServer,
    clock: Clock,
    cache_control: str | None,
    lifetime: int,
) -> None:
    jwks.cache_control = cache_control
    body = body_of()
    await verifier.verify(signed(fal_key, body), body)
    clock.now = NOW + lifetime - 1
    await verifier.verify(signed(fal_key, body, timestamp=clock.now), body)
    assert jwks.hits == 1
    clock.now = NOW + lifetime + 1
    await verifier.verify(signed(fal_key, body, timestamp=clock.now), body)
    assert jwks.hits == 2


async def test_a_max_age_of_zero_still_keeps_the_keys_for_the_refresh_floor(
    cache: JwksCache, jwks: JwksServer, clock: Clock
) -> None:
    jwks.cache_control = "max-age=0"
    await cache.keys()
    clock.now = NOW + 299
    await cache.keys()
    assert jwks.hits == 1
    clock.now = NOW + 301
    await cache.keys()
    assert jwks.hits == 2


async def test_a_rotated_key_is_picked_up_by_one_refetch_and_a_flood_refetches_once_per_floor(
    verifier: WebhookVerifier, fal_key: Ed25519PrivateKey, jwks: JwksServer, clock: Clock
) -> None:
    body = body_of()
    await verifier.verify(signed(fal_key, body), body)
    new_key = Ed25519PrivateKey.generate()
    jwks.keys = [jwk(new_key, "k2")]
    clock.now = NOW + 301  # past the refresh floor of the first fetch
    webhook = await verifier.verify(signed(new_key, body, timestamp=clock.now), body)
    assert webhook.request_id == RID and jwks.hits == 2
    # The old key is gone with the refetch.
    assert await refused(verifier, signed(fal_key, body, timestamp=clock.now), body) == UNKNOWN
    # A flood of forged webhooks: at most one refetch per refresh_floor, concurrent or not.
    forged = [signed(Ed25519PrivateKey.generate(), body, timestamp=clock.now) for _ in range(40)]
    results = await asyncio.gather(*(verifier.verify(h, body) for h in forged), return_exceptions=True)
    assert all(isinstance(r, WebhookRefused) and r.reason == UNKNOWN for r in results)
    assert jwks.hits == 2
    clock.now += 299
    for headers in forged:
        await refused(verifier, headers | {"X-Fal-Webhook-Timestamp": str(int(clock.now))}, body)
    assert jwks.hits == 2
    clock.now += 2
    results = await asyncio.gather(
        *(verifier.verify(h | {"X-Fal-Webhook-Timestamp": str(int(clock.now))}, body) for h in forged),
        return_exceptions=True,
    )
    assert all(isinstance(r, WebhookRefused) for r in results)
    assert jwks.hits == 3
    # The new key still verifies without any fetch.
    await verifier.verify(signed(new_key, body, timestamp=clock.now), body)
    assert jwks.hits == 3


async def test_refresh_for_unknown_signature_says_whether_it_fetched(cache: JwksCache, clock: Clock) -> None:
    await cache.keys()
    assert await cache.refresh_for_unknown_signature() is False
    clock.now = NOW + 300
    assert await cache.refresh_for_unknown_signature() is True
    assert await cache.refresh_for_unknown_signature() is False


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/.well-known/jwks.json"


async def test_an_unreachable_jwks_is_unavailable_on_first_use(http: aiohttp.ClientSession, clock: Clock) -> None:
    verifier = WebhookVerifier(JwksCache(http, closed_port_url(), clock=clock), clock=clock)
    body = body_of()
    with pytest.raises(JwksUnavailable) as caught:
        await verifier.verify(signed(Ed25519PrivateKey.generate(), body), body)
    assert caught.value.reason == "fal's JWKS is unreachable (ClientConnectorError)"
    with pytest.raises(JwksUnavailable):
        await verifier.check()


@pytest.mark.parametrize(
    ("status", "raw", "reason"),
    [
        (500, None, "fal's JWKS answered HTTP 500"),
        (404, None, "fal's JWKS answered HTTP 404"),
        (200, b"<html>maintenance</html>", "fal's JWKS is not JSON"),
        (200, b'{"keys": {"kty": "OKP"}}', "fal's JWKS has no key list"),
        (200, b"[]", "fal's JWKS has no key list"),
        (200, b'{"keys": []}', "fal's JWKS has no usable Ed25519 key (of 0)"),
    ],
)
async def test_a_broken_jwks_is_unavailable_on_first_use(
    verifier: WebhookVerifier, fal_key: Ed25519PrivateKey, jwks: JwksServer, status: int, raw: bytes | None, reason: str
) -> None:
    jwks.status, jwks.raw = status, raw
    body = body_of()
    with pytest.raises(JwksUnavailable) as caught:
        await verifier.verify(signed(fal_key, body), body)
    assert caught.value.reason == reason
    # Nothing held, so the next webhook tries again: fal's JWKS back, it verifies.
    jwks.status, jwks.raw = 200, None
    assert (await verifier.verify(signed(fal_key, body), body)).request_id == RID


@pytest.mark.parametrize("breakage", ["500", "garbage", "down"])
async def test_old_keys_are_kept_when_a_later_refetch_fails(
    verifier: WebhookVerifier,
    fal_key: Ed25519PrivateKey,
    jwks: JwksServer,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
    breakage: str,
) -> None:
    body = body_of()
    await verifier.verify(signed(fal_key, body), body)
    if breakage == "500":
        jwks.status = 500
    elif breakage == "garbage":
        jwks.raw = b"\x00garbage"
    else:
        verifier._keys._url = closed_port_url()  # the same cache, its server gone
    clock.now = NOW + DAY + 1
    with caplog.at_level(logging.WARNING, logger="bot.fal.webhooks"):
        webhook = await verifier.verify(signed(fal_key, body, timestamp=clock.now), body)
    assert webhook.request_id == RID
    assert [r.getMessage().startswith("fal's JWKS could not be refetched") for r in caplog.records] == [True]
    hits = jwks.hits
    # Not retried on every webhook while it is down: once per refresh floor.
    clock.now += 299
    await verifier.verify(signed(fal_key, body, timestamp=clock.now), body)
    assert jwks.hits == hits
    # A key it cannot know is still refused, not unavailable.
    assert await refused(verifier, signed(Ed25519PrivateKey.generate(), body, timestamp=clock.now), body) == UNKNOWN


async def test_keys_that_are_not_usable_ed25519_keys_are_skipped(
    verifier: WebhookVerifier, fal_key: Ed25519PrivateKey, jwks: JwksServer
) -> None:
    good = jwk(fal_key)
    x = good["x"]
    jwks.keys = [
        {"kty": "RSA", "n": "sXch", "e": "AQAB", "kid": "rsa"},
        {"kty": "EC", "crv": "P-256", "x": "f83O", "y": "x_FE", "kid": "ec"},
        {"kty": "OKP", "crv": "X25519", "x": x, "kid": "x25519"},
        {"kty": "OKP", "crv": "Ed25519", "x": x[:-2], "kid": "short"},
        {"kty": "OKP", "crv": "Ed25519", "x": x[:-1] + "!", "kid": "not-base64url"},
        {"kty": "OKP", "crv": "Ed25519", "x": None, "kid": "no-x"},
        {"kty": "OKP", "crv": "Ed25519", "x": base64.urlsafe_b64encode(bytes(33)).decode(), "kid": "33-bytes"},
        "not a key",
        good,
    ]
    assert await verifier.check() == 1
    body = body_of()
    assert (await verifier.verify(signed(fal_key, body), body)).request_id == RID


async def test_a_jwks_of_only_unusable_keys_is_unavailable(verifier: WebhookVerifier, jwks: JwksServer) -> None:
    jwks.keys = [{"kty": "RSA", "n": "sXch", "e": "AQAB"}, {"kty": "OKP", "crv": "X25519", "x": jwks.keys[0]["x"]}]
    with pytest.raises(JwksUnavailable) as caught:
        await verifier.check()
    assert caught.value.reason == "fal's JWKS has no usable Ed25519 key (of 2)"


async def test_check_counts_the_keys_and_any_of_them_may_sign(
    verifier: WebhookVerifier, fal_key: Ed25519PrivateKey, jwks: JwksServer
) -> None:
    second = Ed25519PrivateKey.generate()
    jwks.keys = [jwks.keys[0], jwk(second, "k2")]
    assert await verifier.check() == 2
    body = body_of()
    for key in (fal_key, second):
        assert (await verifier.verify(signed(key, body), body)).user_id == UID
    assert jwks.hits == 1


# --- property: any one changed byte breaks it ---------------------------------------------------------------


class FixedKeys(JwksCache):
    """A cache holding given keys without any network, so hypothesis can run many examples fast."""

    def __init__(self, keys: list[Ed25519PublicKey]) -> None:
        self._fixed = keys

    async def keys(self) -> list[Ed25519PublicKey]:
        return self._fixed

    async def refresh_for_unknown_signature(self) -> bool:
        return False


PROPERTY_KEY = Ed25519PrivateKey.generate()


@settings(max_examples=150, deadline=None)
@given(
    target=st.sampled_from(["body", "signature", *HEADERS[:3]]),
    position=st.integers(min_value=0, max_value=10_000),
    flip=st.integers(min_value=1, max_value=127),
)
def test_any_single_byte_change_to_the_body_or_a_header_breaks_verification(
    target: str, position: int, flip: int
) -> None:
    verifier = WebhookVerifier(FixedKeys([PROPERTY_KEY.public_key()]), clock=lambda: NOW)
    body = body_of()
    headers = signed(PROPERTY_KEY, body)
    assert asyncio.run(verifier.verify(headers, body)).request_id == RID
    if target == "body":
        changed = bytearray(body)
        changed[position % len(body)] ^= flip
        body = bytes(changed)
    elif target == "signature":
        signature = bytearray(bytes.fromhex(headers[HEADERS[3]]))
        signature[position % 64] ^= flip
        headers[HEADERS[3]] = signature.hex()
    else:
        value = headers[target]
        at = position % len(value)
        headers[target] = value[:at] + chr(ord(value[at]) ^ flip) + value[at + 1 :]
    with pytest.raises(WebhookRefused):
        asyncio.run(verifier.verify(headers, body))
