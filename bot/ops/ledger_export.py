"""/quota export: the ledger's entries between two dates as a CSV for accounting, streamed a page at a
time into a temporary file (never the whole ledger in memory). The caller sends the file and deletes it.

Columns (README, "Spend report and export"): time, kind, member id and name, job id, model, duration,
resolution, amount and running total in USD with six decimals (exact: the ledger counts millionths). The
running total counts spend as the limits and /quota report do: reserve, refund and reset entries; a commit
confirms a reserve that already counted, so it moves nothing."""

from __future__ import annotations

import csv
import datetime as dt
import os
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from bot.domain.spend import usd
from bot.storage import ledger
from bot.storage.database import Database

PAGE = 500
COLUMNS = (
    "time",
    "kind",
    "member_id",
    "member_name",
    "job_id",
    "model",
    "duration_s",
    "resolution",
    "amount_usd",
    "running_total_usd",
)


@dataclass(frozen=True)
class LedgerExport:
    path: Path  # the caller deletes it once sent
    rows: int
    spent_micros: int  # the last running total


async def export_ledger(
    db: Database,
    guild_id: int,
    start: dt.datetime,
    end: dt.datetime,
    name_of: Callable[[int], Awaitable[str]],
    page: int = PAGE,
    directory: Path | None = None,
) -> LedgerExport | None:
    """The entries written in [start, end) as a CSV file (in `directory`, else the system's temporary
    folder); None (and no file) when there are none."""
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed below, and deleted on any failure)
        "w", encoding="utf-8", newline="", prefix="ledger-", suffix=".csv", delete=False, dir=directory
    )
    path = Path(handle.name)
    try:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        names: dict[int, str] = {}
        after, count, running = 0, 0, 0
        while True:
            async with db.reading() as session:
                rows = await ledger.ledger_page(session, guild_id, start, end, after, page)
            for row in rows:
                if row.user_id not in names:
                    names[row.user_id] = await name_of(row.user_id)
                if row.counts_as_spend:
                    running += row.amount_micros
                writer.writerow(
                    (
                        row.at.isoformat(timespec="seconds").replace("+00:00", "Z"),
                        row.kind,
                        row.user_id,
                        names[row.user_id],
                        "" if row.job_id is None else row.job_id,
                        row.model or "",
                        "" if row.duration is None else row.duration,
                        row.resolution or "",
                        usd(row.amount_micros),
                        usd(running),
                    )
                )
            count += len(rows)
            if len(rows) < page:
                break
            after = rows[-1].id
        handle.close()
    except BaseException:
        handle.close()
        os.unlink(path)
        raise
    if count == 0:
        os.unlink(path)
        return None
    return LedgerExport(path, count, running)
