"""Taking rows for one process (jobs' leases, the spend alerts' outbox): several processes may claim at
once, and each row must go to one of them."""

from __future__ import annotations

from typing import Any

from bot.storage.database import Row, Session


async def claim_rows(
    session: Session,
    engine: str,
    *,
    table: str,
    claim: tuple[str, str],
    where: str,
    args: tuple[Any, ...],
    owner: str,
    until: float,
    limit: int,
    returning: str,
) -> list[Row]:
    """Mark up to `limit` rows matching `where` (lowest id first) as `owner`'s until `until` (the columns
    named by `claim`: owner, expiry), returning them. PostgreSQL: FOR UPDATE SKIP LOCKED makes each claimer
    take rows no other has locked, and the outer WHERE checks again a row another just took. SQLite has
    one process per file and writers that take turns: the same statement without the row lock."""
    lock = " FOR UPDATE SKIP LOCKED" if engine == "postgresql" else ""
    owner_column, until_column = claim
    return await session.fetch_all(
        f"UPDATE {table} SET {owner_column} = ?, {until_column} = ? "
        f"WHERE id IN (SELECT id FROM {table} WHERE {where} ORDER BY id LIMIT ?{lock}) AND {where} "
        f"RETURNING {returning}",
        owner,
        until,
        *args,
        limit,
        *args,
    )
