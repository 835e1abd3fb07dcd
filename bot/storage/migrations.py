"""Finding the numbered migration files (NNNN_name.sql) of an engine's folder: migrations/ for SQLite,
migrations/postgresql/ for PostgreSQL. Each engine applies them itself (bot/storage/sqlite.py)."""

from __future__ import annotations

import re
from pathlib import Path

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"  # bot/storage/migrations.py -> the repository
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def discover(directory: Path = MIGRATIONS_DIR) -> list[tuple[int, Path]]:
    """(version, file) of every migration in the folder, in order; two files with one number are refused."""
    found = []
    for file in sorted(directory.iterdir()):
        match = _NAME.match(file.name)
        if match:
            found.append((int(match.group(1)), file))
    versions = [v for v, _ in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a number in {directory}")
    return found


def split(script: str) -> list[str]:
    """Split a migration file into statements (our files hold no semicolons inside literals)."""
    without_comments = "\n".join(line.split("--", 1)[0] for line in script.splitlines())
    return [s.strip() for s in without_comments.split(";") if s.strip()]
