"""Which database the settings select, opened in one place: `python -m bot` (run, migrate, sync, check,
copy-db) and the tests all come through here, so DATABASE_URL means the same thing everywhere.

DATABASE_URL set: PostgreSQL (bot/storage/postgres.py), a pool of DATABASE_POOL_SIZE connections;
unset: the SQLite file of DATABASE_PATH (bot/storage/sqlite.py). Either way the migrations are applied."""

from __future__ import annotations

from bot.config import StorageSettings
from bot.storage.database import Database
from bot.storage.postgres import PostgresDatabase, redact
from bot.storage.postgres import secrets as url_secrets
from bot.storage.sqlite import SqliteDatabase


async def open_database(settings: StorageSettings) -> SqliteDatabase | PostgresDatabase:
    """Open and migrate the selected database (what was applied: its `applied`). Raises ConfigurationError,
    one line without the password, when it cannot be used."""
    if settings.database_url is None:
        return await SqliteDatabase.open(settings.database_path)
    return await PostgresDatabase.open(settings.database_url.get_secret_value(), pool_size=settings.database_pool_size)


def describe(settings: StorageSettings) -> str:
    """The engine and where it is, safe to print: `SQLite data/sora-bot.sqlite3`,
    `PostgreSQL postgresql://sora:***@db:5432/sora`."""
    if settings.database_url is None:
        return f"SQLite {settings.database_path}"
    return f"PostgreSQL {redact(settings.database_url.get_secret_value())}"


def database_secrets(settings: StorageSettings) -> list[str]:
    """What of DATABASE_URL must never reach a log line (its password)."""
    return [] if settings.database_url is None else url_secrets(settings.database_url.get_secret_value())


def _is_database(database: SqliteDatabase | PostgresDatabase) -> Database:
    """Never called: mypy checks here that both engines are a Database."""
    return database
