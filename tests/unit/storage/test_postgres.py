"""The PostgreSQL engine (bot/storage/postgres.py) against a real server (tests/pg.py starts it)."""

from __future__ import annotations

import asyncio
import re

import pytest

from bot.config import ConfigurationError
from bot.storage import migrations as sqlite_migrations
from bot.storage.postgres import PG_MIGRATIONS_DIR, PostgresDatabase, lock_key, redact, rowcount, to_numbered
from bot.storage.sqlite import SqliteDatabase
from tests.pg import PgServer, _free_port

ALL = [v for v, _ in sqlite_migrations.discover(PG_MIGRATIONS_DIR)]
JOB = (
    "INSERT INTO jobs (kind, state, guild_id, channel_id, user_id, endpoint, arguments, prompt, model, duration, "
    "aspect_ratio, resolution, cost_usd, created_at, updated_at) "
    "VALUES ('text_to_video', 'pending', ?, 2, 3, 'e', '{}', 'p', 'sora-2', 4, '16:9', '720p', ?, ?, ?)"
)


@pytest.fixture
async def pg(pg_url):
    database = await PostgresDatabase.open(pg_url, pool_size=3)
    yield database
    await database.close()


# --- no server needed --------------------------------------------------------------------------------


def test_placeholders_are_numbered_in_order():
    assert to_numbered("SELECT * FROM t WHERE a = ? AND b IN (?, ?)") == (
        "SELECT * FROM t WHERE a = $1 AND b IN ($2, $3)"
    )
    assert to_numbered("UPDATE t SET x = ?") == "UPDATE t SET x = $1"
    assert to_numbered("SELECT 1") == "SELECT 1"
    # A literal or a quoted identifier keeps its question marks.
    assert to_numbered("SELECT '?', \"a?\", ? FROM t WHERE s = 'it''s ?' AND x = ?") == (
        "SELECT '?', \"a?\", $1 FROM t WHERE s = 'it''s ?' AND x = $2"
    )
    assert to_numbered("SELECT ? -- isn't it?\nFROM t WHERE a = ?") == "SELECT $1 -- isn't it?\nFROM t WHERE a = $2"


def test_status_strings_give_row_counts():
    assert rowcount("INSERT 0 1") == 1
    assert rowcount("UPDATE 3") == 3
    assert rowcount("DELETE 0") == 0
    assert rowcount("SELECT 7") == 7
    assert rowcount("CREATE TABLE") == 0


def test_lock_keys_are_stable_signed_64_bit_numbers():
    # Fixed: every process, every run and every Python version must lock the same number.
    assert lock_key("quota:1:3") == lock_key("quota:1:3")
    assert lock_key("quota:1:3") != lock_key("quota:1:4")
    assert lock_key("sora") == -5727229112671168041
    assert all(-(2**63) <= lock_key(k) < 2**63 for k in ("", "a", "é" * 100))


def test_redact_hides_the_password():
    assert redact("postgresql://bot:s3cret@db:5432/sora") == "postgresql://bot:***@db:5432/sora"
    assert redact("postgres://db/sora?user=bot&password=s3cret") == "postgres://db/sora?user=bot&password=***"
    assert redact("postgresql://db/sora") == "postgresql://db/sora"


# --- migrations --------------------------------------------------------------------------------------


async def test_migrations_are_recorded_and_a_second_run_applies_none(pg_empty_url):
    database = await PostgresDatabase.open(pg_empty_url, migrate=False)
    try:
        first = await database.migrate()
        second = await database.migrate()
        async with database.reading() as s:
            rows = await s.fetch_all("SELECT version, name, applied_at FROM schema_migrations ORDER BY version")
    finally:
        await database.close()
    assert first == ALL == list(range(1, 13)) and second == []
    assert [r["version"] for r in rows] == ALL
    assert [r["name"] for r in rows] == [f.name for _, f in sqlite_migrations.discover()]  # the SQLite files' names
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", r["applied_at"]) for r in rows)


async def test_two_processes_migrating_at_once_apply_each_migration_once(pg_empty_url):
    a = await PostgresDatabase.open(pg_empty_url, migrate=False)
    b = await PostgresDatabase.open(pg_empty_url, migrate=False)
    try:
        applied = await asyncio.gather(a.migrate(), b.migrate(), a.migrate())
        async with a.reading() as s:
            recorded = await s.fetch_value("SELECT COUNT(*) FROM schema_migrations")
    finally:
        await a.close()
        await b.close()
    assert sorted(v for run in applied for v in run) == ALL
    assert sorted(len(run) for run in applied) == [0, 0, len(ALL)]
    assert recorded == len(ALL)


async def test_a_failing_migration_leaves_nothing_of_itself(pg_empty_url, tmp_path):
    (tmp_path / "0001_ok.sql").write_text("CREATE TABLE a (x BIGINT);")
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE b (x BIGINT);\nINSERT INTO nowhere VALUES (1);")
    with pytest.raises(ConfigurationError, match="schema cannot be brought up to date") as caught:
        await PostgresDatabase.open(pg_empty_url, directory=tmp_path)
    assert "\n" not in str(caught.value)
    database = await PostgresDatabase.open(pg_empty_url, migrate=False)
    try:
        async with database.reading() as s:
            tables = await s.fetch_all("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
            versions = await s.fetch_all("SELECT version FROM schema_migrations")
    finally:
        await database.close()
    assert [t["tablename"] for t in tables] == ["a", "schema_migrations"]
    assert versions == [{"version": 1}]


# --- the schema cannot drift from SQLite's -----------------------------------------------------------

_COMPATIBLE = {"INTEGER": {"bigint", "integer"}, "REAL": {"double precision"}, "TEXT": {"text"}}


def _default(value: str | None) -> str | None:
    """'[]'::text -> '[]'; 4 -> 4: the literal, whatever the dialect's decoration."""
    return None if value is None else re.sub(r"::[a-z ]+$", "", value)


async def _sqlite_schema(tmp_path):
    database = await SqliteDatabase.open(tmp_path / "schema.sqlite3")
    conn = database.writer
    try:

        async def rows(sql):
            async with conn.execute(sql) as cur:
                return [tuple(r) for r in await cur.fetchall()]

        tables = [
            r[0] for r in await rows("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        ]
        columns, keys, foreign, indexes = {}, {}, set(), {}
        for table in tables:
            info = await rows(f"PRAGMA table_info({table})")  # cid, name, type, notnull, dflt_value, pk
            columns[table] = [(c[1], c[2], bool(c[3]) or c[5] > 0, c[4]) for c in info]
            keys[table] = [c[1] for c in sorted(info, key=lambda c: c[5]) if c[5] > 0]
            for fk in await rows(f"PRAGMA foreign_key_list({table})"):  # id, seq, table, from, to, ...
                foreign.add((table, fk[3], fk[2], fk[4]))
            for index in await rows(f"PRAGMA index_list({table})"):  # seq, name, unique, origin, partial
                if index[3] == "c":  # made by CREATE INDEX (not a primary key's or a UNIQUE column's)
                    indexes[index[1]] = (table, bool(index[2]), bool(index[4]))
        return columns, keys, foreign, indexes
    finally:
        await database.close()


async def _postgres_schema(pg):
    async with pg.reading() as s:
        cols = await s.fetch_all(
            "SELECT table_name, column_name, data_type, is_nullable, column_default, is_identity "
            "FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
        )
        pks = await s.fetch_all(
            "SELECT tc.table_name, kcu.column_name FROM information_schema.table_constraints tc "
            "JOIN information_schema.key_column_usage kcu ON kcu.constraint_name = tc.constraint_name "
            "AND kcu.table_schema = tc.table_schema "
            "WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = 'public' "
            "ORDER BY tc.table_name, kcu.ordinal_position"
        )
        fks = await s.fetch_all(
            "SELECT c.conrelid::regclass::text AS t, a.attname AS col, c.confrelid::regclass::text AS ref, "
            "r.attname AS ref_col FROM pg_constraint c "
            "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
            "JOIN pg_attribute r ON r.attrelid = c.confrelid AND r.attnum = c.confkey[1] WHERE c.contype = 'f'"
        )
        idx = await s.fetch_all(
            "SELECT t.relname AS t, i.relname AS name, x.indisunique AS uniq, x.indpred IS NOT NULL AS partial "
            "FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
            "JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = 'public' AND NOT x.indisprimary"
        )
    columns: dict[str, list] = {}
    for c in cols:
        columns.setdefault(c["table_name"], []).append(c)
    keys: dict[str, list] = {}
    for k in pks:
        keys.setdefault(k["table_name"], []).append(k["column_name"])
    foreign = {(f["t"], f["col"], f["ref"], f["ref_col"]) for f in fks}
    indexes = {i["name"]: (i["t"], i["uniq"], i["partial"]) for i in idx}
    return columns, keys, foreign, indexes


async def test_the_schema_is_sqlites_column_for_column(pg, tmp_path):
    lite_columns, lite_keys, lite_foreign, lite_indexes = await _sqlite_schema(tmp_path)
    pg_columns, pg_keys, pg_foreign, pg_indexes = await _postgres_schema(pg)

    assert sorted(pg_columns) == sorted(lite_columns)
    for table, columns in lite_columns.items():
        theirs = pg_columns[table]
        assert [c["column_name"] for c in theirs] == [c[0] for c in columns], table
        for (name, kind, not_null, default), col in zip(columns, theirs, strict=True):
            assert col["data_type"] in _COMPATIBLE[kind], (table, name, kind, col["data_type"])
            assert (col["is_nullable"] == "NO") == not_null, (table, name)
            if table == "schema_migrations" and name == "applied_at":
                continue  # CURRENT_TIMESTAMP's text, written by each dialect's own function
            if col["is_identity"] == "YES":
                assert default is None, (table, name)  # SQLite's AUTOINCREMENT has no default either
            else:
                assert _default(col["column_default"]) == default, (table, name)
    assert pg_keys == lite_keys
    assert pg_foreign == lite_foreign
    assert pg_indexes == lite_indexes


# --- sessions ----------------------------------------------------------------------------------------


async def test_execute_returns_the_rows_it_changed(pg):
    async with pg.transaction() as s:
        assert await s.execute(JOB, 1, 0.4, 1.0, 1.0) == 1
        assert await s.execute(JOB, 1, 0.4, 2.0, 2.0) == 1
        assert await s.execute(JOB, 2, 0.4, 3.0, 3.0) == 1
        assert await s.execute("UPDATE jobs SET state = ? WHERE guild_id = ?", "queued", 1) == 2
        assert await s.execute("UPDATE jobs SET state = ? WHERE guild_id = ?", "queued", 99) == 0
        assert await s.execute("DELETE FROM jobs WHERE guild_id = ?", 2) == 1
        assert await s.execute("DELETE FROM jobs") == 2


async def test_writes_give_back_their_rows_with_returning(pg):
    async with pg.transaction() as s:
        first = await s.fetch_one(JOB + " RETURNING id, state", 1, 0.4, 1.0, 1.0)
        second_id = await s.fetch_value(JOB + " RETURNING id", 1, 0.4, 1.0, 1.0)
        updated = await s.fetch_all("UPDATE jobs SET state = ? WHERE guild_id = ? RETURNING id, state", "queued", 1)
        none = await s.fetch_one("UPDATE jobs SET state = ? WHERE id = ? RETURNING id", "failed", 12345)
    assert first == {"id": first["id"], "state": "pending"} and isinstance(first["id"], int)
    assert second_id == first["id"] + 1
    assert sorted(updated, key=lambda r: r["id"]) == [
        {"id": first["id"], "state": "queued"},
        {"id": second_id, "state": "queued"},
    ]
    assert none is None


async def test_values_are_plain_python_numbers(pg):
    snowflake = 1_234_567_890_123_456_789  # a Discord id: more than 32 bits
    async with pg.transaction() as s:
        # DOUBLE PRECISION takes an int as well as a float; BIGINT takes a snowflake.
        job = await s.fetch_value(JOB + " RETURNING id", snowflake, 1, 5, 5.5)
        for amount in (400_000, 250_000):
            await s.execute(
                "INSERT INTO ledger (guild_id, user_id, job_id, kind, amount_micros, period_start, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                snowflake, 3, None, "reserve", amount, 0, 1.5,
            )  # fmt: skip
        row = await s.fetch_one("SELECT guild_id, cost_usd, created_at, updated_at FROM jobs WHERE id = ?", job)
        total = await s.fetch_value("SELECT SUM(amount_micros) FROM ledger WHERE guild_id = ?", snowflake)
        average = await s.fetch_value("SELECT AVG(amount_micros) FROM ledger")
        nothing = await s.fetch_value("SELECT id FROM jobs WHERE id = ?", -1)
    assert row == {"guild_id": snowflake, "cost_usd": 1.0, "created_at": 5.0, "updated_at": 5.5}
    assert total == 650_000 and type(total) is int  # SUM(BIGINT) is NUMERIC: an int, as SQLite gives
    assert average == 325_000.0 or average == 325_000
    assert nothing is None


async def test_a_transaction_that_raises_is_rolled_back(pg):
    with pytest.raises(RuntimeError, match="boom"):
        async with pg.transaction() as s:
            await s.execute(JOB, 1, 0.4, 1.0, 1.0)
            raise RuntimeError("boom")
    async with pg.reading() as s:
        assert await s.fetch_value("SELECT COUNT(*) FROM jobs") == 0


async def test_reading_does_not_see_another_transactions_uncommitted_row(pg):
    inserted, checked = asyncio.Event(), asyncio.Event()

    async def writer():
        async with pg.transaction() as s:
            await s.execute(JOB, 1, 0.4, 1.0, 1.0)
            inserted.set()
            await checked.wait()

    task = asyncio.create_task(writer())
    await inserted.wait()
    async with pg.reading() as s:
        during = await s.fetch_value("SELECT COUNT(*) FROM jobs")
    checked.set()
    await task
    async with pg.reading() as s:
        after = await s.fetch_value("SELECT COUNT(*) FROM jobs")
    assert (during, after) == (0, 1)


async def _check_then_insert(pg, *, lock: bool) -> None:
    async with pg.transaction() as s:
        if lock:
            await s.lock("quota:1:3")
        seen = await s.fetch_value("SELECT COUNT(*) FROM quota_audit WHERE guild_id = ?", 1)
        await asyncio.sleep(0.05)  # the other transaction checks meanwhile, unless the lock holds it
        if seen == 0:
            await s.execute(
                "INSERT INTO quota_audit (guild_id, actor_id, action, details, created_at) VALUES (?, ?, ?, ?, ?)",
                1, 3, "reserve", "{}", 1.0,
            )  # fmt: skip


@pytest.mark.parametrize("lock", [True, False])
async def test_lock_serialises_check_then_insert(pg, lock):
    await asyncio.gather(_check_then_insert(pg, lock=lock), _check_then_insert(pg, lock=lock))
    async with pg.reading() as s:
        rows = await s.fetch_value("SELECT COUNT(*) FROM quota_audit")
    # Locked: the second waits, then sees the first's row. Unlocked (the control): both insert.
    assert rows == (1 if lock else 2)


async def test_lock_needs_a_transaction(pg):
    async with pg.reading() as s:
        with pytest.raises(RuntimeError, match="transaction"):
            await s.lock("k")


async def test_engine_is_postgresql_and_its_url_has_no_password(pg, pg_server: PgServer):
    assert pg.engine == "postgresql"
    assert pg_server.password not in pg.url and "***" in pg.url


# --- open() failures: one line for the operator, never the password -----------------------------------


async def _refused(url: str, secret: str) -> str:
    with pytest.raises(ConfigurationError) as caught:
        await PostgresDatabase.open(url, connect_timeout=5)
    message = str(caught.value)
    assert "\n" not in message and secret not in message
    assert message.startswith("DATABASE_URL postgresql://")
    return message


async def test_a_wrong_password_is_one_line_without_it(pg_server: PgServer):
    message = await _refused(pg_server.url("postgres", password="not-the-password-42"), "not-the-password-42")
    assert "refused the password" in message


async def test_a_missing_database_is_one_line(pg_server: PgServer):
    message = await _refused(pg_server.url("no_such_db"), pg_server.password)
    assert "no such database" in message and "no_such_db" in message


async def test_a_closed_port_is_one_line(pg_server: PgServer):
    url = f"postgresql://bot:hunter2-secret@127.0.0.1:{_free_port()}/sora"
    message = await _refused(url, "hunter2-secret")
    assert "nothing listens there" in message


async def test_a_url_of_another_engine_is_refused():
    with pytest.raises(ConfigurationError, match="postgresql://") as caught:
        await PostgresDatabase.open("mysql://bot:hunter2-secret@db/sora")
    assert "hunter2-secret" not in str(caught.value)
