"""fal's webhooks as received (FAL_UPDATES=webhook): recorded by whichever process's receiver verified
one, read by the job's owner. A notice (PostgreSQL) tells the other processes at once; the owner also
looks on a timer, so a lost notice only delays."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

from bot.storage.database import Database
from bot.storage.jobs import NOTICES

# A signature is kept this long: twice fal's 5 minutes of allowed clock difference, either way.
SIGNATURES_KEPT_SECONDS = 600.0

Recorded = Literal["recorded", "duplicate", "replay", "unknown"]


class WebhookStore:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def record(self, request_id: str, signature: str, body: str) -> tuple[Recorded, int | None]:
        """Record a verified webhook in one transaction, and the job it is for. "unknown": no job has this
        request id (nothing is written); "replay": this very signature was seen before (nothing written);
        "duplicate": the request's webhook was recorded already (fal's retry: only the signature is kept);
        "recorded": stored, and the job's owner told."""
        now = self._clock()
        async with self._db.transaction() as session:
            job_id = await session.fetch_value("SELECT id FROM jobs WHERE request_id = ?", request_id)
            if job_id is None:
                return "unknown", None
            await session.execute(
                "DELETE FROM fal_webhook_signatures WHERE received_at < ?", now - SIGNATURES_KEPT_SECONDS
            )
            fresh = await session.execute(
                "INSERT INTO fal_webhook_signatures (signature, received_at) VALUES (?, ?) "
                "ON CONFLICT (signature) DO NOTHING",
                signature,
                now,
            )
            if not fresh:
                return "replay", int(job_id)
            stored = await session.execute(
                "INSERT INTO fal_webhooks (request_id, job_id, body, received_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (request_id) DO NOTHING",
                request_id,
                job_id,
                body,
                now,
            )
            if not stored:
                return "duplicate", int(job_id)
            if self._db.engine == "postgresql":
                await session.execute("SELECT pg_notify(?, ?)", NOTICES, f"webhook:{int(job_id)}")
        return "recorded", int(job_id)

    async def body(self, request_id: str) -> str | None:
        """The recorded webhook of a request, as fal sent it; None when none has come."""
        async with self._db.reading() as session:
            value = await session.fetch_value("SELECT body FROM fal_webhooks WHERE request_id = ?", request_id)
        return None if value is None else str(value)
