"""The SQL of each server's Sora characters. Names compare without case: lower() on both sides, as the
unique index of migration 0003 (name COLLATE NOCASE) does in SQLite (both fold ASCII letters only)."""

from __future__ import annotations

from bot.domain.models import Character
from bot.storage.database import Database

_COLUMNS = "id, guild_id, name, fal_id, created_by, created_at"


class CharacterStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, guild_id: int, name: str, fal_id: str, created_by: int, now: float) -> Character:
        async with self._db.transaction() as session:
            row = await session.fetch_one(
                "INSERT INTO characters (guild_id, name, fal_id, created_by, created_at) VALUES (?,?,?,?,?) "
                f"RETURNING {_COLUMNS}",
                guild_id,
                name,
                fal_id,
                created_by,
                now,
            )
        assert row is not None  # an INSERT ... RETURNING returns its row
        return Character(**row)

    async def get(self, guild_id: int, name: str) -> Character | None:
        async with self._db.reading() as session:
            row = await session.fetch_one(
                f"SELECT {_COLUMNS} FROM characters WHERE guild_id = ? AND lower(name) = lower(?)", guild_id, name
            )
        return Character(**row) if row else None

    async def list(self, guild_id: int) -> list[Character]:
        async with self._db.reading() as session:
            rows = await session.fetch_all(
                f"SELECT {_COLUMNS} FROM characters WHERE guild_id = ? ORDER BY lower(name)", guild_id
            )
        return [Character(**r) for r in rows]

    async def delete(self, character_id: int) -> None:
        async with self._db.transaction() as session:
            await session.execute("DELETE FROM characters WHERE id = ?", character_id)
