"""The SQL of which command tree was last registered with Discord, per scope (bot/discord/commands.py
says what a scope is)."""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.storage.store import Store


class CommandRegistry:
    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock

    async def digests(self) -> dict[str, str]:
        """scope ('global' or a server id) -> digest of what was registered there."""
        async with self._store.reading() as conn:
            async with conn.execute("SELECT scope, digest FROM registered_commands") as cur:
                return {row[0]: row[1] for row in await cur.fetchall()}

    async def record(self, scope: str, digest: str) -> None:
        async with self._store.transaction() as conn:
            await conn.execute(
                "INSERT INTO registered_commands (scope, digest, registered_at) VALUES (?, ?, ?) "
                "ON CONFLICT (scope) DO UPDATE SET digest = excluded.digest, registered_at = excluded.registered_at",
                (scope, digest, self._clock()),
            )

    async def forget(self, scope: str) -> None:
        async with self._store.transaction() as conn:
            await conn.execute("DELETE FROM registered_commands WHERE scope = ?", (scope,))
