"""Small readers over what the fakes recorded."""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bot.domain.models import Job, JobState
from bot.storage.jobs import JobStore
from tests.fakes.discord import FakeDiscord, FakeInteraction, RecordedRequest

STRING, INTEGER = 3, 4


def options(prompt: str, **more: Any) -> list[dict[str, Any]]:
    found = [{"name": "prompt", "type": STRING, "value": prompt}]
    for name, value in more.items():
        found.append({"name": name, "type": INTEGER if isinstance(value, int) else STRING, "value": value})
    return found


def video_posts(fake: FakeDiscord, channel_id: int) -> list[RecordedRequest]:
    return [
        r
        for r in fake.requests
        if r.method == "POST" and r.path == f"/channels/{channel_id}/messages" and r.status == 200
    ]


def callbacks(fake: FakeDiscord, interaction_id: int | str) -> list[RecordedRequest]:
    return [r for r in fake.requests if r.method == "POST" and r.path.startswith(f"/interactions/{interaction_id}/")]


def original_edits(fake: FakeDiscord, token: str) -> list[RecordedRequest]:
    return [r for r in fake.requests if r.method == "PATCH" and r.path.endswith(f"/{token}/messages/@original")]


def followups(fake: FakeDiscord, token: str) -> list[RecordedRequest]:
    return [
        r for r in fake.requests if r.method == "POST" and r.path.endswith(f"/webhooks/{fake.application_id}/{token}")
    ]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def eventually(check: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05) -> Any:
    """Wait until check() returns something truthy; return it."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


async def eventually_async(check: Callable[[], Awaitable[Any]], timeout: float = 20.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


async def job_in_state(store: JobStore, job_id: int, state: JobState) -> Job | None:
    job = await store.get_job(job_id)
    return job if job is not None and job.state == state else None


async def private_refusal(fake: FakeDiscord, inter: FakeInteraction) -> str:
    """The text of a refusal given after the deferral: the public "thinking…" answer deleted, then a
    private followup (the first followup would otherwise replace the public answer)."""
    assert (await eventually(lambda: callbacks(fake, inter.id)))[0].json["type"] == 5
    sent = (await eventually(lambda: followups(fake, inter.token)))[0]
    original = f"/{inter.token}/messages/@original"
    deleted = [r for r in fake.requests if r.method == "DELETE" and r.path.endswith(original)]
    assert deleted and deleted[0].time <= sent.time and sent.json["flags"] == 64
    return str(sent.json["content"])


def db_rows(world: Any, sql: str, *args: Any) -> list[dict[str, Any]]:
    """Rows of the bot's database, whichever engine it runs on (`?` placeholders): read from another
    connection, so only what the bot has committed. Empty until the database and the table exist."""
    if world.database_url is not None:
        return _on_postgres(world.database_url, "fetch", sql, args)
    path = world.tmp / "data" / "bot.sqlite3"
    if not path.exists():
        return []
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, args).fetchall()]
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()


def db_execute(world: Any, *statements: tuple[str, tuple[Any, ...]] | str) -> None:
    """Write to the bot's database behind its back (as a crash would leave it), in one transaction."""
    pairs = [(s, ()) if isinstance(s, str) else s for s in statements]
    if world.database_url is not None:
        _on_postgres(world.database_url, "execute", pairs, ())
        return
    conn = sqlite3.connect(world.tmp / "data" / "bot.sqlite3")
    try:
        for sql, args in pairs:
            conn.execute(sql, args)
        conn.commit()
    finally:
        conn.close()


def _on_postgres(url: str, what: str, sql: Any, args: tuple[Any, ...]) -> Any:
    """A small synchronous adapter over asyncpg: one connection, in a thread of its own (the test's event
    loop is busy running the bot, and these helpers are called from plain lambdas)."""
    import asyncpg

    from bot.storage.postgres import to_numbered

    async def run() -> Any:
        conn = await asyncpg.connect(url)
        try:
            if what == "fetch":
                try:
                    return [dict(r.items()) for r in await conn.fetch(to_numbered(sql), *args)]
                except asyncpg.UndefinedTableError:
                    return []
            async with conn.transaction():
                for statement, values in sql:
                    await conn.execute(to_numbered(statement), *values)
            return None
        finally:
            await conn.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result(timeout=30)


def db_row(world: Any, sql: str = "SELECT * FROM jobs WHERE id = 1") -> dict[str, Any] | None:
    """One row of the bot's database (None until the database and the table exist, or no such row)."""
    found = db_rows(world, sql)
    return found[0] if found else None


def ledger_of(world: Any, job_id: int = 1) -> list[tuple[str, int]]:
    """The job's ledger entries, oldest first: (kind, millionths of a dollar)."""
    rows = db_rows(world, "SELECT kind, amount_micros FROM ledger WHERE job_id = ? ORDER BY id", job_id)
    return [(r["kind"], r["amount_micros"]) for r in rows]


def job_messages(world: Any, job_id: int = 1) -> list[dict[str, Any]]:
    """The channel's messages that carry job N's video card (its embed footer): what the members see."""
    return [
        m
        for m in world.discord.messages(world.channel_id)
        if any((e.get("footer") or {}).get("text") == f"job {job_id}" for e in m.get("embeds") or [])
    ]


def form_field(form: dict[str, Any]) -> tuple[str, str]:
    """A form's (modal's) one text input: its custom id and its label's text."""
    [label] = form["components"]
    assert label["type"] == 18, label  # a label holding the input (action rows of inputs are deprecated)
    return str(label["component"]["custom_id"]), str(label["label"])
