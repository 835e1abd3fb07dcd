"""Liveness for Docker's HEALTHCHECK: while the bot runs it records when Discord's gateway last
acknowledged a heartbeat; `python -m bot health` reads that and fails once it is too old. A file, not a
port: it needs no network set-up, and it goes stale by itself when the gateway or the event loop stalls."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from bot.config import StorageSettings, describe_error

log = logging.getLogger(__name__)


def heartbeat_path(database_path: Path) -> Path:
    """Next to the database, on the one volume the bot may write to."""
    return database_path.parent / "heartbeat"


class HeartbeatFile:
    def __init__(self, path: Path, last_ack: Callable[[], float | None], interval: float) -> None:
        self._path = path
        self._last_ack = last_ack
        self._interval = interval

    def clear(self) -> None:
        """Forget a previous run's heartbeat: until this run's gateway answers, the bot is not healthy."""
        self._path.unlink(missing_ok=True)

    async def run(self) -> None:
        while True:
            stamp = self._last_ack()
            if stamp is not None:
                try:
                    await asyncio.to_thread(self._write, stamp)
                except OSError:
                    log.warning("cannot write the health file %s", self._path, exc_info=True)
            await asyncio.sleep(self._interval)

    def _write(self, stamp: float) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        partial = self._path.with_name(self._path.name + ".partial")
        partial.write_text(f"{stamp:.3f}\n", encoding="ascii")
        os.replace(partial, self._path)


def check(path: Path, max_age: float, now: float | None = None) -> tuple[bool, str]:
    """(healthy, one line saying why)."""
    now = time.time() if now is None else now
    try:
        stamp = float(path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        return False, f"unhealthy: no gateway heartbeat recorded in {path} (is the bot running?)"
    except (OSError, ValueError) as exc:
        return False, f"unhealthy: cannot read {path} ({type(exc).__name__})"
    age = now - stamp
    if age > max_age:
        return False, f"unhealthy: Discord's gateway last answered a heartbeat {age:.0f} s ago (limit {max_age:.0f} s)"
    return True, f"healthy: Discord's gateway answered a heartbeat {max(age, 0):.0f} s ago"


def main() -> int:
    """`python -m bot health`: exit 0 while healthy, 1 when not (Docker's HEALTHCHECK reserves 2)."""
    try:
        settings = StorageSettings()
    except ValidationError as exc:
        print(f"unhealthy: {describe_error(exc)}")
        return 1
    healthy, line = check(heartbeat_path(settings.database_path), settings.health_max_age_seconds)
    print(line)
    return 0 if healthy else 1


if __name__ == "__main__":  # `python -m bot.ops.health`: the same check without loading the whole bot (Docker)
    raise SystemExit(main())
