"""What every SQL module of bot/storage/ runs on: a database engine behind one small interface, so the
stores (jobs, videos, ledger, settings, characters) are written once and SQLite (the embedded default,
bot/storage/sqlite.py) and PostgreSQL (bot/storage/postgres.py) are siblings implementing it.

SQL is written once, portable: `?` placeholders (PostgreSQL's engine numbers them), no engine-only syntax
outside the migrations, `RETURNING` for a write that gives back its row. Rows come back as plain dicts
keyed by column name."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

Row = dict[str, Any]


class Session(Protocol):
    """One connection, inside a transaction (Database.transaction) or reading (Database.reading)."""

    async def execute(self, sql: str, *args: object) -> int:
        """Run one statement; returns how many rows it changed."""
        ...

    async def fetch_one(self, sql: str, *args: object) -> Row | None: ...

    async def fetch_all(self, sql: str, *args: object) -> list[Row]: ...

    async def fetch_value(self, sql: str, *args: object) -> Any:
        """The first column of the first row; None when there is no row."""
        ...

    async def lock(self, key: str) -> None:
        """Serialise, until this transaction ends, with every other transaction that locks the same key
        (a member's quota check and reservation). SQLite: nothing to do, its writers already take turns;
        PostgreSQL: a transaction-scoped advisory lock."""
        ...


class Database(Protocol):
    engine: str  # "sqlite" or "postgresql"

    def transaction(self) -> AbstractAsyncContextManager[Session]:
        """A write transaction: committed when the block ends, rolled back when it raises."""
        ...

    def reading(self) -> AbstractAsyncContextManager[Session]:
        """Reads only, never waiting for a writer; sees only committed rows."""
        ...

    async def migrate(self) -> list[int]:
        """Apply the migrations not yet recorded in the database; returns the versions applied."""
        ...

    async def close(self) -> None: ...
