"""An aiosqlite connection that dies at a chosen SQL statement, as a process does under kill -9.

``CrashingConnection`` wraps a real connection and passes every call through, counting ``execute``
calls. Armed with ``arm(n)``, the n-th statement from then on (across operations), and every later one
(the store's own ``ROLLBACK`` included), is not sent to SQLite: awaiting it raises ``Crash``. Armed with
``arm(n, after=True)``, the n-th statement is run, and the process dies as it returns (a ``COMMIT`` that
went through, its caller never told). The caller then closes the real connection, which drops the open
transaction as a dead process's would (nothing of it was committed), and reopens the file.

``committed`` says whether a ``COMMIT`` went through since the last ``mark()`` (call it as an operation
starts): a crash after it leaves the write on disk, one before it leaves nothing.

``Crash`` is a BaseException so that no ``except Exception`` in the code under test can swallow it.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import aiosqlite


class Crash(BaseException):
    """The process died at this statement."""


class _Dead:
    """What ``execute`` returns once the process is dead: fails when awaited or entered."""

    def __await__(self) -> Generator[Any, None, Any]:
        raise Crash
        yield  # pragma: no cover - makes this a generator

    async def __aenter__(self) -> Any:
        raise Crash

    async def __aexit__(self, *exc: object) -> None:  # pragma: no cover - never entered
        return None


class _DiesAfter:
    """The statement runs, then the process dies before its caller hears of it."""

    def __init__(self, result: Any) -> None:
        self._result = result

    def __await__(self) -> Generator[Any, None, Any]:
        yield from self._result.__await__()
        raise Crash

    async def __aenter__(self) -> Any:
        async with self._result:
            pass
        raise Crash

    async def __aexit__(self, *exc: object) -> None:  # pragma: no cover - never entered
        return None


class CrashingConnection:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.real = conn
        self._crash_at: int | None = None
        self._after = False
        self._count = 0
        self.dead = False
        self.died_at: str | None = None  # the statement that was not run
        self.committed = False

    def arm(self, statement: int | None, *, after: bool = False) -> None:
        """Die at the `statement`-th execute from now (1 = the next one), before it runs or (after) once it
        has run; None = do not die."""
        self._crash_at = statement
        self._after = after
        self._count = 0

    def mark(self) -> None:
        """An operation starts: `committed` now says whether it committed."""
        self.committed = False

    def execute(self, sql: str, parameters: Any = None) -> Any:
        self._count += 1
        if self.dead or (self._crash_at is not None and self._count >= self._crash_at):
            if self.dead or not self._after:
                if not self.dead:
                    self.dead = True
                    self.died_at = sql
                return _Dead()
            self.dead = True
            self.died_at = sql
            if sql.strip().upper() == "COMMIT":
                self.committed = True
            return _DiesAfter(self.real.execute(sql) if parameters is None else self.real.execute(sql, parameters))
        if sql.strip().upper() == "COMMIT":
            self.committed = True  # the caller awaits it before its next statement
        if parameters is None:
            return self.real.execute(sql)
        return self.real.execute(sql, parameters)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)
