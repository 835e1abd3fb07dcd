"""PostgreSQL, for several bot processes on one database: the Database of bot/storage/database.py over an
asyncpg pool, and the migration runner over migrations/postgresql/NNNN_name.sql.

The SQL of the stores is written once with `?` placeholders; this engine numbers them ($1, $2, ...) before
asyncpg sees them. Values are plain Python int/float/str/None; NUMERIC results (PostgreSQL's SUM of a
BIGINT column) come back as int when whole, float otherwise, as SQLite would give them.

What portable SQL must mind, for PostgreSQL's sake (checked against asyncpg 0.32):
- a placeholder whose type PostgreSQL cannot infer (`? IS NULL`, `SELECT ?`) fails: `CAST(? AS BIGINT)`;
- a str is not taken for a BIGINT column (an int, a bool or a whole float is); DOUBLE PRECISION takes ints;
- name computed columns (`COUNT(*) AS n`): unnamed, SQLite calls it `COUNT(*)`, PostgreSQL `count`;
- `INSERT OR IGNORE` / `OR REPLACE` are SQLite's: `ON CONFLICT (...) DO NOTHING / DO UPDATE` runs on both;
- characters' names are unique per server whatever their case: compare `lower(name) = lower(?)`, not
  `COLLATE NOCASE`."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import socket
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from bot.config import ConfigurationError
from bot.storage.database import Database, Row, Session
from bot.storage.migrations import MIGRATIONS_DIR, discover

log = logging.getLogger(__name__)

PG_MIGRATIONS_DIR = MIGRATIONS_DIR / "postgresql"
SCHEMES = ("postgresql", "postgres")
DEFAULT_POOL_SIZE = 5
CONNECT_TIMEOUT_SECONDS = 10.0
# The session-level advisory lock held while migrating, so two processes starting at once apply each
# migration once (a fixed key, outside the range lock() hashes keys into only by chance of 1 in 2^64).
_MIGRATION_LOCK = "sora-discord-bot:migrate"


def to_numbered(sql: str) -> str:
    """`?` placeholders to PostgreSQL's `$1..$n`. A `?` inside a quoted literal ('...'), identifier
    ("...") or a -- comment is left alone (our SQL has none, but a literal must never be rewritten)."""
    return _to_numbered(sql)


@lru_cache(maxsize=1024)
def _to_numbered(sql: str) -> str:
    out: list[str] = []
    quote: str | None = None  # the quote we are inside, or "\n" inside a -- comment
    n = 0
    for i, char in enumerate(sql):
        if quote is not None:
            if char == quote:
                quote = None  # a doubled quote ('it''s') closes and reopens: the same result
        elif char in ("'", '"'):
            quote = char
        elif char == "-" and sql.startswith("--", i):
            quote = "\n"
        elif char == "?":
            n += 1
            out.append(f"${n}")
            continue
        out.append(char)
    return "".join(out)


def lock_key(key: str) -> int:
    """A stable signed 64-bit number for an advisory lock: the same in every process and every run
    (Python's hash() of a str is salted per process)."""
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "big", signed=True)


def rowcount(status: str) -> int:
    """The rows a statement changed, from asyncpg's status string: "UPDATE 3", "DELETE 0", "INSERT 0 1"
    (its first number is an OID); 0 for a statement that counts nothing ("CREATE TABLE")."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


def redact(url: str) -> str:
    """The URL without its password (in the user part, or a password= query parameter): safe to print."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, host = netloc.rsplit("@", 1)
            if ":" in userinfo:
                userinfo = userinfo.split(":", 1)[0] + ":***"
            netloc = f"{userinfo}@{host}"
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            query = urlencode([(k, "***" if k.lower() == "password" else v) for k, v in pairs], safe="*")
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return f"{url.split(':', 1)[0]}://…"


def secrets(url: str) -> list[str]:
    """The URL's password(s), to keep out of every message and log line."""
    found = []
    try:
        parts = urlsplit(url)
        if parts.password:
            found.append(parts.password)
        found += [v for k, v in parse_qsl(parts.query) if k.lower() == "password" and v]
    except ValueError:
        pass
    return found


def _numeric(text: str) -> int | float:
    """NUMERIC as SQLite would give it: SUM(BIGINT) is a whole number, an average is not."""
    if text.lstrip("-").isdigit():
        return int(text)
    return float(text)


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("numeric", encoder=str, decoder=_numeric, schema="pg_catalog", format="text")


class PostgresSession:
    """One pooled connection, in a transaction (PostgresDatabase.transaction) or not (reading)."""

    def __init__(self, conn: asyncpg.Connection, *, in_transaction: bool) -> None:
        self._conn = conn
        self._in_transaction = in_transaction

    async def execute(self, sql: str, *args: object) -> int:
        status: str = await self._conn.execute(to_numbered(sql), *args)
        return rowcount(status)

    async def fetch_one(self, sql: str, *args: object) -> Row | None:
        record = await self._conn.fetchrow(to_numbered(sql), *args)
        return None if record is None else dict(record.items())

    async def fetch_all(self, sql: str, *args: object) -> list[Row]:
        records: Iterable[Any] = await self._conn.fetch(to_numbered(sql), *args)
        return [dict(record.items()) for record in records]

    async def fetch_value(self, sql: str, *args: object) -> Any:
        return await self._conn.fetchval(to_numbered(sql), *args)

    async def lock(self, key: str) -> None:
        if not self._in_transaction:
            raise RuntimeError("lock() holds until the transaction ends: call it inside Database.transaction()")
        await self._conn.execute("SELECT pg_advisory_xact_lock($1)", lock_key(key))


class PostgresDatabase:
    """The Database protocol on PostgreSQL (bot/storage/database.py). Build it with `open()`."""

    engine = "postgresql"

    def __init__(
        self, pool: asyncpg.Pool, url: str, directory: Path = PG_MIGRATIONS_DIR, reader: asyncpg.Pool | None = None
    ) -> None:
        self._pool = pool
        # Reads have a pool of their own (as SQLite's have their own connection): the quota's transactions
        # wait their turn on an advisory lock holding a connection each, and a burst of them would otherwise
        # leave none for the read that screens a request before it is acknowledged (Discord's 3 s).
        self._reader = reader or pool
        self._url = url
        self._directory = directory
        self.applied: list[int] = []  # the migrations open() applied
        self._listeners: list[asyncpg.Connection] = []  # listen()'s own connections, closed with the pool

    @property
    def url(self) -> str:
        """The DATABASE_URL without its password, for logs and /status."""
        return redact(self._url)

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        pool_size: int = DEFAULT_POOL_SIZE,
        migrate: bool = True,
        directory: Path = PG_MIGRATIONS_DIR,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
        named: str = "DATABASE_URL",
    ) -> PostgresDatabase:
        """Connect a pool of up to `pool_size` connections and apply the migrations not yet applied.
        Raises ConfigurationError (one line, no password) when the server cannot be reached, refuses the
        credentials, has no such database, or the schema cannot be brought up to date. `named`: what the
        message calls the URL (the setting, or copy-db's target)."""
        if urlsplit(url).scheme not in SCHEMES:
            raise _unusable(url, "it must start with postgresql:// or postgres://", named)
        pools: list[asyncpg.Pool] = []
        try:
            for _ in ("writes", "reads"):
                pools.append(
                    await asyncpg.create_pool(
                        url, min_size=1, max_size=pool_size, timeout=connect_timeout, init=_init_connection
                    )
                )
        except Exception as exc:  # asyncpg raises many kinds; each becomes one line for the operator
            for made in pools:
                await made.close()
            raise _unusable(url, _why(exc, url), named) from None
        db = cls(pools[0], url, directory, reader=pools[1])
        if migrate:
            try:
                db.applied = await db.migrate()
            except BaseException as exc:
                await db.close()
                if isinstance(exc, asyncpg.PostgresError):
                    why = f"its schema cannot be brought up to date: {_scrub(str(exc), url)}"
                    raise _unusable(url, why, named) from None
                raise
        return db

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresSession]:
        """READ COMMITTED: the stores lock (Session.lock, SELECT ... FOR UPDATE) what they check."""
        async with self._pool.acquire() as conn, conn.transaction():
            yield PostgresSession(conn, in_transaction=True)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[PostgresSession]:
        """No explicit transaction: each statement sees what was committed when it started."""
        async with self._reader.acquire() as conn:
            yield PostgresSession(conn, in_transaction=False)

    async def migrate(self) -> list[int]:
        """Apply every migration not yet recorded in schema_migrations, each file in its own transaction,
        under a session advisory lock: a second process migrating at once waits, then finds them applied."""
        applied: list[int] = []
        async with self._pool.acquire() as conn:
            await conn.execute("SELECT pg_advisory_lock($1)", lock_key(_MIGRATION_LOCK))
            try:
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                    "applied_at TEXT NOT NULL "
                    "DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'))"
                )
                done = {row["version"] for row in await conn.fetch("SELECT version FROM schema_migrations")}
                for version, file in discover(self._directory):
                    if version in done:
                        continue
                    script = file.read_text(encoding="utf-8")
                    async with conn.transaction():
                        await conn.execute(script)  # no arguments: the simple protocol runs the whole file
                        await conn.execute(
                            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, file.name
                        )
                    log.info("applied migration %s", file.name)
                    applied.append(version)
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", lock_key(_MIGRATION_LOCK))
        return applied

    async def listen(self, channel: str, callback: Callable[[str], None]) -> None:
        """Call `callback(payload)` for each NOTIFY on `channel`, on a dedicated connection (a pooled one
        would lose its LISTEN when handed back). Optional: not part of the Database protocol; SQLite has
        no other process to hear from. A dropped connection stops the notices: they only hurry what the
        callers also do on a timer (claiming released jobs, stopping a cancelled job)."""
        conn = await asyncpg.connect(self._url, timeout=CONNECT_TIMEOUT_SECONDS)
        self._listeners.append(conn)
        await conn.add_listener(channel, lambda _conn, _pid, _channel, payload: callback(payload))

    async def close(self) -> None:
        for conn in self._listeners:
            await conn.close()
        self._listeners.clear()
        await self._pool.close()
        if self._reader is not self._pool:
            await self._reader.close()


def _unusable(url: str, reason: str, named: str = "DATABASE_URL") -> ConfigurationError:
    if named != "DATABASE_URL":
        return ConfigurationError(f"{named} {redact(url)} cannot be used ({reason})")
    return ConfigurationError(
        f"DATABASE_URL {redact(url)} cannot be used ({reason}): set DATABASE_URL to a PostgreSQL database the "
        "bot can log in to (postgresql://USER:PASSWORD@HOST:PORT/DATABASE), or unset it to use the SQLite file "
        "of DATABASE_PATH"
    )


def _why(exc: BaseException, url: str) -> str:
    """What went wrong connecting, in words, without the password."""
    if isinstance(exc, asyncpg.InvalidPasswordError):
        return "the server refused the password"
    if isinstance(exc, asyncpg.InvalidAuthorizationSpecificationError):
        return f"the server refused the login: {_scrub(str(exc), url)}"
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return f"no such database: {_scrub(str(exc), url)}"
    if isinstance(exc, socket.gaierror):
        return "its host name is unknown"
    if isinstance(exc, ConnectionRefusedError):
        return "nothing listens there: is the server running, on that host and port?"
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "the server did not answer in time"
    if isinstance(exc, OSError):
        return f"cannot reach the server: {exc.strerror or type(exc).__name__}"
    if isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError):
        return _scrub(str(exc), url) or type(exc).__name__
    return f"{type(exc).__name__}: {_scrub(str(exc), url)}"


def _scrub(text: str, url: str) -> str:
    """One line, with any password of the URL masked (an error may quote what it was given)."""
    for secret in secrets(url):
        text = text.replace(secret, "***")
    return " ".join(text.split())


def _implements(db: PostgresDatabase, session: PostgresSession) -> tuple[Database, Session]:
    """Never called: mypy checks here that the classes satisfy the protocols of bot/storage/database.py."""
    return db, session
