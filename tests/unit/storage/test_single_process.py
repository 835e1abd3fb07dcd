"""One bot process per SQLite file: the OS lock beside the database (bot/storage/single_process.py), held
by real processes; `migrate` and `check` still work beside a running bot."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.config import ConfigurationError
from bot.storage import single_process
from bot.storage.single_process import hold, lock_path

ROOT = Path(__file__).resolve().parents[3]
TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456789AB"


def refusal(path: Path, pid: int | str) -> str:
    return (
        f"another bot process is already using DATABASE_PATH {path} (pid {pid}); SQLite serves one process: "
        "stop it, or move to PostgreSQL (see docs/postgresql.md)"
    )


def holder(path: Path) -> subprocess.Popen[str]:
    """Another process that takes the lock, says so, and keeps it until killed."""
    code = (
        "import sys, time; from pathlib import Path; from bot.storage.single_process import hold; "
        f"lock = hold(Path({str(path)!r})); print('held', flush=True); time.sleep(60)"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**os.environ}
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "held"
    return process


def test_a_second_hold_is_refused_with_the_holders_pid_until_released(tmp_path):
    database = tmp_path / "data" / "bot.sqlite3"
    first = hold(database)
    assert first is not None and first.path == lock_path(database) == tmp_path / "data" / "bot.sqlite3.lock"
    assert first.path.read_text() == f"{os.getpid()}\n"
    with pytest.raises(ConfigurationError) as caught:
        hold(database)  # another open file, even in this process: flock refuses it
    assert str(caught.value) == refusal(database, os.getpid())
    first.release()
    first.release()  # twice is harmless
    again = hold(database)
    assert again is not None
    again.release()
    assert lock_path(database).exists()  # left in place: removing it could let two processes lock two files


def test_another_process_holds_it_until_it_dies_even_by_kill_9(tmp_path):
    database = tmp_path / "bot.sqlite3"
    process = holder(database)
    try:
        with pytest.raises(ConfigurationError) as caught:
            hold(database)
        assert str(caught.value) == refusal(database, process.pid)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    lock = hold(database)  # the kernel dropped it with the process: nothing stale to clean up
    assert lock is not None and lock.path.read_text() == f"{os.getpid()}\n"
    lock.release()


def test_a_lock_without_a_pid_yet_still_refuses(tmp_path, monkeypatch):
    database = tmp_path / "bot.sqlite3"
    first = hold(database)
    assert first is not None
    lock_path(database).write_text("")  # the holder between taking the lock and writing its pid
    with pytest.raises(ConfigurationError) as caught:
        hold(database)
    assert str(caught.value) == refusal(database, "unknown")
    first.release()


def test_memory_databases_and_postgresql_take_no_lock(tmp_path):
    assert hold(Path(":memory:")) is None

    class Pg:
        database_engine = "postgresql"
        database_path = tmp_path / "bot.sqlite3"

    assert single_process.hold_for_engine(Pg()) is None  # type: ignore[arg-type]
    assert not lock_path(Pg.database_path).exists()


def test_an_unusable_folder_is_reported_as_database_path(tmp_path):
    (tmp_path / "data").write_text("a file where the folder should be")
    with pytest.raises(ConfigurationError) as caught:
        hold(tmp_path / "data" / "bot.sqlite3")
    assert str(caught.value).startswith(f"DATABASE_PATH {tmp_path}/data/bot.sqlite3 cannot be used (cannot create")


@pytest.mark.parametrize("command", ["migrate", "check"])
def test_migrate_and_check_work_beside_a_running_bot(tmp_path, command):
    """Short-lived and taking turns through SQLite's own locking, they neither take nor wait for the lock."""
    database = tmp_path / "data" / "bot.sqlite3"
    process = holder(database)
    try:
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "PYTHONPATH": str(ROOT),
            "DISCORD_TOKEN": TOKEN,
            "FAL_BACKEND": "simulated",
            "DATABASE_PATH": str(database),
        }
        began = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "bot", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )
        assert time.monotonic() - began < 30
        out = result.stdout + result.stderr
        assert "another bot process" not in out and "Traceback" not in out
        if command == "migrate":
            assert result.returncode == 0 and f"database SQLite {database}: applied " in result.stdout
        else:
            assert f"✓ database SQLite {database}: reachable, migrated: schema at version" in result.stdout
        assert process.poll() is None  # and the bot's lock is untouched
        with pytest.raises(ConfigurationError):
            hold(database)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)
