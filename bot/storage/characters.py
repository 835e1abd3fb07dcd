"""The SQL of each server's Sora characters."""

from __future__ import annotations

from bot.domain.models import Character
from bot.storage.store import Store


class CharacterStore:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def add(self, guild_id: int, name: str, fal_id: str, created_by: int, now: float) -> Character:
        async with self._store.transaction() as conn:
            await conn.execute(
                "INSERT INTO characters (guild_id, name, fal_id, created_by, created_at) VALUES (?,?,?,?,?)",
                (guild_id, name, fal_id, created_by, now),
            )
        found = await self.get(guild_id, name)
        assert found is not None
        return found

    async def get(self, guild_id: int, name: str) -> Character | None:
        async with self._store.reading() as conn:
            async with conn.execute(
                "SELECT * FROM characters WHERE guild_id = ? AND name = ? COLLATE NOCASE", (guild_id, name)
            ) as cur:
                row = await cur.fetchone()
        return Character(**dict(row)) if row else None

    async def list(self, guild_id: int) -> list[Character]:
        async with self._store.reading() as conn:
            async with conn.execute(
                "SELECT * FROM characters WHERE guild_id = ? ORDER BY name COLLATE NOCASE", (guild_id,)
            ) as cur:
                rows = await cur.fetchall()
        return [Character(**dict(r)) for r in rows]

    async def delete(self, character_id: int) -> None:
        async with self._store.transaction() as conn:
            await conn.execute("DELETE FROM characters WHERE id = ?", (character_id,))
