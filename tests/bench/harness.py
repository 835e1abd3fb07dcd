"""The benchmark's plumbing: the two fakes on loopback, the bot as a child process, and what is read from
the child (/proc/<pid>/status for memory, its lag file for event-loop lag) and from the fakes' logs."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import inspect
import math
import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.bench.limits import DiscordLimiter
from tests.fakes.discord import FakeDiscord
from tests.fakes.fal import FakeFal
from tests.pg import PgServer, _free_port, find_bindir

ROOT = Path(__file__).resolve().parents[2]
OPENAPI = ROOT / "tests" / "fakes" / "discord" / "discord-openapi.json"
BOTPROC = ROOT / "tests" / "bench" / "botproc.py"
FAL_KEY = "bench-fal-key:0123456789abcdef"  # shaped as fal shows keys (KEY_ID:KEY_SECRET)
# The bot runs with its default settings, except the quota caps a busy server's admins would raise: one
# server here runs up to 1,000 videos at once (each member asks for one, well inside the member defaults).
BOT_SETTINGS = {"QUOTA_MAX_JOBS_PER_GUILD": "5000"}
# Set by --profile: every bot process is sampled by py-spy (pip install py-spy), output in the run folder.
PROFILE = False
PROFILE_SECONDS = 0  # --profile-seconds: only the first N seconds of each bot process (0: its whole life)
MIB = 2**20
# How the bot follows its fal jobs (FAL_UPDATES): polling, fal's status stream, or fal's webhook.
UPDATE_MODES = ("poll", "stream", "webhook")
# The fake fal's status stream in the bench: a keep-alive comment every second (the tests' fake: 0.2 s) and
# at least one look at the job a second besides its changes (the stream wakes at each change of its job).
STREAM_PING_SECONDS = 1.0
STREAM_TICK_SECONDS = 1.0


# -- statistics ------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


# -- the fakes -------------------------------------------------------------------------------------------


@dataclass
class Fakes:
    discord: FakeDiscord
    fal: FakeFal
    limiter: DiscordLimiter

    async def stop(self) -> None:
        await self.discord.stop()
        await self.fal.stop()


async def start_fakes(run_dir: Path) -> Fakes:
    discord = FakeDiscord(openapi_path=OPENAPI)
    limiter = DiscordLimiter()
    discord._limiter = limiter  # the dispatcher takes its limiter at start()
    # A busy bot may take a moment to answer; the fake still enforces Discord's 3 s for the first callback.
    await discord.start()
    fal = FakeFal(port=0, tmp_dir=run_dir / "fakefal")
    fal.expected_key = FAL_KEY
    fal.stream_ping_seconds = STREAM_PING_SECONDS
    fal.stream_tick_seconds = STREAM_TICK_SECONDS
    # Each job's webhook waits for its completion; it wakes at that moment, or once a second for a cancel
    # (the tests' 20 ms: 200 jobs would wake the fakes' process 10,000 times a second beside the bot).
    fal.webhook_tick_seconds = STREAM_TICK_SECONDS
    await fal.start()
    return Fakes(discord, fal, limiter)


# -- the bot process -------------------------------------------------------------------------------------


def updates_env(mode: str | None, fakes: Fakes) -> dict[str, str]:
    """The bot's settings for one updates mode (None: the bot's default, nothing set). The webhook mode
    listens on a free port of 127.0.0.1 and checks fal's signatures against the fake's key set."""
    if mode is None:
        return {}
    found = {"FAL_UPDATES": mode}
    if mode == "webhook":
        port = _free_port()
        found |= {
            "FAL_WEBHOOK_URL": f"http://127.0.0.1:{port}/fal/webhook",
            "WEBHOOK_HOST": "127.0.0.1",
            "WEBHOOK_PORT": str(port),
            "FAL_JWKS_URL": f"{fakes.fal.base_url}/.well-known/jwks.json",
        }
    return found


class BotExited(RuntimeError):
    """The bot process ended before it was ready (a setting it refuses, say): the last line of its log."""


def read_status(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM (bytes) of a live process; {} once it is gone."""
    found: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    found[key] = int(rest.split()[0]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        return {}
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class BotProcess:
    fakes: Fakes
    run_dir: Path
    name: str
    env: dict[str, str] = field(default_factory=dict)
    # PostgreSQL when set (DATABASE_URL); the SQLite file of `database` otherwise.
    database_url: str | None = None
    # The folder of DATABASE_PATH (the SQLite file, or on PostgreSQL the process's health and work files):
    # processes on one PostgreSQL database each have their own, as docs/postgresql.md asks.
    data: str = "data"
    process: subprocess.Popen[bytes] | None = None
    profiler: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0

    @property
    def database(self) -> Path:
        return self.run_dir / self.data / "bot.sqlite3"

    @property
    def lag_file(self) -> Path:
        return self.run_dir / f"{self.name}.lag"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.run_dir),
            "PYTHONPATH": str(ROOT),
            "DISCORD_TOKEN": self.fakes.discord.bot_token,
            "FAL_KEY": FAL_KEY,
            "DATABASE_PATH": str(self.database),
            "FAL_QUEUE_RUN_HOST": self.fakes.fal.host,
            "SSL_CERT_FILE": str(self.fakes.fal.ca_path),
            "BENCH_DISCORD_API": self.fakes.discord.api_base,
            "BENCH_DISCORD_GATEWAY": self.fakes.discord.gateway_url,
            "BENCH_LAG_FILE": str(self.lag_file),
            "BENCH_STALL_FILE": str(self.run_dir / f"{self.name}.stalls"),
            "LOG_LEVEL": "INFO",
            **({"DATABASE_URL": self.database_url} if self.database_url else {}),
            **BOT_SETTINGS,
            **self.env,
        }
        log = open(self.run_dir / f"{self.name}.log", "ab")  # noqa: SIM115 - the child keeps it
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, str(BOTPROC)], cwd=self.run_dir, env=environment, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        if PROFILE:
            self.profile()

    def profile(self) -> None:
        """Sample the bot with py-spy (folded stacks per thread, idle time left out) until it exits."""
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        out = self.run_dir / f"{self.name}.folded"
        command = [py_spy, "record", "--pid", str(self.pid), "--rate", "200", "--threads", "--nonblocking"]
        command += ["--format", "raw", "--output", str(out)]
        if PROFILE_SECONDS:
            command += ["--duration", str(PROFILE_SECONDS)]
        log = open(self.run_dir / f"{self.name}.py-spy.log", "ab")  # noqa: SIM115 - the child keeps it
        self.profiler = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def status(self) -> dict[str, int]:
        return read_status(self.pid)

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def reset_peak(self) -> bool:
        """Reset VmHWM to the current RSS (Linux: write 5 to clear_refs)."""
        try:
            with open(f"/proc/{self.pid}/clear_refs", "w", encoding="ascii") as refs:
                refs.write("5")
        except OSError:
            return False
        return True

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill9(self) -> None:
        if self.alive():
            assert self.process is not None
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        if self.profiler is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.profiler.wait(30)  # py-spy writes its output once the bot is gone

    async def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (the bot stops cleanly), SIGKILL if it has not within `timeout`."""
        if not self.alive():
            return
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            await asyncio.to_thread(self.process.wait, timeout)
        self.kill9()

    async def wait_ready(self, timeout: float = 60.0, **kwargs: Any) -> Any:
        """The fake Discord's wait_ready, cut short (BotExited) should the process end meanwhile."""
        ready = asyncio.ensure_future(self.fakes.discord.wait_ready(timeout=timeout, **kwargs))
        try:
            while not ready.done():
                if not self.alive():
                    await asyncio.sleep(0.2)  # READY may have come just before a clean exit
                    if ready.done():
                        break
                    assert self.process is not None
                    log = (self.run_dir / f"{self.name}.log").read_text(encoding="utf-8", errors="replace")
                    last = next((line for line in reversed(log.splitlines()) if line.strip()), "")
                    raise BotExited(f"the bot exited ({self.process.returncode}) before READY: {last[:300]}")
                await asyncio.wait([ready], timeout=0.2)
            return ready.result()
        finally:
            ready.cancel()

    def lag_samples(self, start: float = 0.0, end: float = math.inf) -> list[float]:
        """Lag samples (ms) taken between start and end (monotonic seconds)."""
        if not self.lag_file.exists():
            return []
        found = []
        with self.lag_file.open(encoding="ascii") as lines:
            for line in lines:
                stamp, _, lag = line.partition(" ")
                try:
                    at, value = float(stamp), float(lag)
                except ValueError:
                    continue  # a line cut short by kill -9
                if start <= at <= end:
                    found.append(value)
        return found


class Sampler:
    """Samples the bot's VmRSS every `interval` seconds in the background; keeps the maximum per window."""

    def __init__(self, bot: BotProcess, interval: float = 0.05) -> None:
        self._bot = bot
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self.samples: list[tuple[float, int]] = []

    def __enter__(self) -> Sampler:
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        while True:
            rss = self._bot.status().get("VmRSS")
            if rss is not None:
                self.samples.append((time.monotonic(), rss))
            await asyncio.sleep(self._interval)

    def peak(self, start: float = 0.0, end: float = math.inf) -> int:
        return max((rss for at, rss in self.samples if start <= at <= end), default=0)


class LoopLag:
    """The same lag sampler as the bot's, for the benchmark's own loop (where both fakes run)."""

    def __init__(self, interval: float = 0.01) -> None:
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self.samples: list[tuple[float, float]] = []

    def __enter__(self) -> LoopLag:
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(self._interval)
            now = time.monotonic()
            self.samples.append((now, (now - before - self._interval) * 1000))

    def between(self, start: float, end: float) -> list[float]:
        return [lag for at, lag in self.samples if start <= at <= end]


# -- reading the bot's database --------------------------------------------------------------------------


def job_rows(database: Path) -> list[dict[str, Any]]:
    if not database.exists():
        return []
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT id, state, request_id, error FROM jobs ORDER BY id")]
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()


async def jobs_of(bot: BotProcess) -> list[dict[str, Any]]:
    """The jobs table as the bot left it, on either engine (read without blocking the fakes' loop)."""
    if bot.database_url is None:
        return await asyncio.to_thread(job_rows, bot.database)
    import asyncpg

    conn = await asyncpg.connect(bot.database_url, timeout=10)
    try:
        rows = await conn.fetch("SELECT id, state, request_id, error, lease_owner FROM jobs ORDER BY id")
    except asyncpg.UndefinedTableError:
        return []
    finally:
        await conn.close()
    return [dict(r) for r in rows]


# -- PostgreSQL ------------------------------------------------------------------------------------------


def start_postgres() -> PgServer:
    """A PostgreSQL server for the run, as tests/pg.py starts one for the tests (Debian's binaries, a
    temporary folder, a free port; as root, run as the postgres user). Stopped at exit at the latest."""
    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError("no PostgreSQL binaries (/usr/lib/postgresql/*/bin): install Debian's postgresql package")
    as_postgres = os.geteuid() == 0
    root = Path(tempfile.mkdtemp(prefix="sora-bench-pg-"))
    if as_postgres:
        shutil.chown(root, "postgres", "postgres")
    server = PgServer(bindir, root, _free_port(), secrets.token_hex(16), _as_postgres=as_postgres)
    atexit.register(server.stop)  # should the run die before its finally
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    return server


def stop_postgres(server: PgServer) -> None:
    server.stop()
    atexit.unregister(server.stop)


# -- waiting ---------------------------------------------------------------------------------------------


async def wait_until(
    check: Callable[[], Any], timeout: float, what: str, interval: float = 0.1, quiet: bool = False
) -> Any:
    """Poll check() until it returns something truthy (bounded by `timeout`); TimeoutError otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            if quiet:
                return value
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(interval)


async def stop_all(bots: Iterable[BotProcess], fakes: Fakes | None) -> None:
    for bot in bots:
        with contextlib.suppress(Exception):
            await bot.stop()
    if fakes is not None:
        with contextlib.suppress(Exception):
            await fakes.stop()
