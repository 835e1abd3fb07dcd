"""Counting reads over the jobs table for /status and the metrics. Kept beside JobStore (which owns every
write) so the operator views need no change to it; the one statement is portable SQL."""

from __future__ import annotations

from bot.storage.database import Database


class JobStats:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def by_state(self) -> dict[str, int]:
        async with self._db.reading() as session:
            rows = await session.fetch_all("SELECT state, COUNT(*) AS count FROM jobs GROUP BY state")
        return {str(row["state"]): int(row["count"]) for row in rows}
