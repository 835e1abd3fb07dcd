"""What members and admins ask of the quota: where they stand, the server's rules, and changes to
them. Every change is written with who made it and when."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TypedDict, Unpack

from bot.domain.quota import Limits, Period, Report, Usage, period_bounds, to_micros
from bot.domain.spend import SpendFigures, previous_period_moment, spend_figures
from bot.ops.ledger_export import LedgerExport, export_ledger
from bot.storage import ledger
from bot.storage.database import Database, Session
from bot.storage.videos import VideoStore


class _LimitChanges(TypedDict, total=False):
    """The server rules an admin changes (fields of Limits)."""

    member_limit_micros: int | None
    period: Period
    budget_micros: int | None


class QuotaService:
    def __init__(
        self, db: Database, videos: VideoStore, defaults: Limits, clock: Callable[[], float] = time.time
    ) -> None:
        self._db = db
        self._videos = videos
        self._defaults = defaults
        self._clock = clock

    @property
    def defaults(self) -> Limits:
        return self._defaults

    def _now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self._clock(), dt.UTC)

    async def usage(self, guild_id: int, user_id: int) -> Usage:
        async with self._db.reading() as session:
            standing = await ledger.standing(session, guild_id, user_id, self._defaults, self._now())
            has_override, _ = await ledger.member_override(session, guild_id, user_id)
        recent = await self._videos.recent_videos(guild_id, user_id, limit=5)
        return Usage(standing, has_override, recent)

    async def rules(self, guild_id: int) -> Limits:
        async with self._db.reading() as session:
            return await ledger.limits(session, guild_id, self._defaults)

    async def set_member_limit(self, guild_id: int, actor_id: int, user_id: int, usd: float | None) -> None:
        """usd None = unlimited."""
        if usd is not None and usd < 0:
            raise ValueError("A limit cannot be negative.")
        micros = None if usd is None else to_micros(usd)
        async with self._db.transaction() as session:
            await ledger.save_member_limit(session, guild_id, user_id, micros, actor_id, self._clock())
            await self._audit(session, guild_id, actor_id, "member_limit", user_id=user_id, limit_micros=micros)

    async def reset_member(self, guild_id: int, actor_id: int, user_id: int) -> int:
        """Clear the member's usage this period with a ledger entry (history stays). Returns what was cleared."""
        now = self._clock()
        async with self._db.transaction() as session:
            rules = await ledger.limits(session, guild_id, self._defaults)
            start, end = period_bounds(rules.period, self._now())
            used = await ledger.spent(session, guild_id, user_id, start, end)
            if used > 0:
                await ledger.add_entry(
                    session,
                    guild_id=guild_id,
                    user_id=user_id,
                    job_id=None,
                    kind="reset",
                    amount_micros=-used,
                    period_start=start,
                    actor_id=actor_id,
                    now=now,
                )
            await self._audit(session, guild_id, actor_id, "reset", user_id=user_id, cleared_micros=used)
        return used

    async def set_default(self, guild_id: int, actor_id: int, usd: float, period: Period) -> Limits:
        if usd < 0:
            raise ValueError("A limit cannot be negative.")
        return await self._change(guild_id, actor_id, "default", member_limit_micros=to_micros(usd), period=period)

    async def set_budget(self, guild_id: int, actor_id: int, usd: float | None) -> Limits:
        if usd is not None and usd < 0:
            raise ValueError("A budget cannot be negative.")
        return await self._change(guild_id, actor_id, "budget", budget_micros=None if usd is None else to_micros(usd))

    async def report(self, guild_id: int, top: int = 5) -> Report:
        return (await self.spend_report(guild_id, top=top))[0]

    async def spend_report(self, guild_id: int, previous: bool = False, top: int = 5) -> tuple[Report, SpendFigures]:
        """The current period's report and chart figures (or the last full period's), all from the ledger,
        read in one go so that the text and the picture agree."""
        async with self._db.reading() as session:
            rules = await ledger.limits(session, guild_id, self._defaults)
            start, end = period_bounds(rules.period, self._now())
            if previous:
                start, end = period_bounds(rules.period, previous_period_moment(start))
            report = Report(
                limits=rules,
                period_start=start,
                period_end=end,
                spent_micros=await ledger.spent(session, guild_id, None, start, end),
                top=await ledger.top_spenders(session, guild_id, start, end, top),
                videos=await ledger.videos_made(session, guild_id, start, end),
                running=await ledger.running(session, guild_id, None),
            )
            kinds = await ledger.totals_by_kind(session, guild_id, start, end)
            figures = spend_figures(
                await ledger.spend_entries(session, guild_id, start, end),
                start,
                end,
                budget_micros=rules.budget_micros,
                committed_micros=kinds.get("commit", 0),
                reserved_micros=await ledger.still_reserved(session, guild_id, start, end),
                reset_micros=kinds.get("reset", 0),
                top=top,
                through=None if previous else self._now().date(),
            )
        return report, figures

    async def export(
        self, guild_id: int, start: dt.datetime, end: dt.datetime, name_of: Callable[[int], Awaitable[str]]
    ) -> LedgerExport | None:
        """The ledger's entries written in [start, end) as a CSV file (bot/ops/ledger_export.py)."""
        return await export_ledger(self._db, guild_id, start, end, name_of)

    async def _change(self, guild_id: int, actor_id: int, action: str, **changes: Unpack[_LimitChanges]) -> Limits:
        async with self._db.transaction() as session:
            current = await ledger.limits(session, guild_id, self._defaults)
            updated = replace(current, **changes)
            await ledger.save_limits(session, guild_id, updated, actor_id, self._clock())
            await self._audit(session, guild_id, actor_id, action, **{k: str(v) for k, v in changes.items()})
        return updated

    async def _audit(self, session: Session, guild_id: int, actor_id: int, action: str, **details: object) -> None:
        await ledger.audit(session, guild_id, actor_id, action, json.dumps(details), self._clock())
