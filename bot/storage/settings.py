"""The SQL of server settings and blocklists; every change recorded with who and when."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from bot.domain.blocklist import normalise
from bot.domain.guild_settings import GuildSettings
from bot.storage.database import Database, Session

_COLUMNS = {
    "allowed_channels",
    "pro_role_id",
    "default_model",
    "default_duration",
    "default_aspect",
    "default_resolution",
    "snapshot",
    "ip_block",
    "remixable",
    "alerts_channel_id",
}


class SettingsStore:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def get(self, guild_id: int) -> GuildSettings:
        async with self._db.reading() as session:  # read on every request: never wait for a writer
            row = await session.fetch_one(
                "SELECT allowed_channels, pro_role_id, default_model, default_duration, default_aspect, "
                "default_resolution, snapshot, ip_block, remixable, alerts_channel_id FROM guild_settings "
                "WHERE guild_id = ?",
                guild_id,
            )
            rows = await session.fetch_all("SELECT term FROM blocklist WHERE guild_id = ? ORDER BY term", guild_id)
        terms = tuple(r["term"] for r in rows)
        if row is None:
            return GuildSettings(blocklist=terms)
        return GuildSettings(
            allowed_channels=tuple(json.loads(row["allowed_channels"])),
            pro_role_id=row["pro_role_id"],
            default_model=row["default_model"],
            default_duration=row["default_duration"],
            default_aspect=row["default_aspect"],
            default_resolution=row["default_resolution"],
            snapshot=row["snapshot"],
            ip_block=bool(row["ip_block"]),
            remixable=bool(row["remixable"]),
            blocklist=terms,
            alerts_channel_id=row["alerts_channel_id"],
        )

    async def change(self, guild_id: int, actor_id: int, action: str, **values: Any) -> GuildSettings:
        unknown = set(values) - _COLUMNS
        if unknown:
            raise ValueError(f"unknown settings {sorted(unknown)}")
        stored = {k: json.dumps(list(v)) if k == "allowed_channels" else v for k, v in values.items()}
        names = ", ".join(stored)
        updates = ", ".join(f"{k} = excluded.{k}" for k in stored)
        now = self._clock()
        async with self._db.transaction() as session:
            await session.execute(
                f"INSERT INTO guild_settings (guild_id, {names}, updated_by, updated_at) "
                f"VALUES (?, {', '.join('?' for _ in stored)}, ?, ?) "
                f"ON CONFLICT (guild_id) DO UPDATE SET {updates}, updated_by = excluded.updated_by, "
                "updated_at = excluded.updated_at",
                guild_id,
                *stored.values(),
                actor_id,
                now,
            )
            await self._audit(session, guild_id, actor_id, action, values, now)
        return await self.get(guild_id)

    async def block(self, guild_id: int, actor_id: int, term: str) -> bool:
        term = normalise(term)
        now = self._clock()
        async with self._db.transaction() as session:
            added = (
                await session.execute(
                    "INSERT INTO blocklist (guild_id, term, added_by, added_at) VALUES (?,?,?,?) "
                    "ON CONFLICT DO NOTHING",
                    guild_id,
                    term,
                    actor_id,
                    now,
                )
                > 0
            )
            await self._audit(session, guild_id, actor_id, "blocklist_add", {"term": term}, now)
        return added

    async def unblock(self, guild_id: int, actor_id: int, term: str) -> bool:
        term = normalise(term)
        now = self._clock()
        async with self._db.transaction() as session:
            removed = await session.execute("DELETE FROM blocklist WHERE guild_id = ? AND term = ?", guild_id, term) > 0
            await self._audit(session, guild_id, actor_id, "blocklist_remove", {"term": term}, now)
        return removed

    async def _audit(
        self, session: Session, guild_id: int, actor_id: int, action: str, details: dict[str, Any], now: float
    ) -> None:
        await session.execute(
            "INSERT INTO settings_audit (guild_id, actor_id, action, details, created_at) VALUES (?,?,?,?,?)",
            guild_id,
            actor_id,
            action,
            json.dumps(details, default=list),
            now,
        )
