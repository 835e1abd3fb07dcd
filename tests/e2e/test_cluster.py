"""Several bot processes on one PostgreSQL database: shards 0 and 1 of 2 as real `python -m bot` processes
against the loopback fakes of Discord and fal; kill -9 of one while its jobs are queued at fal.

The survivor takes the dead process's jobs once their leases run out (not before), each is delivered exactly
once and never sent to fal again, and every job's ledger is exact. A member then cancels a job the dead
process had started: the click goes to the shard of the member's guild, whose process (a replacement for
the dead one, started after the takeover, as an orchestrator would) is not the job's holder."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import World, bot_process, kill9
from tests.e2e.helpers import db_rows, eventually, followups, ledger_of, options
from tests.fakes.fal import JobScript

ROOT = Path(__file__).resolve().parents[2]
LEASE = 5.0  # JOB_LEASE_SECONDS: the minimum
CLUSTER = {"SHARD_COUNT": "2", "SHARD_IDENTIFY_INTERVAL_SECONDS": "0", "JOB_LEASE_SECONDS": str(LEASE)}
GUILDS_PER_SHARD = 3
JOBS = 20
MEMBERS = 10  # each asks for 2 of the 20 jobs: within QUOTA_MAX_JOBS_PER_MEMBER (2) and the $2.00 default limit
COST_MICROS = 400_000  # a 4 s sora-2 video at 720p: $0.40


@pytest.fixture
def engine() -> str:
    return "postgresql"


def cluster_process(world: World, name: str, **env: str) -> subprocess.Popen[bytes]:
    """`python -m bot` as its own process on the test's PostgreSQL, with a folder (DATABASE_PATH: its health
    and work files) and a log of its own, as docs/postgresql.md says to run several."""
    folder = world.tmp / name
    folder.mkdir(exist_ok=True)
    assert world.database_url is not None
    return bot_process(world, name=name, cwd=folder, DATABASE_PATH=str(folder / "bot.sqlite3"), **CLUSTER, **env)


def jobs(world: World) -> dict[int, dict[str, Any]]:
    rows = db_rows(
        world,
        "SELECT id, state, guild_id, channel_id, user_id, prompt, request_id, cost_usd, progress_message_id, "
        "video_message_id, lease_owner, lease_expires_at FROM jobs ORDER BY id",
    )
    return {row["id"]: row for row in rows}


def pid_of(owner: str) -> int:
    """The pid in a lease owner's id (host:pid:random)."""
    return int(owner.split(":")[-2])


def video_messages(world: World, job_id: int) -> list[dict[str, Any]]:
    """Every message, in every channel of the fake, carrying job N's video card (its embed footer)."""
    return [
        message
        for channel_id in world.discord.channels
        for message in world.discord.messages(channel_id)
        if any((e.get("footer") or {}).get("text") == f"job {job_id}" for e in message.get("embeds") or [])
    ]


def video_posts(world: World) -> list[Any]:
    return [
        r
        for r in world.discord.requests
        if r.method == "POST" and r.path.startswith("/channels/") and r.path.endswith("/messages")
        and r.status == 200 and r.files
    ]  # fmt: skip


def cancel_button(message: dict[str, Any]) -> str | None:
    for row in message.get("components") or []:
        for component in row.get("components") or []:
            if str(component.get("custom_id", "")).startswith("sora:cancel:"):
                return str(component["custom_id"])
    return None


async def test_two_processes_on_postgresql_survive_a_kill_9(world: World) -> None:
    started = time.monotonic()
    fake, fal = world.discord, world.fal
    # Several guilds on each shard, a #videos channel in each, members in all of them (add_user joins every guild).
    guilds = {
        shard: [
            fake.add_guild(guild_id=fake.guild_id_for_shard(shard, 2), name=f"shard{shard}-guild{n}")
            for n in range(GUILDS_PER_SHARD)
        ]
        for shard in (0, 1)
    }
    channels = {guild.id: fake.add_channel(guild.id, name="videos").id for shard in (0, 1) for guild in guilds[shard]}
    members = [fake.add_user(username=f"member{n}").id for n in range(MEMBERS)]
    carol = fake.add_user(username="carol").id  # the member who cancels
    # fal holds every job in its queue past the kill; carol's stays queued longer, to be cancelled there.
    fal.default_script = JobScript(queue_seconds=12.0, run_seconds=1.0)

    zero = cluster_process(world, "shard-0", SHARD_IDS="0")
    one = cluster_process(world, "shard-1", SHARD_IDS="1")
    replacement: subprocess.Popen[bytes] | None = None
    try:
        await fake.wait_ready(shard=0, shard_count=2, timeout=40)
        await fake.wait_ready(shard=1, shard_count=2, timeout=40)

        # Carol's job, in a guild of shard 1: the first submission, so the long script is hers.
        carol_guild = guilds[1][0].id
        fal.script_next(JobScript(queue_seconds=300.0, run_seconds=1.0))
        await fake.send_slash_command(
            carol_guild, channels[carol_guild], carol, name="generate", options=options("carol's video")
        )
        await fal.wait_for_submission(1, timeout=30)
        # 20 jobs over the 6 guilds of both shards, by 10 members.
        all_guilds = [guild.id for shard in (0, 1) for guild in guilds[shard]]
        for n in range(JOBS):
            guild_id = all_guilds[n % len(all_guilds)]
            await fake.send_slash_command(
                guild_id, channels[guild_id], members[n % MEMBERS], name="generate", options=options(f"cluster job {n}")
            )

        def all_queued() -> dict[int, dict[str, Any]] | None:
            found = jobs(world)
            done = len(found) == JOBS + 1 and all(j["state"] == "queued" and j["request_id"] for j in found.values())
            return found if done else None

        queued = await eventually(all_queued, timeout=40, interval=0.2)
        # Each process holds the jobs of its own shard's guilds.
        owners = {fake.shard_of(j["guild_id"], 2): set() for j in queued.values()}
        for job in queued.values():
            owners[fake.shard_of(job["guild_id"], 2)].add(job["lease_owner"])
        assert {shard: {pid_of(o) for o in found} for shard, found in owners.items()} == {
            0: {zero.pid},
            1: {one.pid},
        }
        (survivor,) = owners[0]
        dead_jobs = sorted(j["id"] for j in queued.values() if fake.shard_of(j["guild_id"], 2) == 1)
        carol_job = next(j["id"] for j in queued.values() if j["user_id"] == carol)
        on_one = sum(fake.shard_of(all_guilds[n % len(all_guilds)], 2) == 1 for n in range(JOBS))
        assert carol_job in dead_jobs and len(dead_jobs) == 1 + on_one and on_one >= JOBS // 3
        # At fal, every one of the dead process's jobs is still waiting in the queue.
        assert {fal.job(queued[i]["request_id"]).phase() for i in dead_jobs} == {"IN_QUEUE"}

        kill9(one)
        killed_at = time.time()
        expiry = {i: j["lease_expires_at"] for i, j in jobs(world).items() if i in dead_jobs}  # its last renewal's

        # The survivor takes them over: each once its lease has run out, not before.
        taken_at: dict[int, float] = {}

        def all_taken() -> bool:
            now = time.time()
            for i, job in jobs(world).items():
                if i in dead_jobs and i not in taken_at and job["lease_owner"] == survivor:
                    taken_at[i] = now
            return len(taken_at) == len(dead_jobs)

        await eventually(all_taken, timeout=4 * LEASE, interval=0.1)
        for i in dead_jobs:
            assert taken_at[i] >= expiry[i], (
                f"job {i} was taken {expiry[i] - taken_at[i]:.2f} s before its lease ran out"
            )
        takeover = [taken_at[i] - killed_at for i in dead_jobs]
        # A heartbeat every lease/3 claims the orphans: within a beat (plus polling and a busy machine) of expiry.
        assert max(taken_at[i] - expiry[i] for i in dead_jobs) < LEASE / 3 + 2.0
        assert max(takeover) < LEASE + LEASE / 3 + 2.0

        # Shard 1 comes back as a new process (as an orchestrator restarts it); the jobs stay with the survivor.
        identified = time.monotonic()
        replacement = cluster_process(world, "shard-1-again", SHARD_IDS="1")
        again = await fake.wait_ready(shard=1, shard_count=2, since=identified, timeout=40)

        # Carol clicks Cancel on her job's progress message: the click goes to shard 1, the replacement
        # process, while the job is held by the survivor and still queued at fal.
        job = jobs(world)[carol_job]
        assert job["state"] == "queued" and job["lease_owner"] == survivor
        rid = job["request_id"]
        assert fal.job(rid).phase() == "IN_QUEUE"
        progress = fake.message(job["progress_message_id"])
        button = cancel_button(progress)
        assert button == f"sora:cancel:{carol_job}"
        click = await fake.send_component_click(
            carol_guild, channels[carol_guild], carol, job["progress_message_id"], button
        )
        assert click.payload in again.events("INTERACTION_CREATE")  # shard 1: the replacement process
        answer = await eventually(lambda: followups(fake, click.token), timeout=20)
        assert answer[0].json["content"] == "Cancelled; $0.40 refunded."
        await eventually(lambda: jobs(world)[carol_job]["state"] == "cancelled", timeout=10)
        assert fal.job(rid).cancelled and fal.count(rid, "cancel") >= 1
        await eventually(lambda: "Cancelled" in fake.message(job["progress_message_id"])["content"], timeout=20)
        assert cancel_button(fake.message(job["progress_message_id"])) is None  # nothing left to cancel

        # Every other job is delivered.
        def all_delivered() -> bool:
            return all(j["state"] == "delivered" for i, j in jobs(world).items() if i != carol_job)

        await eventually(all_delivered, timeout=60, interval=0.2)

        # And every member's progress message says so, the taken-over jobs' too (edited by the survivor).
        def all_done() -> bool:
            return all(
                "Done" in fake.message(j["progress_message_id"])["content"]
                for i, j in jobs(world).items()
                if i != carol_job
            )

        await eventually(all_done, timeout=20, interval=0.2)
        await asyncio.sleep(1.0)  # room for a second post, were one coming
        assert zero.poll() is None and replacement.poll() is None
    finally:
        for process in (zero, one, replacement):
            if process is not None and process.poll() is None:
                process.terminate()
                await asyncio.to_thread(process.wait, 30)

    final = jobs(world)
    delivered = [i for i in final if i != carol_job]
    assert len(delivered) == JOBS
    # Delivered exactly once: one video message per job, in its own guild's channel, and 20 video posts in all.
    for i in delivered:
        (message,) = video_messages(world, i)
        assert int(message["channel_id"]) == final[i]["channel_id"] == channels[final[i]["guild_id"]]
        assert int(message["id"]) == final[i]["video_message_id"]
    assert video_messages(world, carol_job) == []
    assert len(video_posts(world)) == JOBS
    # fal saw each job once: 21 submissions (the 20 and carol's), none sent again after the takeover.
    assert len(fal.submissions) == JOBS + 1 and all(s.accepted for s in fal.submissions)
    assert sorted(s.request_id for s in fal.submissions) == sorted(j["request_id"] for j in final.values())
    prompts = sorted(s.payload["prompt"] for s in fal.submissions)
    assert prompts == sorted([f"cluster job {n}" for n in range(JOBS)] + ["carol's video"])
    # The dead process's jobs ended with the survivor; the replacement took none.
    for i in dead_jobs:
        assert final[i]["lease_owner"] == survivor
    # The ledger, exact: reserve + commit of each delivered job's cost, reserve + refund of carol's.
    for i in delivered:
        assert round(final[i]["cost_usd"] * 1_000_000) == COST_MICROS
        assert ledger_of(world, i) == [("reserve", COST_MICROS), ("commit", COST_MICROS)]
    assert ledger_of(world, carol_job) == [("reserve", COST_MICROS), ("refund", -COST_MICROS)]
    sums = {
        r["kind"]: r["total"]
        for r in db_rows(world, "SELECT kind, SUM(amount_micros) AS total FROM ledger GROUP BY kind")
    }
    assert sums == {"reserve": (JOBS + 1) * COST_MICROS, "commit": JOBS * COST_MICROS, "refund": -COST_MICROS}

    print(
        f"\ncluster: takeover {min(takeover):.2f}-{max(takeover):.2f} s after the kill (lease {LEASE:.0f} s), "
        f"run {time.monotonic() - started:.1f} s"
    )
