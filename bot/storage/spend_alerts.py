"""The spend alerts' outbox (migrations/0011_spend_alerts.sql). `record` runs inside the transaction that
reserves the spend (bot/storage/jobs.py), so a crossing is written exactly when its reservation is, once
per server, period and threshold (the UNIQUE key, ON CONFLICT DO NOTHING). SpendAlertStore hands the
pending rows to a sender under a claim, so two processes never post the same one, and records the end."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

from bot.domain.spend_alerts import TOP_SPENDERS, Alert
from bot.storage import ledger
from bot.storage.claims import claim_rows
from bot.storage.database import Database, Row, Session

_COLUMNS = "id, guild_id, channel_id, threshold, spent_micros, budget_micros, period_start, period_end, refused"
_CLAIMABLE = "state = 'pending' AND (claimed_by IS NULL OR claim_expires_at < ?)"


async def record(
    session: Session,
    *,
    guild_id: int,
    period: tuple[dt.datetime, dt.datetime],
    thresholds: tuple[int, ...],
    spent_micros: int,
    budget_micros: int,
    refused: bool,
    now: float,
) -> int:
    """Write the crossed thresholds (none when the server has no alerts channel: alerts are off, and
    turning them on later alerts from the next crossing, not about the past). The highest is the one to
    post; the lower ones crossed with it are written as covered, so they are never posted after it.
    Returns how many rows are new."""
    if not thresholds:
        return 0
    channel = await session.fetch_value("SELECT alerts_channel_id FROM guild_settings WHERE guild_id = ?", guild_id)
    if channel is None:
        return 0
    written = 0
    for threshold in thresholds:
        written += await session.execute(
            "INSERT INTO spend_alerts (guild_id, period_start, threshold, channel_id, spent_micros, budget_micros, "
            "period_end, refused, state, created_at, done_at) VALUES (?,?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT (guild_id, period_start, threshold) DO NOTHING",
            guild_id,
            period[0].timestamp(),
            threshold,
            channel,
            spent_micros,
            budget_micros,
            period[1].timestamp(),
            int(refused),
            "pending" if threshold == max(thresholds) else "covered",
            now,
            None if threshold == max(thresholds) else now,
        )
    return written


class SpendAlertStore:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def claim(self, owner: str, claim_seconds: float, limit: int = 20) -> list[Alert]:
        """Take pending alerts nobody holds (or whose holder's claim ran out: it died mid-post) for
        claim_seconds. PostgreSQL: SKIP LOCKED and the outer WHERE, checked again on a row another
        claimer just took, keep two processes from taking the same row (as jobs.claim does)."""
        now = self._clock()
        async with self._db.reading() as session:  # every heartbeat asks: a read, no writer, when none is owed
            if await session.fetch_value(f"SELECT 1 FROM spend_alerts WHERE {_CLAIMABLE} LIMIT 1", now) is None:
                return []
        async with self._db.transaction() as session:
            rows = await claim_rows(
                session,
                self._db.engine,
                table="spend_alerts",
                claim=("claimed_by", "claim_expires_at"),
                where=_CLAIMABLE,
                args=(now,),
                owner=owner,
                until=now + claim_seconds,
                limit=limit,
                returning=_COLUMNS,
            )
        return sorted((_alert(r) for r in rows), key=lambda a: a.id)

    async def top_spenders(self, alert: Alert) -> list[tuple[int, int]]:
        """Who spent most of the alert's period, from the ledger as /quota report counts it."""
        async with self._db.reading() as session:
            return await ledger.top_spenders(
                session, alert.guild_id, alert.period_start, alert.period_end, TOP_SPENDERS
            )

    async def sent(self, alert_id: int, owner: str, message_id: int) -> bool:
        return await self._finish(alert_id, owner, "sent", message_id)

    async def given_up(self, alert_id: int, owner: str) -> bool:
        return await self._finish(alert_id, owner, "given_up", None)

    async def release(self, alert_id: int, owner: str) -> None:
        """Discord was unavailable: the next sweep (any process's) tries again."""
        async with self._db.transaction() as session:
            await session.execute(
                "UPDATE spend_alerts SET claimed_by = NULL, claim_expires_at = NULL "
                "WHERE id = ? AND claimed_by = ? AND state = 'pending'",
                alert_id,
                owner,
            )

    async def _finish(self, alert_id: int, owner: str, state: str, message_id: int | None) -> bool:
        async with self._db.transaction() as session:
            changed = await session.execute(
                "UPDATE spend_alerts SET state = ?, message_id = ?, done_at = ?, claimed_by = NULL, "
                "claim_expires_at = NULL WHERE id = ? AND claimed_by = ? AND state = 'pending'",
                state,
                message_id,
                self._clock(),
                alert_id,
                owner,
            )
        return changed > 0


def _alert(row: Row) -> Alert:
    return Alert(
        id=int(row["id"]),
        guild_id=int(row["guild_id"]),
        channel_id=int(row["channel_id"]),
        threshold=int(row["threshold"]),
        spent_micros=int(row["spent_micros"]),
        budget_micros=int(row["budget_micros"]),
        period_start=dt.datetime.fromtimestamp(row["period_start"], dt.UTC),
        period_end=dt.datetime.fromtimestamp(row["period_end"], dt.UTC),
        refused=bool(row["refused"]),
    )
