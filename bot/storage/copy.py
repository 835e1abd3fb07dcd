"""Moving a bot's whole history from one database to another (SQLite to PostgreSQL, `python -m bot copy-db`):
every table, in one transaction on the target, which must be empty; then the two are compared (row counts
per table, the ledger's sums per kind) so not a cent of history is lost on the way."""

from __future__ import annotations

from dataclasses import dataclass

from bot.storage.database import Database, Session

# Parents before children (videos and ledger rows name their job). schema_migrations is not copied: the
# target records its own migrations, applied before the copy.
TABLES = (
    "jobs",
    "videos",
    "guild_quotas",
    "member_quotas",
    "ledger",
    "quota_audit",
    "characters",
    "guild_settings",
    "blocklist",
    "settings_audit",
    "registered_commands",
    "spend_alerts",
)
# Tables whose id the database hands out: after rows are copied with their ids, the target's counter must
# continue after the largest, or its next job would collide with a copied one.
COUNTED_IDS = ("jobs", "ledger", "quota_audit", "characters", "settings_audit", "spend_alerts")


class CopyRefused(Exception):
    """The copy cannot start (the target holds data) or did not arrive whole; the message says which."""


@dataclass(frozen=True)
class CopyReport:
    rows: dict[str, int]  # per table, the same on both sides
    ledger_micros: dict[str, int]  # the ledger's sum per kind, the same on both sides

    def summary(self) -> str:
        total = sum(self.rows.values())
        kinds = ", ".join(f"{kind} {micros / 1e6:.2f}" for kind, micros in sorted(self.ledger_micros.items()))
        return f"copied {total} rows in {len(self.rows)} tables; ledger in USD: {kinds or 'empty'}"


async def copy_database(source: Database, target: Database) -> CopyReport:
    """Copy everything from source into target (both migrated to the same version). Raises CopyRefused,
    having written nothing, when the target is not empty, and after the copy if the two differ."""
    versions = []
    for database in (source, target):
        async with database.reading() as session:
            versions.append(await session.fetch_value("SELECT MAX(version) FROM schema_migrations"))
    if versions[0] != versions[1]:
        raise CopyRefused(
            f"the two databases are at different migrations ({versions[0]} and {versions[1]}): "
            "run `python -m bot migrate` with each first"
        )
    async with target.reading() as session:
        for table in TABLES:
            count = int(await session.fetch_value(f"SELECT COUNT(*) FROM {table}"))
            if count:
                raise CopyRefused(f"the target database is not empty ({table} has {count} rows): use a new database")
    before = await _census(source)
    async with source.reading() as reader, target.transaction() as writer:
        for table in TABLES:
            await _copy_table(reader, writer, table)
        if target.engine == "postgresql":
            for table in COUNTED_IDS:
                # PostgreSQL's identity counter does not see ids inserted explicitly.
                await writer.fetch_value(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 0) + 1, false) "
                    f"FROM {table}"
                )
        # Compared before the commit: a copy that differs is rolled back, leaving the target empty.
        after = await _count(writer)
        if before != after:
            raise CopyRefused(f"the copy differs from the original, nothing was kept: {before} != {after}")
    return before


async def _copy_table(reader: Session, writer: Session, table: str) -> None:
    rows = await reader.fetch_all(f"SELECT * FROM {table}")
    if not rows:
        return
    columns = list(rows[0])
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
    for row in rows:
        try:
            await writer.execute(sql, *(row[c] for c in columns))
        except Exception as exc:  # the engine's own error (a value SQLite took and PostgreSQL will not)
            key = {c: row[c] for c in columns[:2]}
            raise CopyRefused(
                f"a row of {table} ({key}) could not be copied, so nothing was kept: {type(exc).__name__}: "
                + " ".join(str(exc).split())
            ) from None


async def _census(database: Database) -> CopyReport:
    async with database.reading() as session:
        return await _count(session)


async def _count(session: Session) -> CopyReport:
    rows = {table: int(await session.fetch_value(f"SELECT COUNT(*) AS n FROM {table}")) for table in TABLES}
    sums = await session.fetch_all("SELECT kind, SUM(amount_micros) AS total FROM ledger GROUP BY kind")
    return CopyReport(rows, {str(r["kind"]): int(r["total"]) for r in sums})
