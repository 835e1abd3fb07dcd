"""fal's signed webhooks: verify before believing (DESIGN.md, "Webhooks").

fal signs ``request_id \\n user_id \\n timestamp \\n sha256_hex(body)`` with ED25519; its public keys are a JWKS
(OKP/Ed25519) that may hold several keys and rotates. This module only verifies and parses: the HTTP receiver
lives elsewhere and calls :meth:`WebhookVerifier.verify` with the request's headers and raw body.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

log = logging.getLogger(__name__)

JWKS_URL = "https://rest.fal.ai/.well-known/jwks.json"

REQUEST_ID_HEADER = "X-Fal-Webhook-Request-Id"
USER_ID_HEADER = "X-Fal-Webhook-User-Id"
TIMESTAMP_HEADER = "X-Fal-Webhook-Timestamp"
SIGNATURE_HEADER = "X-Fal-Webhook-Signature"
_HEADERS = (REQUEST_ID_HEADER, USER_ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER)

# ASCII only: str.isdigit() and int() accept other scripts' digits, which fal never sends.
_TIMESTAMP = re.compile(r"[0-9]{1,15}")
_SIGNATURE = re.compile(r"[0-9a-fA-F]{128}")  # 64 bytes; bytes.fromhex alone would also accept spaces
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?([0-9]+)\"?\s*(?:,|$)", re.IGNORECASE)


class WebhookRefused(Exception):
    """The webhook is not believed; ``reason`` is short and safe to log (no signature, body or key)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class JwksUnavailable(Exception):
    """fal's keys cannot be read (unreachable, non-200, garbage, no usable key): nothing can be verified now,
    so the receiver answers 503 and fal retries the webhook later."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Webhook:
    """A verified webhook from fal, parsed."""

    request_id: str
    user_id: str
    timestamp: int
    signature: str  # lowercase hex as received: the caller may remember it to spot replays
    status: Literal["OK", "ERROR"]
    payload: dict[str, Any] | None
    error: str | None
    payload_error: str | None
    body: bytes

    @property
    def must_fetch_result(self) -> bool:
        """fal left the result out (too large, or it failed to include it): fetch it from the queue."""
        return self.payload_error is not None or (self.status == "OK" and self.payload is None)


def _parse_key(jwk: Any) -> Ed25519PublicKey | None:
    """One JWK as an Ed25519 key, or None when it is another kind or malformed (skipped, not fatal)."""
    if not isinstance(jwk, dict) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        return None
    x = jwk.get("x")
    if not isinstance(x, str):
        return None
    try:
        raw = base64.b64decode(x + "=" * (-len(x) % 4), altchars=b"-_", validate=True)
        return Ed25519PublicKey.from_public_bytes(raw) if len(raw) == 32 else None
    except (binascii.Error, ValueError):
        return None


def _cache_seconds(cache_control: str | None) -> float | None:
    match = _MAX_AGE.search(cache_control or "")
    return float(match.group(1)) if match else None


class JwksCache:
    """fal's public keys, fetched on first use and kept for the response's max-age (at most ``max_age``).

    Concurrent callers share one fetch. An unknown signature may force a refetch (fal rotated its key), but
    at most once per ``refresh_floor`` seconds, so a flood of forged webhooks cannot make us hammer the JWKS.
    """

    def __init__(
        self,
        http: aiohttp.ClientSession,
        url: str,
        *,
        clock: Callable[[], float] = time.time,
        max_age: float = 24 * 3600,
        refresh_floor: float = 300.0,
        timeout: float = 10.0,
    ) -> None:
        self._http = http
        self._url = url
        self._clock = clock
        self._max_age = max_age
        self._refresh_floor = refresh_floor
        self._timeout = timeout
        self._keys: list[Ed25519PublicKey] | None = None
        self._expires_at = 0.0
        self._last_attempt: float | None = None
        self._inflight: asyncio.Task[list[Ed25519PublicKey]] | None = None

    async def keys(self) -> list[Ed25519PublicKey]:
        """The current keys, fetched when none are held yet or they expired; raises JwksUnavailable."""
        if self._keys is not None and self._clock() < self._expires_at:
            return self._keys
        return await self._shared_fetch()

    async def refresh_for_unknown_signature(self) -> bool:
        """Refetch because no key verified a signature, unless one was tried within ``refresh_floor`` seconds.

        Returns whether new keys were fetched (so trying them again is worth it). A fetch already under way is
        joined instead of refused: its keys are as new as any.
        """
        if self._inflight is None:
            if self._last_attempt is not None and self._clock() - self._last_attempt < self._refresh_floor:
                return False
        previous = self._keys
        keys = await self._shared_fetch()
        return keys is not previous

    async def _shared_fetch(self) -> list[Ed25519PublicKey]:
        if self._inflight is None:
            task = asyncio.create_task(self._fetch_and_store())
            self._inflight = task
            task.add_done_callback(self._fetch_done)
        # shield: one caller cancelled (its webhook request dropped) must not cancel the others' fetch.
        return await asyncio.shield(self._inflight)

    def _fetch_done(self, task: asyncio.Task[list[Ed25519PublicKey]]) -> None:
        if self._inflight is task:
            self._inflight = None
        if not task.cancelled():
            task.exception()  # retrieved: a failure nobody awaited any more is not "never retrieved"

    async def _fetch_and_store(self) -> list[Ed25519PublicKey]:
        now = self._clock()
        self._last_attempt = now
        try:
            keys, lifetime = await self._fetch()
        except JwksUnavailable as exc:
            if self._keys is None:
                raise
            # Better the keys we had than none: fal signs with them for a while after a rotation, and a JWKS
            # outage must not turn every webhook away. Tried again after refresh_floor, not on every call.
            log.warning("fal's JWKS could not be refetched (%s); keeping the %d keys held", exc.reason, len(self._keys))
            self._expires_at = now + self._refresh_floor
            return self._keys
        self._keys = keys
        self._expires_at = now + lifetime
        return keys

    async def _fetch(self) -> tuple[list[Ed25519PublicKey], float]:
        try:
            async with self._http.get(self._url, timeout=aiohttp.ClientTimeout(total=self._timeout)) as response:
                if response.status != 200:
                    raise JwksUnavailable(f"fal's JWKS answered HTTP {response.status}")
                raw = await response.read()
                cache_control = response.headers.get("Cache-Control")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise JwksUnavailable(f"fal's JWKS is unreachable ({type(exc).__name__})") from exc
        try:
            document = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise JwksUnavailable("fal's JWKS is not JSON") from exc
        listed = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(listed, list):
            raise JwksUnavailable("fal's JWKS has no key list")
        keys = [key for key in map(_parse_key, listed) if key is not None]
        if not keys:
            raise JwksUnavailable(f"fal's JWKS has no usable Ed25519 key (of {len(listed)})")
        # Honour a shorter max-age, cap a longer one; but never below refresh_floor, or a max-age=0 would
        # mean one JWKS request per webhook.
        told = _cache_seconds(cache_control)
        lifetime = self._max_age if told is None else min(told, self._max_age)
        return keys, max(lifetime, min(self._refresh_floor, self._max_age))


def _verifies(keys: list[Ed25519PublicKey], signature: bytes, message: bytes) -> bool:
    for key in keys:
        try:
            key.verify(signature, message)
        except InvalidSignature:
            continue
        return True
    return False


def _optional_str(document: dict[str, Any], field: str) -> str | None:
    value = document.get(field)
    if value is not None and not isinstance(value, str):
        raise WebhookRefused(f"body is not a fal webhook: {field} is neither a string nor null")
    return value


class WebhookVerifier:
    """Checks a webhook's headers, timestamp and ED25519 signature against fal's JWKS, then parses its body.

    :meth:`verify` raises WebhookRefused for anything not believed (answer 4xx, log the reason) and lets
    JwksUnavailable through: then nothing can be verified, and the receiver answers 503 so fal retries later
    (it retries 10 times over 2 hours).
    """

    def __init__(self, keys: JwksCache, *, clock: Callable[[], float] = time.time, tolerance: float = 300.0) -> None:
        self._keys = keys
        self._clock = clock
        self._tolerance = tolerance

    async def check(self) -> int:
        """How many usable keys fal's JWKS holds (the ``check`` command: whether it can be read)."""
        return len(await self._keys.keys())

    async def verify(self, headers: Mapping[str, str], body: bytes) -> Webhook:
        """The webhook in ``body``, once its signature is verified; ``headers`` are looked up case-insensitively
        (any Mapping: aiohttp's CIMultiDictProxy or a plain dict)."""
        by_name = {name.lower(): value for name, value in headers.items()}
        values: dict[str, str] = {}
        for name in _HEADERS:
            value = by_name.get(name.lower())
            if not value:
                raise WebhookRefused(f"missing header {name}")
            values[name] = value
        request_id, user_id = values[REQUEST_ID_HEADER], values[USER_ID_HEADER]
        stamp, signature_hex = values[TIMESTAMP_HEADER], values[SIGNATURE_HEADER]

        if not _TIMESTAMP.fullmatch(stamp):
            raise WebhookRefused("timestamp is not an integer")
        timestamp = int(stamp)
        # A bounded window keeps a captured webhook from being replayed forever; the caller's signature memory
        # covers replays within it.
        skew = abs(self._clock() - timestamp)
        if skew > self._tolerance:
            raise WebhookRefused(f"timestamp {round(skew)} s away from our clock")
        if not _SIGNATURE.fullmatch(signature_hex):
            raise WebhookRefused("signature is not 64 bytes of hex")
        signature = bytes.fromhex(signature_hex)

        # The timestamp as sent, not re-formatted: fal signed those very characters.
        message = f"{request_id}\n{user_id}\n{stamp}\n{hashlib.sha256(body).hexdigest()}".encode()
        if not _verifies(await self._keys.keys(), signature, message):
            # Perhaps fal rotated its key since we fetched; the cache limits how often this refetches.
            if not (
                await self._keys.refresh_for_unknown_signature()
                and _verifies(await self._keys.keys(), signature, message)
            ):
                raise WebhookRefused("no key of fal's JWKS verifies the signature")

        return self._parse(body, request_id, user_id, timestamp, signature_hex.lower())

    @staticmethod
    def _parse(body: bytes, request_id: str, user_id: str, timestamp: int, signature: str) -> Webhook:
        try:
            document = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise WebhookRefused("body is not a fal webhook: not JSON") from exc
        if not isinstance(document, dict):
            raise WebhookRefused("body is not a fal webhook: not a JSON object")
        if document.get("request_id") != request_id:
            raise WebhookRefused("request id in the body differs from the header's")
        status = document.get("status")
        if status != "OK" and status != "ERROR":
            raise WebhookRefused("body is not a fal webhook: status is neither OK nor ERROR")
        payload = document.get("payload")
        if payload is not None and not isinstance(payload, dict):
            raise WebhookRefused("body is not a fal webhook: payload is neither an object nor null")
        return Webhook(
            request_id=request_id,
            user_id=user_id,
            timestamp=timestamp,
            signature=signature,
            status=status,
            payload=payload,
            error=_optional_str(document, "error"),
            payload_error=_optional_str(document, "payload_error"),
            body=body,
        )
