"""The SQL of which command tree was last registered with Discord, per scope (bot/discord/commands.py
says what a scope is)."""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.storage.database import Database


class CommandRegistry:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def digests(self) -> dict[str, str]:
        """scope ('global' or a server id) -> digest of what was registered there."""
        async with self._db.reading() as session:
            rows = await session.fetch_all("SELECT scope, digest FROM registered_commands")
        return {row["scope"]: row["digest"] for row in rows}

    async def record(self, scope: str, digest: str) -> None:
        async with self._db.transaction() as session:
            await session.execute(
                "INSERT INTO registered_commands (scope, digest, registered_at) VALUES (?, ?, ?) "
                "ON CONFLICT (scope) DO UPDATE SET digest = excluded.digest, registered_at = excluded.registered_at",
                scope,
                digest,
                self._clock(),
            )

    async def forget(self, scope: str) -> None:
        async with self._db.transaction() as session:
            await session.execute("DELETE FROM registered_commands WHERE scope = ?", scope)
