"""DATABASE_URL as the operator meets it: `python -m bot migrate`, `check` and `run` as real processes say
which engine they use, never print the password, and a database that cannot be used is one line."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from tests.pg import PgServer

ROOT = Path(__file__).resolve().parents[3]
TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456789AB"


def bot(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": url,
        "DISCORD_TOKEN": TOKEN,
        "FAL_BACKEND": "simulated",
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )


def test_migrate_applies_on_postgresql_and_says_so_without_the_password(tmp_path, pg_server: PgServer, pg_empty_url):
    shown = pg_empty_url.replace(pg_server.password, "***")
    first = bot(tmp_path, pg_empty_url, "migrate")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(f"database PostgreSQL {shown}: applied ")
    assert "(0001, 0002, 0003, 0004, 0005, 0006" in first.stdout  # and any later ones
    again = bot(tmp_path, pg_empty_url, "migrate")
    assert again.stdout.strip() == f"database PostgreSQL {shown}: applied 0 migration(s) (none: already up to date)"
    for result in (first, again):
        assert pg_server.password not in result.stdout + result.stderr
    assert not (tmp_path / "data").exists()  # no SQLite file made on the side


def test_check_names_the_engine_and_finds_it_reachable_and_migrated(tmp_path, pg_server: PgServer, pg_url):
    result = bot(tmp_path, pg_url, "check")
    assert result.returncode == 0, result.stdout
    shown = pg_url.replace(pg_server.password, "***")
    assert f"✓ database PostgreSQL {shown}: reachable, migrated: schema at version " in result.stdout
    assert pg_server.password not in result.stdout + result.stderr


def test_an_unreachable_database_is_a_check_failure_and_a_one_line_start_up_failure(tmp_path):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"postgresql://sora:hunter2-secret@127.0.0.1:{closed.getsockname()[1]}/sora"
        check = bot(tmp_path, url, "check")
        run = bot(tmp_path, url, "migrate")
    assert check.returncode == 1
    port = url.rsplit(":", 1)[1].split("/")[0]
    assert f"✗ DATABASE_URL postgresql://sora:***@127.0.0.1:{port}/sora cannot be used (nothing listens" in check.stdout
    assert run.returncode == 2 and len(run.stderr.splitlines()) == 1 and run.stdout == ""
    assert run.stderr.startswith("configuration error: DATABASE_URL postgresql://sora:***@127.0.0.1:")
    for result in (check, run):
        assert "hunter2-secret" not in result.stdout + result.stderr and "Traceback" not in result.stderr
