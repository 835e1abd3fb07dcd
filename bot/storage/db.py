"""The SQLite connection and the migration runner over migrations/NNNN_name.sql."""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from pathlib import Path

import aiosqlite

from bot.config import ConfigurationError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"  # bot/storage/db.py -> the repository
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


async def connect(path: Path) -> aiosqlite.Connection:
    """Open the database: WAL so readers never wait for the writer, foreign keys on,
    and a busy timeout so a second process (the CLI) waits instead of failing.
    Raises ConfigurationError when DATABASE_PATH cannot be used."""
    if str(path) != ":memory:":
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            await asyncio.to_thread(_probe, path)
        except OSError as exc:
            raise unusable(path, f"cannot create the folder {path.parent}: {exc.strerror or exc}") from None
        except sqlite3.Error as exc:
            raise unusable(path, str(exc)) from None
    conn = await aiosqlite.connect(path, isolation_level=None)
    try:
        conn.row_factory = aiosqlite.Row
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA foreign_keys=ON")
        await conn.execute("PRAGMA busy_timeout=5000")
        await conn.execute("PRAGMA synchronous=NORMAL")
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


async def open_migrated(path: Path) -> tuple[aiosqlite.Connection, list[int]]:
    """connect() and migrate(); the connection is closed again if the migrations fail."""
    conn = await connect(path)
    try:
        return conn, await migrate(conn)
    except BaseException as exc:
        await conn.close()
        if isinstance(exc, sqlite3.Error):
            raise unusable(path, f"its schema cannot be brought up to date: {exc}") from None
        raise


def unusable(path: Path, reason: str) -> ConfigurationError:
    return ConfigurationError(
        f"DATABASE_PATH {path} cannot be used ({reason}): set DATABASE_PATH to the bot's SQLite file, "
        "or to a new file in a folder the bot can write to"
    )


def discover(directory: Path = MIGRATIONS_DIR) -> list[tuple[int, Path]]:
    found = []
    for file in sorted(directory.iterdir()):
        match = _NAME.match(file.name)
        if match:
            found.append((int(match.group(1)), file))
    versions = [v for v, _ in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a number in {directory}")
    return found


async def migrate(conn: aiosqlite.Connection, directory: Path = MIGRATIONS_DIR) -> list[int]:
    """Apply every migration not yet recorded, each in its own transaction. Returns the versions applied."""
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
            for statement in _split(statements):
                await conn.execute(statement)
            await conn.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", (version, file.name))
            await conn.execute("COMMIT")
        except Exception:
            await conn.execute("ROLLBACK")
            raise
        log.info("applied migration %s", file.name)
        applied.append(version)
    return applied


def _split(script: str) -> list[str]:
    """Split a migration file into statements (our files hold no semicolons inside literals)."""
    without_comments = "\n".join(line.split("--", 1)[0] for line in script.splitlines())
    return [s.strip() for s in without_comments.split(";") if s.strip()]
