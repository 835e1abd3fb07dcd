"""/status lists every live process on the database: its short id, its shards, the jobs it holds and its
last heartbeat; this process first, and a long list cut within Discord's limit of a field. On both
engines: the processes and their leases are read by SQL of each."""

from __future__ import annotations

import re

import pytest

from bot.domain import sora
from tests.e2e.helpers import callbacks, eventually, eventually_async
from tests.pg import ENGINES

pytestmark = pytest.mark.parametrize("engine", ENGINES)
OTHER = "other-host:4242:beefcafe"


async def status_processes(world) -> tuple[str, str]:
    """The owner's /status: the name and value of its Processes field."""
    inter = await world.discord.send_slash_command(
        world.guild_id, world.channel_id, world.discord.owner_user.id, name="status", options=[]
    )
    reply = (await eventually(lambda: callbacks(world.discord, inter.id)))[0].json
    embed = reply["data"]["embeds"][0]
    assert len(embed["fields"]) <= 25
    field = next(f for f in embed["fields"] if f["name"].startswith("Processes"))
    assert len(field["value"]) <= 1024  # Discord's limit of a field's value
    return field["name"], field["value"]


async def test_status_lists_each_live_process_its_shards_jobs_and_heartbeat(world, start_bot):
    bot = await start_bot(shard_count=2, shard_identify_interval_seconds=0, job_lease_seconds=5)
    app = bot.app
    owner = app.runner.owner
    host, pid = owner.split(":")[:2]
    await eventually_async(lambda: _beat(app, owner), timeout=15)  # its first heartbeat (lease / 3)

    name, value = await status_processes(world)
    assert name == "Processes (1 live)"  # on SQLite the only one; on PostgreSQL the only one so far
    this = rf"`{re.escape(host[:19])}[^`]*:{pid}` \(this one\)"
    assert re.fullmatch(rf"{this} · shards 0-1 of 2 · 0 jobs · \d+ s ago", value)

    # Another process on the same database, holding a job: listed after this one, with its job.
    spec = sora.text_to_video("elsewhere", duration=4).spec
    await app.jobs.create_job(
        spec, guild_id=world.guild_id, channel_id=world.channel_id, user_id=world.user_id,
        endpoint="fal-ai/sora-2/text-to-video", arguments={}, cost_usd=0.4, owner=OTHER, lease_seconds=300,
    )  # fmt: skip
    await app.jobs.renew(OTHER, 300, "1 of 2")
    name, value = await status_processes(world)
    assert name == "Processes (2 live)"
    first, second = value.split("\n")
    assert "(this one)" in first
    assert re.fullmatch(r"`other-host:4242` · shards 1 of 2 · 1 job · \d+ s ago", second)

    # Many processes: the list is cut within the field's limit, saying how many are left out.
    for n in range(60):
        await app.jobs.renew(f"worker-{n:02d}.cluster.example:{1000 + n}:00ff", 300, f"{n} of 64")
    name, value = await status_processes(world)
    assert name == "Processes (62 live)"
    lines = value.split("\n")
    assert "(this one)" in lines[0]
    assert re.fullmatch(r"… and \d+ more", lines[-1])
    assert len(lines) - 1 + int(lines[-1].split()[2]) == 62  # every process shown or counted


async def _beat(app, owner: str) -> bool:
    return owner in {row["id"] for row in await app.jobs.live_processes(within=60)}
