"""Counting reads over the jobs table for /status and the metrics. Kept beside Store (which owns every
write) so the operator views need no change to it; the one statement is portable SQL."""

from __future__ import annotations

import aiosqlite


class JobStats:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def by_state(self) -> dict[str, int]:
        async with self._conn.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state") as cur:
            rows = await cur.fetchall()
        return {str(state): int(count) for state, count in rows}
