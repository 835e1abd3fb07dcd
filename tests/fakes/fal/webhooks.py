"""fal's webhooks, faked: the signing key pair, its JWKS document, the signature headers and the delivery loop.

fal POSTs a JSON body to the submit's ``fal_webhook`` URL when the request ends, signed with ED25519 over
``request_id\\nuser_id\\ntimestamp\\nsha256_hex(body)`` (hex in ``X-Fal-Webhook-Signature``); its public keys
are a JWKS (OKP/Ed25519). A receiver that fails (connection error, timeout, non-2xx) is tried again, each
attempt freshly timestamped and signed. ``FakeFal`` holds the key and starts :func:`deliver`; the package
docstring lists the knobs.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .scripts import Job

# fal retries a failed delivery 10 times over 2 hours; the fake keeps the count and shortens the waits.
DEFAULT_RETRY_SECONDS: tuple[float, ...] = (0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 51.2, 102.4)
PAYLOAD_TOO_LARGE = "Payload too large"
WEBHOOK_USER_ID = "fake-fal-user-7f3c2a"  # the fake fal account every webhook names


def generate_key() -> Ed25519PrivateKey:
    """A fresh test key pair (fal's signing key, as far as the bot can tell)."""
    return Ed25519PrivateKey.generate()


def _raw_public(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """A stable id for a key: the start of the SHA-256 of its raw public bytes."""
    return hashlib.sha256(_raw_public(key)).hexdigest()[:16]


def jwk(key: Ed25519PrivateKey | Ed25519PublicKey) -> dict[str, str]:
    """One key as fal's JWKS lists it: x is base64url of the raw 32-byte public key, without padding."""
    x = base64.urlsafe_b64encode(_raw_public(key)).rstrip(b"=").decode()
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": key_id(key), "use": "sig", "alg": "EdDSA"}


def jwks(keys: Sequence[Ed25519PrivateKey | Ed25519PublicKey]) -> dict[str, Any]:
    """The JWKS document publishing these keys."""
    return {"keys": [jwk(key) for key in keys]}


def signed_message(request_id: str, user_id: str, timestamp: str, body: bytes) -> bytes:
    """What fal signs: request id, user id, timestamp and the body's SHA-256 hex, one per line."""
    return "\n".join([request_id, user_id, timestamp, hashlib.sha256(body).hexdigest()]).encode()


def sign(private_key: Ed25519PrivateKey, request_id: str, user_id: str, timestamp: str, body: bytes) -> dict[str, str]:
    """The four headers fal sends with a webhook. Public so tests can forge one (another key, a stale
    timestamp, a body changed after signing)."""
    signature = private_key.sign(signed_message(request_id, user_id, timestamp, body))
    return {
        "X-Fal-Webhook-Request-Id": request_id,
        "X-Fal-Webhook-User-Id": user_id,
        "X-Fal-Webhook-Timestamp": timestamp,
        "X-Fal-Webhook-Signature": signature.hex(),
    }


def webhook_body(
    request_id: str, ok: bool, payload: Any, error: str | None, payload_error: str | None = None
) -> dict[str, Any]:
    """fal's webhook body. With ``payload_error`` the payload is left out (null), as fal does when the result
    cannot be included."""
    body: dict[str, Any] = {
        "request_id": request_id,
        "gateway_request_id": request_id,
        "status": "OK" if ok else "ERROR",
        "payload": None if payload_error is not None else payload,
        "error": error,
    }
    if payload_error is not None:
        body["payload_error"] = payload_error
    return body


async def _post(http: aiohttp.ClientSession, url: str, raw: bytes, headers: dict[str, str], timeout: float) -> int:
    """One attempt: the receiver's status, 0 for a connection error or a timeout."""
    try:
        async with http.post(url, data=raw, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            await response.read()
            return response.status
    except (aiohttp.ClientError, TimeoutError, OSError):
        return 0


async def deliver(
    job: Job,
    body: dict[str, Any],
    *,
    key: Callable[[], Ed25519PrivateKey],
    user_id: str,
    retry_seconds: Sequence[float],
    duplicates: int = 0,
    timeout: float = 3.0,
    clock: Callable[[], float] = time.time,
) -> None:
    """POST ``body`` to ``job.webhook_url`` until a 2xx, at most ``1 + len(retry_seconds)`` times, waiting
    ``retry_seconds[i]`` before retry i; then, after a success, ``duplicates`` more times (each once). Every
    attempt is signed afresh with ``key()`` (the key current at that moment) and ``clock()`` (unix seconds),
    made on a new connection, and recorded on the job."""
    assert job.webhook_url is not None
    raw = json.dumps(body).encode()

    async def attempt(http: aiohttp.ClientSession) -> int:
        assert job.webhook_url is not None
        headers = sign(key(), job.request_id, user_id, str(int(clock())), raw)
        headers["Content-Type"] = "application/json"
        job.webhook_attempts += 1
        job.webhooks_sent.append((dict(headers), raw))
        status = await _post(http, job.webhook_url, raw, headers, timeout)
        job.webhook_answers.append(status)
        return status

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        waits = [0.0, *retry_seconds]
        for wait in waits:
            if wait > 0:
                await asyncio.sleep(wait)
            if 200 <= await attempt(http) < 300:
                job.webhook_delivered_at = time.monotonic()
                break
        else:
            return
        for _ in range(duplicates):
            await attempt(http)
