"""One bot process per SQLite file. SQLite serves one writing process well; two bots on one file would
each resume, poll and deliver the same jobs. The running bot holds an OS lock (fcntl.flock, exclusive) on
`<database file>.lock` beside the database for as long as it runs, with its pid written in the file for
the message a second bot gets. The kernel drops the lock when the process ends, however it ends (kill -9
too): nothing stale to clean up, so the file itself is never removed (removing it could let a second bot
lock a new file while the first still holds the old one).

Only `python -m bot` (run) takes it. `migrate`, `check` and `sync` are short-lived: SQLite's own locking
(WAL, BEGIN IMMEDIATE, the busy timeout) already makes their few statements take turns with a running
bot's, so they work beside it and never take or wait for this lock. PostgreSQL needs none: several
processes on one PostgreSQL database is what it is for."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from bot.config import ConfigurationError, StorageSettings
from bot.storage.sqlite import unusable


def lock_path(database_path: Path) -> Path:
    return database_path.with_name(database_path.name + ".lock")


class ProcessLock:
    """The held lock: release() (or the process's end) lets the next bot start."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the only descriptor of the open file releases the flock


def hold(database_path: Path) -> ProcessLock | None:
    """Lock DATABASE_PATH for this process, or raise the ConfigurationError that names the process that
    has it. None for ":memory:" (a database no other process can open)."""
    if str(database_path) == ":memory:":
        return None
    path = lock_path(database_path)
    try:
        database_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise unusable(
            database_path, f"cannot create the folder {database_path.parent}: {exc.strerror or exc}"
        ) from None
    try:
        # Not inherited by child processes (ffmpeg): os.open's descriptors are close-on-exec.
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise unusable(database_path, f"cannot create the lock file {path}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read_pid(fd)
        os.close(fd)
        raise ConfigurationError(
            f"another bot process is already using DATABASE_PATH {database_path} "
            f"({f'pid {holder}' if holder else 'pid unknown'}); SQLite serves one process: stop it, or move "
            "to PostgreSQL (see docs/postgresql.md)"
        ) from None
    except OSError as exc:  # a file system without flock support
        os.close(fd)
        raise unusable(database_path, f"cannot lock {path}: {exc.strerror or exc}") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    return ProcessLock(path, fd)


def _read_pid(fd: int) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(os.pread(fd, 32, 0).decode("ascii").strip())
    return None


def hold_for_engine(settings: StorageSettings) -> ProcessLock | None:
    """hold() DATABASE_PATH when the settings select SQLite; None for PostgreSQL."""
    return hold(settings.database_path) if settings.database_engine == "sqlite" else None
