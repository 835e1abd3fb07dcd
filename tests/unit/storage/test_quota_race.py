"""Quotas stay exact across processes: on PostgreSQL two bot processes (two pools, here) check and reserve a
member's quota at once, and the check and the reservation are one step for each (JobStore.create_job takes
Session.lock(f"quota:{guild_id}"), a transaction-scoped advisory lock). On SQLite the writers take turns
anyway: tests/unit/domain/test_quota.py runs the one-process race on both engines."""

from __future__ import annotations

import asyncio

from bot.domain.models import VideoSpec
from bot.domain.quota import Limits, Period, QuotaRefused, to_micros
from bot.storage.jobs import JobStore, Reservation
from bot.storage.postgres import PostgresDatabase

SPEC = VideoSpec(kind="text_to_video", prompt="p", model="sora-2", duration=4, aspect_ratio="16:9", resolution="720p")
RULES = Limits(
    member_limit_micros=to_micros(1.00),
    period=Period.WEEKLY,
    budget_micros=None,
    max_jobs_per_member=100,
    max_jobs_per_guild=100,
)


async def test_fifty_requests_from_one_member_through_two_processes_accept_exactly_two(pg_url):
    # Two pools, as two bot processes would have, each with connections enough to run its share at once.
    first = await PostgresDatabase.open(pg_url, pool_size=12)
    second = await PostgresDatabase.open(pg_url, pool_size=12)
    try:
        stores = [JobStore(first), JobStore(second)]
        reservation = Reservation(cost_micros=to_micros(0.40), defaults=RULES, what="4 s Sora 2 video")
        start = asyncio.Event()

        async def attempt(store: JobStore) -> bool:
            await start.wait()  # all 50 at once, not in the order they were made
            try:
                await store.create_job(
                    SPEC,
                    guild_id=1,
                    channel_id=2,
                    user_id=3,
                    endpoint="fal-ai/sora-2/text-to-video",
                    arguments={"prompt": "p"},
                    cost_usd=0.4,
                    reservation=reservation,
                )
            except QuotaRefused:
                return False
            return True

        tasks = [asyncio.create_task(attempt(stores[i % 2])) for i in range(50)]
        await asyncio.sleep(0)
        start.set()
        results = await asyncio.gather(*tasks)
        assert results.count(True) == 2 and results.count(False) == 48
        async with first.reading() as session:
            total = await session.fetch_value("SELECT SUM(amount_micros) AS total FROM ledger")
            jobs = await session.fetch_value("SELECT COUNT(*) AS n FROM jobs")
        assert total == 800_000 and jobs == 2
    finally:
        await first.close()
        await second.close()
