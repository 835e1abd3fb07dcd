import asyncio
import sqlite3
from pathlib import Path

import pytest

from bot.storage.migrations import discover
from bot.storage.sqlite import SqliteDatabase


async def test_migrations_are_recorded_and_applied_once(tmp_path):
    database = await SqliteDatabase.connect(tmp_path / "m.sqlite3")
    first = await database.migrate()
    second = await database.migrate()
    async with database.reading() as session:
        versions = [r["version"] for r in await session.fetch_all("SELECT version FROM schema_migrations")]
        mode = await session.fetch_value("PRAGMA journal_mode")
        fks = await session.fetch_value("PRAGMA foreign_keys")
    await database.close()
    assert first == [v for v, _ in discover()] and second == []
    assert versions == first
    assert mode == "wal" and fks == 1


async def test_open_migrates_and_says_what_it_applied(tmp_path):
    database = await SqliteDatabase.open(tmp_path / "sub" / "o.sqlite3")
    await database.close()
    again = await SqliteDatabase.open(tmp_path / "sub" / "o.sqlite3")
    await again.close()
    assert database.applied == [v for v, _ in discover()] and again.applied == []


async def test_a_failing_migration_leaves_nothing_behind(tmp_path):
    folder = tmp_path / "migs"
    folder.mkdir()
    (folder / "0001_ok.sql").write_text("CREATE TABLE a (x INTEGER);")
    (folder / "0002_bad.sql").write_text("CREATE TABLE b (x INTEGER); INSERT INTO nowhere VALUES (1);")
    database = await SqliteDatabase.connect(tmp_path / "f.sqlite3")
    with pytest.raises(sqlite3.OperationalError):
        await database.migrate(folder)
    async with database.reading() as session:
        rows = await session.fetch_all("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")
    await database.close()
    tables = [r["name"] for r in rows]
    assert "a" in tables and "b" not in tables


async def test_a_session_returns_dicts_rowcounts_and_values(tmp_path):
    database = await SqliteDatabase.open(tmp_path / "s.sqlite3")
    try:
        async with database.transaction() as session:
            await session.lock("quota:1")  # nothing to do in SQLite, but callable
            added = await session.execute(
                "INSERT INTO blocklist (guild_id, term, added_by, added_at) VALUES (?,?,?,?) ON CONFLICT DO NOTHING",
                1,
                "dragon",
                9,
                0.0,
            )
            again = await session.execute(
                "INSERT INTO blocklist (guild_id, term, added_by, added_at) VALUES (?,?,?,?) ON CONFLICT DO NOTHING",
                1,
                "dragon",
                9,
                0.0,
            )
        async with database.reading() as session:
            one = await session.fetch_one("SELECT guild_id, term FROM blocklist WHERE term = ?", "dragon")
            none = await session.fetch_one("SELECT term FROM blocklist WHERE term = ?", "elf")
            count = await session.fetch_value("SELECT COUNT(*) FROM blocklist")
            missing = await session.fetch_value("SELECT term FROM blocklist WHERE term = ?", "elf")
    finally:
        await database.close()
    assert (added, again) == (1, 0)
    assert one == {"guild_id": 1, "term": "dragon"} and none is None
    assert count == 1 and missing is None


async def test_a_transaction_that_raises_is_rolled_back(tmp_path):
    database = await SqliteDatabase.open(tmp_path / "r.sqlite3")
    try:
        with pytest.raises(RuntimeError):
            async with database.transaction() as session:
                await session.execute("DELETE FROM schema_migrations")
                raise RuntimeError("no")
        async with database.reading() as session:
            left = await session.fetch_value("SELECT COUNT(*) FROM schema_migrations")
    finally:
        await database.close()
    assert left == len(discover())


async def test_a_read_never_sees_another_coroutine_s_uncommitted_transaction(tmp_path):
    """The defect of one shared connection: a read (a /usage, a job's progress) ran on the connection
    that held another coroutine's open transaction, and saw what that transaction had not committed."""
    database = await SqliteDatabase.open(tmp_path / "i.sqlite3")
    written = asyncio.Event()
    go_on = asyncio.Event()

    async def writer() -> None:
        async with database.transaction() as session:
            await session.execute(
                "INSERT INTO blocklist (guild_id, term, added_by, added_at) VALUES (1, 'dragon', 9, 0)"
            )
            written.set()
            await go_on.wait()  # the transaction stays open meanwhile

    async def blocked() -> int:
        async with database.reading() as session:
            return int(await session.fetch_value("SELECT COUNT(*) FROM blocklist"))

    try:
        task = asyncio.create_task(writer())
        await written.wait()
        during = await asyncio.wait_for(blocked(), timeout=5)  # never waits for the writer
        go_on.set()
        await task
        after = await blocked()
    finally:
        await database.close()
    assert during == 0 and after == 1


async def test_transactions_of_two_coroutines_take_turns(tmp_path):
    database = await SqliteDatabase.open(tmp_path / "t.sqlite3")
    order: list[str] = []

    async def one(name: str) -> None:
        async with database.transaction() as session:
            order.append(f"{name} begins")
            await asyncio.sleep(0.05)
            await session.execute(
                "INSERT INTO blocklist (guild_id, term, added_by, added_at) VALUES (1, ?, 9, 0)", name
            )
            order.append(f"{name} ends")

    try:
        await asyncio.gather(one("a"), one("b"))
    finally:
        await database.close()
    assert order == ["a begins", "a ends", "b begins", "b ends"]


async def test_an_in_memory_database_reads_on_its_one_connection():
    database = await SqliteDatabase.open(Path(":memory:"))
    try:
        async with database.reading() as session:
            count = await session.fetch_value("SELECT COUNT(*) FROM schema_migrations")
    finally:
        await database.close()
    assert database.reader is None and count == len(discover())
