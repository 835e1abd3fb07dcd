"""SQLite behind the Database interface (bot/storage/database.py): the embedded default.

One connection writes; its transactions are BEGIN IMMEDIATE and take turns behind one asyncio lock, so
two coroutines' transactions never interleave on it. A file database has a second, read-only connection
for reading(): in WAL mode it reads the last committed rows without waiting for the writer, and never
sees a transaction another coroutine has not committed yet. ":memory:" has one connection for both."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from bot.config import ConfigurationError
from bot.storage.database import Row
from bot.storage.migrations import MIGRATIONS_DIR, discover, split

log = logging.getLogger(__name__)


class SqliteSession:
    """Statements on one aiosqlite connection (or anything with its `execute`, as the crash tests' proxy)."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def execute(self, sql: str, *args: object) -> int:
        async with self._conn.execute(sql, args) as cur:
            return int(cur.rowcount)

    async def fetch_one(self, sql: str, *args: object) -> Row | None:
        async with self._conn.execute(sql, args) as cur:
            row = await cur.fetchone()
        return dict(row) if row is not None else None

    async def fetch_all(self, sql: str, *args: object) -> list[Row]:
        async with self._conn.execute(sql, args) as cur:
            rows = await cur.fetchall()
        return [dict(r) for r in rows]

    async def fetch_value(self, sql: str, *args: object) -> Any:
        async with self._conn.execute(sql, args) as cur:
            row = await cur.fetchone()
        return row[0] if row is not None else None

    async def lock(self, key: str) -> None:
        """Nothing to do: BEGIN IMMEDIATE already makes SQLite's writers take turns."""


class SqliteDatabase:
    def __init__(self, write: Any, read: Any | None = None) -> None:
        """`write`: the connection for transactions; `read`: a connection of its own for reading()
        (None: the write connection, as ":memory:" must)."""
        self.engine = "sqlite"
        self.writer = write
        self.reader = read
        self._tx_lock = asyncio.Lock()  # one write connection: transactions must not interleave
        self.applied: list[int] = []  # the migrations open() applied

    @classmethod
    async def connect(cls, path: Path) -> SqliteDatabase:
        """Open the database: WAL so readers never wait for the writer, foreign keys on, and a busy timeout
        so a second process (the CLI) waits instead of failing. Raises ConfigurationError when
        DATABASE_PATH cannot be used."""
        if str(path) == ":memory:":
            return cls(await _connect(path))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            await asyncio.to_thread(_probe, path)
        except OSError as exc:
            raise unusable(path, f"cannot create the folder {path.parent}: {exc.strerror or exc}") from None
        except sqlite3.Error as exc:
            raise unusable(path, str(exc)) from None
        write = await _connect(path)
        try:
            read = await _connect(path, read_only=True)
        except BaseException:
            await write.close()
            raise
        return cls(write, read)

    @classmethod
    async def open(cls, path: Path) -> SqliteDatabase:
        """connect() and migrate() (what it applied: `applied`); closed again if the migrations fail."""
        database = await cls.connect(path)
        try:
            database.applied = await database.migrate()
        except BaseException as exc:
            await database.close()
            if isinstance(exc, sqlite3.Error):
                raise unusable(path, f"its schema cannot be brought up to date: {exc}") from None
            raise
        return database

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqliteSession]:
        async with self._tx_lock:
            await self.writer.execute("BEGIN IMMEDIATE")
            try:
                yield SqliteSession(self.writer)
            except BaseException:
                await self.writer.execute("ROLLBACK")
                raise
            await self.writer.execute("COMMIT")

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[SqliteSession]:
        """Each statement reads what is committed (no BEGIN: reads never queue behind writers)."""
        yield SqliteSession(self.reader if self.reader is not None else self.writer)

    async def migrate(self, directory: Path = MIGRATIONS_DIR) -> list[int]:
        """Apply every migration not yet recorded, each in its own transaction. Returns the versions applied."""
        async with self._tx_lock:
            return await _migrate(self.writer, directory)

    async def close(self) -> None:
        # Both, whatever fails: aiosqlite's worker thread is not a daemon and would keep the process alive.
        try:
            if self.reader is not None:
                await self.reader.close()
        finally:
            await self.writer.close()


async def _connect(path: Path, *, read_only: bool = False) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)
    try:
        conn.row_factory = aiosqlite.Row
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA foreign_keys=ON")
        await conn.execute("PRAGMA busy_timeout=5000")
        await conn.execute("PRAGMA synchronous=NORMAL")
        if read_only:
            await conn.execute("PRAGMA query_only=ON")
    except BaseException as exc:
        await conn.close()  # its worker thread would otherwise keep the process alive
        if isinstance(exc, sqlite3.Error):
            raise unusable(path, str(exc)) from None
        raise
    return conn


def _probe(path: Path) -> None:
    """Open the file with plain sqlite3 first: when aiosqlite itself fails to open a file, its worker
    thread outlives the event loop and prints a traceback at exit."""
    probe = sqlite3.connect(path)
    try:
        probe.execute("PRAGMA schema_version")  # reads the header: "file is not a database"
    finally:
        probe.close()


def unusable(path: Path, reason: str) -> ConfigurationError:
    return ConfigurationError(
        f"DATABASE_PATH {path} cannot be used ({reason}): set DATABASE_PATH to the bot's SQLite file, "
        "or to a new file in a folder the bot can write to"
    )


async def _migrate(conn: aiosqlite.Connection, directory: Path) -> list[int]:
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
        "applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
    )
    async with conn.execute("SELECT version FROM schema_migrations") as cur:
        done = {row[0] for row in await cur.fetchall()}
    applied = []
    for version, file in discover(directory):
        if version in done:
            continue
        statements = file.read_text(encoding="utf-8")
        # executescript would commit on its own; run the file inside one explicit transaction instead.
        await conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in split(statements):
                await conn.execute(statement)
            await conn.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", (version, file.name))
            await conn.execute("COMMIT")
        except Exception:
            await conn.execute("ROLLBACK")
            raise
        log.info("applied migration %s", file.name)
        applied.append(version)
    return applied
