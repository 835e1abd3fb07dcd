"""A real PostgreSQL server for the tests (a pytest plugin, registered in tests/conftest.py).

One server per test session, from Debian's binaries (/usr/lib/postgresql/*/bin), in a temporary folder,
listening on 127.0.0.1 at a free port and on a unix socket in that folder, with fsync off. PostgreSQL
refuses to run as root: as root its binaries run as the `postgres` system user (runuser), otherwise as
the current user. It is stopped at the end of the session (and at exit, should the session die first).

Fixtures:
- `pg_server`: the PgServer (session-scoped).
- `pg_empty_url`: the URL of a new, empty database for this test (no migrations).
- `pg_url`: the URL of a new database for this test, already migrated (a copy of a migrated template).
- `database`: the bot's Database, parametrized over both engines (SQLite: a file in tmp_path; PostgreSQL:
  PostgresDatabase.open(pg_url)), for the tests of storage, the ledger, quotas and restarts.

Without the binaries, these tests fail when CI is set (CI must test PostgreSQL) and are skipped otherwise.
"""

from __future__ import annotations

import asyncio
import atexit
import glob
import itertools
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

SUPERUSER = "postgres"
_TEMPLATE = "sora_template"


def find_bindir() -> Path | None:
    """Debian's newest PostgreSQL binaries, or those of an initdb on PATH."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    bindir: Path
    root: Path  # the temporary folder: data/, the socket, the log
    port: int
    password: str
    _as_postgres: bool = field(default=False)
    _running: bool = field(default=False)
    _counter: Iterator[int] = field(default_factory=itertools.count)

    @property
    def socket_dir(self) -> Path:
        return self.root

    def url(self, database: str = "postgres", *, password: str | None = None) -> str:
        secret = self.password if password is None else password
        return f"postgresql://{SUPERUSER}:{secret}@127.0.0.1:{self.port}/{database}"

    def _run(self, *argv: str, check: bool = True, input_text: str | None = None) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_postgres else []
        return subprocess.run(
            [*prefix, *argv], check=check, capture_output=True, text=True, input=input_text, timeout=120
        )

    def start(self) -> None:
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n", encoding="utf-8")
        if self._as_postgres:
            shutil.chown(pwfile, "postgres")
        data = self.root / "data"
        self._run(
            str(self.bindir / "initdb"), "-D", str(data), "-U", SUPERUSER, "--pwfile", str(pwfile),
            "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip
        options = (
            f"-p {self.port} -h 127.0.0.1 -k {self.socket_dir} -F -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=200 -c shared_buffers=32MB"
        )
        result = self._run(
            str(self.bindir / "pg_ctl"), "start", "-w", "-t", "60", "-D", str(data),
            "-l", str(self.root / "server.log"), "-o", options, check=False,
        )  # fmt: skip
        self._running = True  # even half-started: stop() tries
        if result.returncode != 0:
            log = (self.root / "server.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"PostgreSQL did not start: {result.stderr.strip()}\n{log}")

    def stop(self) -> None:
        if self._running:
            self._running = False
            self._run(str(self.bindir / "pg_ctl"), "stop", "-w", "-m", "immediate", "-D", str(self.root / "data"),
                      check=False)  # fmt: skip
        shutil.rmtree(self.root, ignore_errors=True)

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL as the superuser over the unix socket; returns what it printed (unaligned, no headers)."""
        result = self._run(
            str(self.bindir / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
            "-h", str(self.socket_dir), "-p", str(self.port), "-U", SUPERUSER, "-d", database, "-c", sql,
            check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr.strip()}")
        return result.stdout.strip()

    def new_database(self, template: str = "template0") -> str:
        """A new database for one test (from `template`); returns its name."""
        name = f"t{next(self._counter)}"
        self.psql(f"CREATE DATABASE {name} TEMPLATE {template}")
        return name

    def drop_database(self, name: str) -> None:
        self.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is needed in CI: {reason} (.ci/run installs Debian's postgresql package)")
    pytest.skip(f"no PostgreSQL server for these tests: {reason} (install Debian's postgresql package)")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    bindir = find_bindir()
    if bindir is None:
        _missing("no initdb under /usr/lib/postgresql/*/bin or on PATH")
        raise AssertionError("unreachable")
    as_postgres = os.geteuid() == 0
    if as_postgres and shutil.which("runuser") is None:
        _missing("running as root, and there is no runuser to start PostgreSQL as the postgres user")
    root = Path(tempfile.mkdtemp(prefix="sora-pg-"))
    if as_postgres:
        try:
            shutil.chown(root, "postgres", "postgres")
        except LookupError:
            shutil.rmtree(root, ignore_errors=True)
            _missing("running as root, and there is no postgres system user to run PostgreSQL as")
    server = PgServer(bindir, root, _free_port(), secrets.token_hex(16), _as_postgres=as_postgres)
    atexit.register(server.stop)  # the session may die before the finaliser runs
    try:
        server.start()
        yield server
    finally:
        server.stop()
        atexit.unregister(server.stop)


@pytest.fixture(scope="session")
def pg_template(pg_server: PgServer) -> str:
    """A database migrated once, that each test's database copies."""
    pg_server.psql(f"CREATE DATABASE {_TEMPLATE}")
    _in_thread(_migrate(pg_server.url(_TEMPLATE)))
    return _TEMPLATE


async def _migrate(url: str) -> None:
    from bot.storage.postgres import PostgresDatabase

    db = await PostgresDatabase.open(url, pool_size=1)
    await db.close()


def _in_thread(coro: object) -> None:
    """asyncio.run in a thread of its own: a session fixture must not touch the tests' event loops."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(coro)  # type: ignore[arg-type]
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


@pytest.fixture
def pg_empty_url(pg_server: PgServer) -> Iterator[str]:
    name = pg_server.new_database()
    try:
        yield pg_server.url(name)
    finally:
        pg_server.drop_database(name)


@pytest.fixture
def pg_url(pg_server: PgServer, pg_template: str) -> Iterator[str]:
    name = pg_server.new_database(template=pg_template)
    try:
        yield pg_server.url(name)
    finally:
        pg_server.drop_database(name)


# -- one test, both engines ------------------------------------------------------------------------------

ENGINES = ["sqlite", "postgresql"]


def integrity_errors() -> tuple[type[BaseException], ...]:
    """What a broken constraint raises on either engine."""
    import sqlite3

    import asyncpg

    return (sqlite3.IntegrityError, asyncpg.IntegrityConstraintViolationError)


async def open_engine(engine: str, request: pytest.FixtureRequest, tmp_path: Path, pool_size: int = 5) -> Any:
    """A migrated Database of `engine`: a real SQLite file in tmp_path, or a fresh PostgreSQL database."""
    if engine == "sqlite":
        from bot.storage.sqlite import SqliteDatabase

        return await SqliteDatabase.open(tmp_path / "sub" / "bot.sqlite3")
    from bot.storage.postgres import PostgresDatabase

    return await PostgresDatabase.open(request.getfixturevalue("pg_url"), pool_size=pool_size)


@pytest.fixture(params=ENGINES)
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """The bot's Database on each engine in turn: the same test runs on SQLite and on PostgreSQL."""
    database = await open_engine(request.param, request, tmp_path)
    try:
        yield database
    finally:
        await database.close()
