"""The quota ledger's SQL, as functions over a Session (bot/storage/database.py): inside a transaction,
so that a reservation is checked and written in the same transaction that creates its job, or reading."""

from __future__ import annotations

import datetime as dt

from bot.domain.models import JobState
from bot.domain.quota import Limits, Period, Standing, period_bounds
from bot.domain.spend import LedgerRow, SpendEntry
from bot.storage.database import Session

# Not counted as in progress: the finished, and the waiting (they have no slot yet).
_NOT_RUNNING = tuple(s.value for s in JobState if not s.in_progress)
_NOT_RUNNING_SQL = "(" + ", ".join(f"'{s}'" for s in _NOT_RUNNING) + ")"


async def limits(session: Session, guild_id: int, defaults: Limits) -> Limits:
    row = await session.fetch_one(
        "SELECT member_limit_micros, period, budget_micros, max_jobs_per_member, max_jobs_per_guild "
        "FROM guild_quotas WHERE guild_id = ?",
        guild_id,
    )
    if row is None:
        return defaults
    return Limits(
        row["member_limit_micros"],
        Period(row["period"]),
        row["budget_micros"],
        row["max_jobs_per_member"],
        row["max_jobs_per_guild"],
        defaults.max_waiting_per_member,  # the operator's: not a server's rule
    )


async def member_override(session: Session, guild_id: int, user_id: int) -> tuple[bool, int | None]:
    """(has an override, its limit: None = unlimited)."""
    row = await session.fetch_one(
        "SELECT limit_micros FROM member_quotas WHERE guild_id = ? AND user_id = ?", guild_id, user_id
    )
    return (row is not None, row["limit_micros"] if row else None)


async def spent(session: Session, guild_id: int, user_id: int | None, start: dt.datetime, end: dt.datetime) -> int:
    sql = (
        "SELECT COALESCE(SUM(amount_micros), 0) FROM ledger WHERE guild_id = ? "
        "AND kind IN ('reserve', 'refund', 'reset') AND period_start >= ? AND period_start < ?"
    )
    args: tuple[object, ...] = (guild_id, start.timestamp(), end.timestamp())
    if user_id is not None:
        sql += " AND user_id = ?"
        args += (user_id,)
    return int(await session.fetch_value(sql, *args) or 0)


async def running(session: Session, guild_id: int, user_id: int | None) -> int:
    """Videos in progress: started (not waiting) and not finished."""
    sql = f"SELECT COUNT(*) FROM jobs WHERE guild_id = ? AND state NOT IN {_NOT_RUNNING_SQL}"
    args: tuple[object, ...] = (guild_id,)
    if user_id is not None:
        sql += " AND user_id = ?"
        args += (user_id,)
    return int(await session.fetch_value(sql, *args) or 0)


async def waiting(session: Session, guild_id: int, user_id: int) -> int:
    """A member's videos in the waiting line."""
    count = await session.fetch_value(
        "SELECT COUNT(*) FROM jobs WHERE guild_id = ? AND user_id = ? AND state = 'waiting'", guild_id, user_id
    )
    return int(count or 0)


async def standing(session: Session, guild_id: int, user_id: int, defaults: Limits, now: dt.datetime) -> Standing:
    rules = await limits(session, guild_id, defaults)
    start, end = period_bounds(rules.period, now)
    has_override, override = await member_override(session, guild_id, user_id)
    return Standing(
        limits=rules,
        member_limit_micros=override if has_override else rules.member_limit_micros,
        member_spent_micros=await spent(session, guild_id, user_id, start, end),
        guild_spent_micros=await spent(session, guild_id, None, start, end),
        member_running=await running(session, guild_id, user_id),
        guild_running=await running(session, guild_id, None),
        period_end=end,
        member_waiting=await waiting(session, guild_id, user_id),
    )


async def add_entry(
    session: Session,
    *,
    guild_id: int,
    user_id: int,
    job_id: int | None,
    kind: str,
    amount_micros: int,
    period_start: dt.datetime,
    actor_id: int | None,
    now: float,
) -> None:
    await session.execute(
        "INSERT INTO ledger (guild_id, user_id, job_id, kind, amount_micros, period_start, actor_id, created_at) "
        "VALUES (?,?,?,?,?,?,?,?)",
        guild_id,
        user_id,
        job_id,
        kind,
        amount_micros,
        period_start.timestamp(),
        actor_id,
        now,
    )


async def settle(session: Session, job_id: int, kind: str, now: float) -> None:
    """Commit (delivered) or refund (failed, cancelled, interrupted) a job's reservation, at most once,
    and never both: the entry counts in the reservation's own period."""
    assert kind in ("commit", "refund")
    sign = 1 if kind == "commit" else -1
    await session.execute(
        "INSERT INTO ledger (guild_id, user_id, job_id, kind, amount_micros, period_start, actor_id, created_at) "
        "SELECT guild_id, user_id, job_id, ?, ? * amount_micros, period_start, NULL, ? FROM ledger "
        "WHERE job_id = ? AND kind = 'reserve' "
        "AND NOT EXISTS (SELECT 1 FROM ledger WHERE job_id = ? AND kind IN ('commit', 'refund')) "
        "ON CONFLICT DO NOTHING",
        kind,
        sign,
        now,
        job_id,
        job_id,
    )


async def audit(session: Session, guild_id: int, actor_id: int, action: str, details: str, now: float) -> None:
    await session.execute(
        "INSERT INTO quota_audit (guild_id, actor_id, action, details, created_at) VALUES (?,?,?,?,?)",
        guild_id,
        actor_id,
        action,
        details,
        now,
    )


async def save_limits(session: Session, guild_id: int, rules: Limits, actor_id: int, now: float) -> None:
    await session.execute(
        "INSERT INTO guild_quotas (guild_id, member_limit_micros, period, budget_micros, max_jobs_per_member, "
        "max_jobs_per_guild, updated_by, updated_at) VALUES (?,?,?,?,?,?,?,?) "
        "ON CONFLICT (guild_id) DO UPDATE SET member_limit_micros = excluded.member_limit_micros, "
        "period = excluded.period, budget_micros = excluded.budget_micros, "
        "max_jobs_per_member = excluded.max_jobs_per_member, max_jobs_per_guild = excluded.max_jobs_per_guild, "
        "updated_by = excluded.updated_by, updated_at = excluded.updated_at",
        guild_id,
        rules.member_limit_micros,
        rules.period.value,
        rules.budget_micros,
        rules.max_jobs_per_member,
        rules.max_jobs_per_guild,
        actor_id,
        now,
    )


async def save_member_limit(
    session: Session, guild_id: int, user_id: int, limit_micros: int | None, actor_id: int, now: float
) -> None:
    await session.execute(
        "INSERT INTO member_quotas (guild_id, user_id, limit_micros, updated_by, updated_at) VALUES (?,?,?,?,?) "
        "ON CONFLICT (guild_id, user_id) DO UPDATE SET limit_micros = excluded.limit_micros, "
        "updated_by = excluded.updated_by, updated_at = excluded.updated_at",
        guild_id,
        user_id,
        limit_micros,
        actor_id,
        now,
    )


async def top_spenders(
    session: Session, guild_id: int, start: dt.datetime, end: dt.datetime, limit: int
) -> list[tuple[int, int]]:
    rows = await session.fetch_all(
        "SELECT user_id, SUM(amount_micros) AS total FROM ledger WHERE guild_id = ? "
        "AND kind IN ('reserve', 'refund', 'reset') AND period_start >= ? AND period_start < ? "
        "GROUP BY user_id HAVING SUM(amount_micros) > 0 ORDER BY total DESC LIMIT ?",
        guild_id,
        start.timestamp(),
        end.timestamp(),
        limit,
    )
    return [(int(r["user_id"]), int(r["total"])) for r in rows]


async def videos_made(session: Session, guild_id: int, start: dt.datetime, end: dt.datetime) -> int:
    count = await session.fetch_value(
        "SELECT COUNT(*) FROM videos WHERE guild_id = ? AND created_at >= ? AND created_at < ?",
        guild_id,
        start.timestamp(),
        end.timestamp(),
    )
    return int(count or 0)


# /quota report's chart and /quota export (bot/ops/spend_report.py, bot/ops/ledger_export.py).


async def spend_entries(session: Session, guild_id: int, start: dt.datetime, end: dt.datetime) -> list[SpendEntry]:
    """The entries `spent` sums, one by one (a paid video each, so a period's are few enough to list)."""
    rows = await session.fetch_all(
        "SELECT user_id, created_at, amount_micros FROM ledger WHERE guild_id = ? "
        "AND kind IN ('reserve', 'refund', 'reset') AND period_start >= ? AND period_start < ? ORDER BY id",
        guild_id,
        start.timestamp(),
        end.timestamp(),
    )
    return [
        SpendEntry(
            int(r["user_id"]), dt.datetime.fromtimestamp(float(r["created_at"]), dt.UTC), int(r["amount_micros"])
        )
        for r in rows
    ]


async def totals_by_kind(session: Session, guild_id: int, start: dt.datetime, end: dt.datetime) -> dict[str, int]:
    """Each kind's sum over the period's entries: {'reserve': …, 'commit': …, 'refund': …, 'reset': …}."""
    rows = await session.fetch_all(
        "SELECT kind, SUM(amount_micros) AS total FROM ledger WHERE guild_id = ? "
        "AND period_start >= ? AND period_start < ? GROUP BY kind",
        guild_id,
        start.timestamp(),
        end.timestamp(),
    )
    return {str(r["kind"]): int(r["total"]) for r in rows}


async def still_reserved(session: Session, guild_id: int, start: dt.datetime, end: dt.datetime) -> int:
    """Reservations of the period not yet committed nor refunded (videos not finished)."""
    total = await session.fetch_value(
        "SELECT COALESCE(SUM(r.amount_micros), 0) FROM ledger r WHERE r.guild_id = ? AND r.kind = 'reserve' "
        "AND r.period_start >= ? AND r.period_start < ? AND NOT EXISTS (SELECT 1 FROM ledger s "
        "WHERE s.job_id = r.job_id AND s.kind IN ('commit', 'refund'))",
        guild_id,
        start.timestamp(),
        end.timestamp(),
    )
    return int(total or 0)


async def ledger_page(
    session: Session, guild_id: int, start: dt.datetime, end: dt.datetime, after_id: int, limit: int
) -> list[LedgerRow]:
    """Entries written in [start, end), oldest first, a page at a time (keyset: those after `after_id`)."""
    rows = await session.fetch_all(
        "SELECT l.id, l.created_at, l.kind, l.user_id, l.job_id, l.amount_micros, j.model, j.duration, "
        "j.resolution FROM ledger l LEFT JOIN jobs j ON j.id = l.job_id WHERE l.guild_id = ? "
        "AND l.created_at >= ? AND l.created_at < ? AND l.id > ? ORDER BY l.id LIMIT ?",
        guild_id,
        start.timestamp(),
        end.timestamp(),
        after_id,
        limit,
    )
    return [
        LedgerRow(
            id=int(r["id"]),
            at=dt.datetime.fromtimestamp(float(r["created_at"]), dt.UTC),
            kind=str(r["kind"]),
            user_id=int(r["user_id"]),
            job_id=None if r["job_id"] is None else int(r["job_id"]),
            model=r["model"],
            duration=None if r["duration"] is None else int(r["duration"]),
            resolution=r["resolution"],
            amount_micros=int(r["amount_micros"]),
        )
        for r in rows
    ]
