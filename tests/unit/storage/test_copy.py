"""`python -m bot copy-db`: a SQLite database with real history, made through the stores, copied into
PostgreSQL (a real server, tests/pg.py): every row equal, the ledger's sums equal, the id counters moved on,
a second copy refused; and the command line end to end, exit codes and all, never showing the password."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.domain import sora
from bot.domain.models import JobState, Video, VideoSpec
from bot.domain.quota import Limits, Period, to_micros
from bot.domain.sora import PriceTable
from bot.jobs.config import RunnerConfig
from bot.jobs.runner import JobRunner, Origin
from bot.ops.quota import QuotaService
from bot.storage import spend_alerts
from bot.storage.characters import CharacterStore
from bot.storage.command_registry import CommandRegistry
from bot.storage.copy import TABLES, CopyRefused, copy_database
from bot.storage.database import Database
from bot.storage.jobs import JobStore
from bot.storage.postgres import PostgresDatabase
from bot.storage.settings import SettingsStore
from bot.storage.sqlite import SqliteDatabase
from bot.storage.videos import VideoStore
from tests.pg import PgServer

ROOT = Path(__file__).resolve().parents[3]
RULES = Limits(
    member_limit_micros=to_micros(10.00),
    period=Period.WEEKLY,
    budget_micros=None,
    max_jobs_per_member=100,
    max_jobs_per_guild=100,
)
# Each table's primary key, to compare the rows in the same order on both sides.
ORDER = {
    "jobs": "id",
    "videos": "video_id",
    "guild_quotas": "guild_id",
    "member_quotas": "guild_id, user_id",
    "ledger": "id",
    "quota_audit": "id",
    "characters": "id",
    "guild_settings": "guild_id",
    "blocklist": "guild_id, term",
    "settings_audit": "id",
    "registered_commands": "scope",
    "spend_alerts": "id",
}


class Clock:
    """Times with fractions of a second, as time.time() gives them: floats must arrive exactly."""

    def __init__(self) -> None:
        self.now = 1_764_072_000.123456

    def __call__(self) -> float:
        self.now += 1.000_001_7
        return self.now


async def make_history(database: Database) -> None:
    """Jobs in every kind of ending, their videos and ledger rows, quotas, settings, characters, commands."""
    clock = Clock()
    store, videos = JobStore(database, clock=clock), VideoStore(database)
    runner = JobRunner(store, videos, None, None, None, PriceTable(), RunnerConfig(quota_defaults=RULES), clock=clock)  # type: ignore[arg-type]  # accepting only
    alice, bob = Origin(guild_id=1, channel_id=2, user_id=3), Origin(guild_id=5, channel_id=6, user_id=4)

    delivered = await runner.accept(sora.text_to_video("a lighthouse", duration=8), alice)
    delivered = await store.update_job(delivered.id, JobState.QUEUED, request_id="req-delivered", submitted_at=clock())
    video = Video.of(delivered, "video_lighthouse", 901, clock())
    await store.mark_delivered(delivered, video, final_text="Done: the lighthouse")
    await store.update_job(delivered.id, final_shown_at=clock())
    remix = VideoSpec(kind="remix", prompt="at night", model="sora-2", duration=8, aspect_ratio="16:9",
                      resolution="720p", parent_video_id="video_lighthouse")  # fmt: skip
    arguments = {"video_id": "video_lighthouse", "prompt": "at night"}
    remixed = await store.create_job(
        remix, guild_id=1, channel_id=2, user_id=3, endpoint="fal-ai/sora-2/remix", arguments=arguments, cost_usd=0.8
    )
    await store.mark_delivered(remixed, Video.of(remixed, "video_night", 902, clock()))
    failed = await runner.accept(sora.text_to_video("a storm", duration=4), alice)
    await store.update_job(failed.id, JobState.FAILED, error="fal refused this request: policy", final_text="Failed")
    cancelled = await runner.accept(sora.text_to_video("a fox", duration=12), bob)
    await store.update_job(cancelled.id, JobState.CANCELLED)
    running = await runner.accept(sora.text_to_video("a river", duration=4), bob)
    await store.update_job(running.id, JobState.RUNNING, request_id="req-running", progress_message_id=77)

    quotas = QuotaService(database, videos, RULES, clock=clock)
    await quotas.set_member_limit(1, actor_id=7, user_id=3, usd=5.5)
    await quotas.set_member_limit(5, actor_id=7, user_id=4, usd=None)
    await quotas.set_budget(1, actor_id=7, usd=20.0)
    await quotas.set_default(5, actor_id=7, usd=2.5, period=Period.MONTHLY)
    await quotas.reset_member(1, actor_id=7, user_id=3)

    settings = SettingsStore(database, clock=clock)
    await settings.change(1, 9, "channels_add", allowed_channels=(2, 4))
    await settings.change(1, 9, "remixable", remixable=False)
    await settings.block(1, 9, "Dragón")
    await settings.block(1, 9, "castle")
    await settings.unblock(1, 9, "castle")

    characters = CharacterStore(database)
    await characters.add(1, "Ada", "char_ada", 3, clock())
    await characters.add(5, "Bo", "char_bo", 4, clock())
    registry = CommandRegistry(database, clock=clock)
    await registry.record("global", "a" * 64)
    await registry.record("123456789012345678", "b" * 64)
    await settings.change(1, 9, "alerts", alerts_channel_id=2)
    async with database.transaction() as session:  # 50 % and 80 % crossed at once: one to post, one covered
        period = (dt.datetime(2025, 11, 24, tzinfo=dt.UTC), dt.datetime(2025, 12, 1, tzinfo=dt.UTC))
        await spend_alerts.record(session, guild_id=1, period=period, thresholds=(50, 80), spent_micros=16_000_000,
                                  budget_micros=20_000_000, refused=False, now=clock())  # fmt: skip


async def everything(database: Database) -> dict[str, list[dict[str, tuple[type, Any]]]]:
    """Every row of every table, each value with its type (a float must stay a float, and exact)."""
    found = {}
    async with database.reading() as session:
        for table in TABLES:
            rows = await session.fetch_all(f"SELECT * FROM {table} ORDER BY {ORDER[table]}")
            found[table] = [{k: (type(v), v) for k, v in row.items()} for row in rows]
    return found


async def ledger_sums(database: Database) -> dict[str, int]:
    async with database.reading() as session:
        rows = await session.fetch_all("SELECT kind, SUM(amount_micros) AS total FROM ledger GROUP BY kind")
    return {r["kind"]: int(r["total"]) for r in rows}


@pytest.fixture
async def source(tmp_path):
    database = await SqliteDatabase.open(tmp_path / "data" / "bot.sqlite3")
    await make_history(database)
    yield database
    await database.close()


async def test_every_row_arrives_equal_and_the_counters_move_on(source, pg_url):
    target = await PostgresDatabase.open(pg_url, pool_size=2)
    try:
        report = await copy_database(source, target)
        rows = await everything(source)
        assert all(rows[table] for table in TABLES), [t for t in TABLES if not rows[t]]  # real history everywhere
        assert await everything(target) == rows
        sums = await ledger_sums(source)
        assert set(sums) == {"reserve", "commit", "refund", "reset"}
        assert await ledger_sums(target) == sums == report.ledger_micros
        assert report.rows == {table: len(rows[table]) for table in TABLES}
        assert report.summary().startswith(f"copied {sum(report.rows.values())} rows in {len(TABLES)} tables")

        # The identity counters continue after the copied ids: the next job, ledger row, audit row and
        # character on PostgreSQL never collide with one that came over.
        copied_max = max(row["id"][1] for row in rows["jobs"])
        spec = VideoSpec(kind="text_to_video", prompt="p", model="sora-2", duration=4, aspect_ratio="16:9",
                         resolution="720p")  # fmt: skip
        job = await JobStore(target).create_job(spec, guild_id=1, channel_id=2, user_id=3, endpoint="e",
                                                arguments={}, cost_usd=0.4)  # fmt: skip
        assert job.id == copied_max + 1
        character = await CharacterStore(target).add(1, "Cy", "char_cy", 3, 1.0)
        assert character.id == max(row["id"][1] for row in rows["characters"]) + 1
        await QuotaService(target, VideoStore(target), RULES).reset_member(1, actor_id=7, user_id=3)
        await SettingsStore(target).block(1, 9, "ogre")

        # A second copy into the now non-empty target is refused and writes nothing.
        before = await everything(target)
        with pytest.raises(CopyRefused, match="not empty"):
            await copy_database(source, target)
        assert await everything(target) == before
    finally:
        await target.close()


async def test_a_copy_between_databases_at_different_migrations_is_refused(source, pg_empty_url):
    target = await PostgresDatabase.open(pg_empty_url, migrate=False)
    try:
        async with target.transaction() as session:
            await session.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL)")
            await session.execute("INSERT INTO schema_migrations VALUES (1, '0001_jobs_and_videos.sql')")
        with pytest.raises(CopyRefused, match="different migrations"):
            await copy_database(source, target)
    finally:
        await target.close()


async def test_a_row_postgresql_will_not_take_stops_the_copy_and_nothing_is_kept(source, pg_url):
    async with source.transaction() as session:  # SQLite keeps a text in an INTEGER column; BIGINT will not
        await session.execute("UPDATE characters SET created_by = 'someone' WHERE name = 'Bo'")
    target = await PostgresDatabase.open(pg_url, pool_size=2)
    try:
        with pytest.raises(CopyRefused, match=r"a row of characters \(\{'id': 2, .*nothing was kept"):
            await copy_database(source, target)
        assert all(rows == [] for rows in (await everything(target)).values())
    finally:
        await target.close()


# -- the command line ------------------------------------------------------------------------------------


def copy_db(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT),
        "DATABASE_PATH": str(tmp_path / "data" / "bot.sqlite3"),
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", "copy-db", *args], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


def one_line(result: subprocess.CompletedProcess[str], password: str) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == "" and len(result.stderr.splitlines()) == 1, result.stderr
    assert password not in result.stderr and "Traceback" not in result.stderr
    return result.stderr.strip()


async def test_the_command_copies_into_an_empty_database_then_refuses_a_second_time(
    source, tmp_path, pg_server: PgServer, pg_empty_url
):
    rows = await everything(source)
    result = copy_db(tmp_path, pg_empty_url)  # not migrated yet: copy-db migrates it first
    assert result.returncode == 0, result.stderr
    assert pg_server.password not in result.stdout + result.stderr
    line = result.stdout.strip()
    assert len(result.stdout.splitlines()) == 1
    assert line.startswith(f"copied {sum(len(r) for r in rows.values())} rows in {len(TABLES)} tables; ledger in USD:")
    assert line.endswith(f"from SQLite {tmp_path / 'data' / 'bot.sqlite3'} to PostgreSQL "
                         f"{pg_empty_url.replace(pg_server.password, '***')}")  # fmt: skip
    target = await PostgresDatabase.open(pg_empty_url, pool_size=1)
    try:
        assert await everything(target) == rows
    finally:
        await target.close()

    again = one_line(copy_db(tmp_path, pg_empty_url), pg_server.password)
    assert again.startswith("configuration error: copy-db into postgresql://postgres:***@") and "not empty" in again


async def test_an_unreachable_a_refused_or_a_foreign_target_is_one_line(source, tmp_path, pg_server: PgServer):
    with socketless_port() as port:
        closed = f"postgresql://sora:hunter2-secret@127.0.0.1:{port}/sora"
        assert "nothing listens there" in one_line(copy_db(tmp_path, closed), "hunter2-secret")
    wrong = pg_server.url("postgres", password="wrong-password-1234")
    assert "refused the password" in one_line(copy_db(tmp_path, wrong), "wrong-password-1234")
    foreign = one_line(copy_db(tmp_path, "mysql://bot:hunter2-secret@db/sora"), "hunter2-secret")
    assert foreign.startswith("configuration error: copy-db needs the target as a PostgreSQL URL")
    assert "mysql://…" in foreign


def test_without_a_sqlite_file_there_is_nothing_to_copy(tmp_path, pg_server: PgServer):
    line = one_line(copy_db(tmp_path, pg_server.url("postgres")), pg_server.password)
    assert "does not exist: nothing to copy" in line
    assert not (tmp_path / "data" / "bot.sqlite3").exists()  # not created by looking


class socketless_port:
    """A port nothing listens on (bound, never listening, for the test's duration)."""

    def __enter__(self) -> int:
        import socket

        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        return int(self._sock.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        self._sock.close()
