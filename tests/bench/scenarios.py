"""The four measured scenarios. Each starts its own fakes and bot process(es) in its own folder and returns
plain figures; __main__ turns them into the table.

burst      N slash commands from N members across several channels within one second, every job run to the
           end: acknowledgement latency, fal and Discord requests per job, 429s, loop lag, delivered/submitted.
inflight   M jobs at once: loop lag and RSS while they are all in flight, then kill -9, restart, time from
           READY until every unfinished job has polled fal again, and every job delivered after the restart.
cluster    two processes (shards 0 and 1 of 2) on one PostgreSQL, M jobs in flight in the guilds of both
           shards, kill -9 of one: time until every orphaned job polls fal again (the survivor took it
           over), lag and RSS of each process, 429s, every job delivered once and submitted to fal once.
video      one video just under a tier-3 server's 100 MiB upload limit: the RSS its delivery adds.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import os
import random
import struct
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.bench.harness import (
    MIB,
    BotProcess,
    Fakes,
    LoopLag,
    Sampler,
    jobs_of,
    percentile,
    start_fakes,
    stop_all,
    updates_env,
    wait_until,
)
from tests.fakes.discord import FakeDiscord, FakeInteraction
from tests.fakes.fal import JobScript
from tests.fakes.media import make_mp4

STRING, INTEGER = 3, 4
DEFAULT_LEASE_SECONDS = 30.0  # JOB_LEASE_SECONDS's default (bot/config.py)
ACK_DEADLINE_S = 3.0
FINISHED = ("delivered", "failed", "cancelled")
PROMPTS = (
    "a lighthouse in a storm, waves crashing",
    "a red fox running through fresh snow at dawn",
    "timelapse of a city skyline from day to night",
    "a paper boat drifting down a rainy street",
    "an astronaut planting a flag on a strange purple planet",
    "close-up of coffee being poured in slow motion",
    "a cat chasing a laser dot across a wooden floor",
    "drone shot over a misty pine forest",
)


@dataclass(frozen=True)
class Timing:
    """fal's job timings, compressed: seconds in the queue and generating, drawn uniformly per job."""

    queue: tuple[float, float]
    run: tuple[float, float]

    def scripts(self, rng: random.Random, count: int, videos: dict[int, Path]) -> list[JobScript]:
        return [
            JobScript(
                queue_seconds=rng.uniform(*self.queue),
                run_seconds=rng.uniform(*self.run),
                start_position=rng.randint(0, 12),
                video_by_seconds=videos,
            )
            for _ in range(count)
        ]

    def __str__(self) -> str:
        return f"queue {self.queue[0]:g}-{self.queue[1]:g} s + generation {self.run[0]:g}-{self.run[1]:g} s"


@dataclass(frozen=True)
class Params:
    seed: int = 5
    channels: int = 10
    burst_commands: int = 200
    burst_seconds: float = 1.0
    burst_timing: Timing = Timing(queue=(2.0, 10.0), run=(20.0, 50.0))
    inflight_jobs: int = 1000
    inflight_rate: float = 50.0  # commands a second while the 1,000 jobs are started
    inflight_window: float = 20.0  # seconds all jobs are measured in flight before the kill -9
    inflight_timing: Timing = Timing(queue=(60.0, 80.0), run=(15.0, 30.0))
    video_bytes: int = 100 * MIB - 64 * 1024
    drain_timeout: float = 300.0
    cluster_jobs: int = 1000
    cluster_rate: float = 50.0  # commands a second, over the guilds of both shards
    cluster_window: float = 5.0  # seconds all jobs are in flight before the kill -9
    cluster_timing: Timing = Timing(queue=(60.0, 80.0), run=(15.0, 30.0))
    cluster_guilds_per_shard: int = 2
    cluster_channels: int = 5  # per guild
    cluster_lease: float | None = None  # JOB_LEASE_SECONDS; None: the bot's default

    @property
    def lease_seconds(self) -> float:
        return self.cluster_lease if self.cluster_lease is not None else DEFAULT_LEASE_SECONDS


# -- the world -------------------------------------------------------------------------------------------


@dataclass
class World:
    guild_id: int
    channel_ids: list[int]
    user_ids: list[int]


def build_world(discord: FakeDiscord, *, channels: int, members: int, premium_tier: int) -> World:
    for index in range(members):  # users first: add_guild makes every known user a member
        discord.add_user(username=f"member{index:04d}")
    guild = discord.add_guild(premium_tier=premium_tier, name="Busy Server")
    channel_ids = [discord.add_channel(guild.id, name=f"videos-{n}").id for n in range(channels)]
    user_ids = [uid for uid, user in discord.users.items() if not user.bot and uid != discord.owner_user.id]
    return World(guild.id, channel_ids, user_ids)


def build_sharded_world(
    discord: FakeDiscord, *, shards: int, guilds_per_shard: int, channels: int, members: int
) -> list[World]:
    """`guilds_per_shard` guilds on each of `shards` shards (their ids picked so), `channels` channels each;
    every member in every guild. In shard order: guild 0 of shard 0, guild 0 of shard 1, ..."""
    for index in range(members):
        discord.add_user(username=f"member{index:04d}")
    user_ids = [uid for uid, user in discord.users.items() if not user.bot and uid != discord.owner_user.id]
    worlds = []
    for number in range(guilds_per_shard):
        for shard in range(shards):
            guild = discord.add_guild(
                guild_id=discord.guild_id_for_shard(shard, shards), name=f"Busy Server {shard}.{number}"
            )
            channel_ids = [discord.add_channel(guild.id, name=f"videos-{n}").id for n in range(channels)]
            worlds.append(World(guild.id, channel_ids, user_ids))
    return worlds


def command_options(rng: random.Random) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = [{"name": "prompt", "type": STRING, "value": rng.choice(PROMPTS)}]
    duration = rng.choices(DURATIONS, weights=(6, 3, 1))[0]
    if duration != 4:
        found.append({"name": "duration", "type": INTEGER, "value": duration})
    if rng.random() < 0.3:
        found.append({"name": "aspect_ratio", "type": STRING, "value": "9:16"})
    return found


async def fire(
    discord: FakeDiscord, world: World | list[World], count: int, seconds: float, rng: random.Random
) -> list[FakeInteraction]:
    """`count` /generate commands, evenly spread over `seconds`, each from its own member, channels in turn
    (several worlds: the guilds in turn, then their channels)."""
    worlds = world if isinstance(world, list) else [world]
    start = time.monotonic()
    sent: list[asyncio.Task[FakeInteraction]] = []
    for index in range(count):
        delay = start + index * seconds / count - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        target = worlds[index % len(worlds)]
        sent.append(
            asyncio.create_task(
                discord.send_slash_command(
                    target.guild_id,
                    target.channel_ids[(index // len(worlds)) % len(target.channel_ids)],
                    target.user_ids[index % len(target.user_ids)],
                    name="generate",
                    options=command_options(rng),
                )
            )
        )
    return list(await asyncio.gather(*sent))


async def wait_acks(interactions: list[FakeInteraction]) -> None:
    """Until every interaction was answered or is past Discord's 3 s (then the fake refuses the answer)."""

    def settled() -> bool:
        now = time.monotonic()
        return all(i.acknowledged or now - i.dispatched_at > ACK_DEADLINE_S + 0.5 for i in interactions)

    await wait_until(settled, timeout=ACK_DEADLINE_S + 30, what="interaction acknowledgements", interval=0.05)


def ack_latencies_ms(interactions: list[FakeInteraction]) -> tuple[list[float], int]:
    """(latency of every acknowledged interaction, how many were never acknowledged within 3 s)."""
    done = [(i.acknowledged_at - i.dispatched_at) * 1000 for i in interactions if i.acknowledged_at is not None]
    return done, sum(1 for i in interactions if i.acknowledged_at is None)


DURATIONS = (4, 8, 12)  # what command_options asks for


def small_videos(folder: Path) -> dict[int, Path]:
    """A small mp4 of each length commands ask for: the bot checks that fal's file plays that long."""
    return {s: make_mp4(folder / f"small-{s}s.mp4", seconds=s, width=320, height=180) for s in DURATIONS}


def padded_video(target: Path, base: Path, size: int) -> Path:
    """A valid mp4 of exactly `size` bytes: `base` followed by a top-level `free` box of random bytes."""
    head = base.read_bytes()
    pad = size - len(head)
    if pad < 8:
        raise ValueError("size is smaller than the base video")
    with target.open("wb") as out:
        out.write(head)
        out.write(struct.pack(">I", pad) + b"free")
        left = pad - 8
        while left:
            chunk = os.urandom(min(MIB, left))
            out.write(chunk)
            left -= len(chunk)
    return target


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(MIB):
            digest.update(chunk)
    return digest.hexdigest()


# -- reading what the fakes saw --------------------------------------------------------------------------


class Watch:
    """Incremental reader of both fakes' request logs (they only grow), so waiting loops stay cheap."""

    def __init__(self, fakes: Fakes) -> None:
        self._fakes = fakes
        self._discord_seen = 0
        self._fal_seen = 0
        self.deliveries: Counter[str] = Counter()  # nonce -> video posts answered 200
        self.posted_files: dict[str, list[tuple[str, int]]] = {}  # nonce -> [(sha256, size)]
        self.done_edits = 0
        # request id -> first status poll or status stream opened at/after `status_since`
        self.first_status: dict[str, float] = {}
        self.status_since = math.inf

    def update(self) -> None:
        requests = self._fakes.discord.requests
        for record in requests[self._discord_seen :]:
            if record.status != 200 or not isinstance(record.json, dict):
                continue
            if record.method == "POST" and record.route == "/channels/{channel_id}/messages":
                nonce = str(record.json.get("nonce") or "")
                if nonce.startswith("sora-job-"):
                    self.deliveries[nonce] += 1
                    self.posted_files[nonce] = [(f.sha256, f.size) for f in record.files]
            elif record.method == "PATCH" and "✅ Done" in str(record.json.get("content") or ""):
                self.done_edits += 1
        self._discord_seen = len(requests)
        fal_requests = self._fakes.fal.requests
        for fal_record in fal_requests[self._fal_seen :]:
            if fal_record.kind == "status" and fal_record.time >= self.status_since and fal_record.request_id:
                self.first_status.setdefault(fal_record.request_id, fal_record.time)
        self._fal_seen = len(fal_requests)
        if self.status_since < math.inf:
            # A stream is in the request log only once it ends: its opening is asking fal again too.
            for job in self._fakes.fal.jobs.values():
                if job.request_id not in self.first_status:
                    opened = next((t for t in job.stream_opened_at if t >= self.status_since), None)
                    if opened is not None:
                        self.first_status[job.request_id] = opened

    @property
    def delivered(self) -> int:
        return len(self.deliveries)

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.deliveries.values())


QUEUE_KINDS = ("submit", "status", "stream", "result", "cancel")  # a status stream is one request


def fal_figures(fakes: Fakes, since: float) -> dict[str, Any]:
    """Queue API requests (submit, status, status stream, result, cancel) per job, against each job's
    scripted seconds."""
    fal = fakes.fal
    per_job: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    for record in fal.requests:
        if record.time < since or record.kind is None:
            continue
        kinds[record.kind] += 1
        if record.request_id and record.kind != "file":
            per_job[record.request_id] += 1
    jobs = [job for job in fal.jobs.values() if job.submitted_at >= since]
    seconds = [job.queue_seconds + job.run_seconds for job in jobs]
    requests = [per_job[job.request_id] + 1 for job in jobs]  # + its submit
    over = sum(1 for n, s in zip(requests, seconds, strict=True) if n > 2 + s / 4)
    queue_requests = sum(kinds[k] for k in QUEUE_KINDS)
    return {
        "jobs": len(jobs),
        "requests": queue_requests,
        "by_kind": dict(kinds),
        "per_job": queue_requests / len(jobs) if jobs else math.nan,
        "job_seconds_mean": sum(seconds) / len(seconds) if seconds else math.nan,
        "per_job_second": queue_requests / sum(seconds) if seconds else math.nan,
        "jobs_over_budget": over,
        "worst_over_budget": max((n - 2 - s / 4 for n, s in zip(requests, seconds, strict=True)), default=math.nan),
        "max_per_job": max(requests, default=0),
        "jobs_over_3": sum(1 for n in requests if n > 3),
        "jobs_over_2": sum(1 for n in requests if n > 2),
    }


def download_delays(fakes: Fakes, since: float) -> dict[str, Any]:
    """Seconds from each job's COMPLETED at fal to the bot's first request for its video file."""
    jobs = [job for job in fakes.fal.jobs.values() if job.submitted_at >= since and not job.cancelled]
    delays = [job.first_download_at - job.completed_at for job in jobs if job.first_download_at is not None]
    return {"delays_s": sorted(delays), "not_downloaded": len(jobs) - len(delays)}


def progress_edits(fakes: Fakes, since: float) -> int:
    """Message edits Discord accepted (PATCH of a channel message or of an interaction's message)."""
    return sum(
        1
        for r in fakes.discord.requests
        if r.time >= since and r.method == "PATCH" and "/messages/" in (r.route or r.path) and 200 <= r.status < 300
    )


def discord_figures(fakes: Fakes, since: float) -> dict[str, Any]:
    routes: Counter[str] = Counter()
    total = 0
    for record in fakes.discord.requests:
        if record.time >= since:
            total += 1
            routes[f"{record.method} {record.route or record.path}"] += 1
    return {"requests": total, "routes": dict(routes.most_common())}


# -- scenario 1: the burst -------------------------------------------------------------------------------


async def all_submitted(process: BotProcess, accepted: int) -> bool:
    """Every accepted job is recorded, and each unfinished one has its fal request id."""
    rows = await jobs_of(process)
    unfinished = [r for r in rows if r["state"] not in FINISHED]
    return len(rows) >= accepted and all(r["request_id"] for r in unfinished)


async def burst(
    params: Params, run_dir: Path, database_url: str | None = None, updates: str | None = None
) -> dict[str, Any]:
    rng = random.Random(params.seed)
    fakes = await start_fakes(run_dir)
    bot = BotProcess(fakes, run_dir, "burst", env=updates_env(updates, fakes), database_url=database_url)
    try:
        world = build_world(fakes.discord, channels=params.channels, members=params.burst_commands, premium_tier=0)
        videos = small_videos(run_dir)
        fakes.fal.script_next(*params.burst_timing.scripts(rng, params.burst_commands, videos))
        bot.start()
        await bot.wait_ready(timeout=60)
        await asyncio.sleep(1.0)
        watch = Watch(fakes)
        cpu_before = bot.cpu()
        since = time.monotonic()
        with LoopLag() as own_lag, Sampler(bot) as rss:
            interactions = await fire(fakes.discord, world, params.burst_commands, params.burst_seconds, rng)
            await wait_acks(interactions)
            accepted = sum(1 for i in interactions if i.callback_type == 5)
            first_ack = min((i.acknowledged_at for i in interactions if i.acknowledged_at), default=since)

            def all_delivered() -> bool:
                watch.update()
                return watch.delivered >= accepted

            longest = params.burst_timing.queue[1] + params.burst_timing.run[1]
            await wait_until(all_delivered, params.drain_timeout + longest, "every burst job delivered", quiet=True)
            last_delivery = time.monotonic()

            def all_done() -> bool:
                watch.update()
                return watch.done_edits >= watch.delivered

            # The final "Done" edit waits out the progress interval: count those requests too.
            await wait_until(all_done, 60, "every final progress edit", quiet=True)
            end = time.monotonic()
        latencies, unanswered = ack_latencies_ms(interactions)
        rows = await jobs_of(bot)
        return {
            "commands": params.burst_commands,
            "seconds": params.burst_seconds,
            "accepted": accepted,
            "ack_ms": latencies,
            "unanswered": unanswered,
            "delivered": watch.delivered,
            "duplicates": watch.duplicates,
            "failed": sum(1 for r in rows if r["state"] == "failed"),
            "fal": fal_figures(fakes, since),
            "discord": discord_figures(fakes, since),
            "count_429": fakes.discord.count_429,
            "refused_by": dict(fakes.limiter.refused_by),
            "lag_ms": bot.lag_samples(first_ack, last_delivery),
            "own_lag_ms": own_lag.between(since, end),
            "peak_rss": rss.peak(),
            "cpu_s": bot.cpu() - cpu_before,
            "wall_s": end - since,
            "final_edits": watch.done_edits,
            "updates": updates,
            "download": download_delays(fakes, since),
            "progress_edits": progress_edits(fakes, since),
        }
    finally:
        await stop_all([bot], fakes)


# -- scenario 2: 1,000 jobs in flight, kill -9, resume ---------------------------------------------------


async def inflight(
    params: Params, run_dir: Path, database_url: str | None = None, updates: str | None = None
) -> dict[str, Any]:
    rng = random.Random(params.seed + 1)
    count = params.inflight_jobs
    fakes = await start_fakes(run_dir)
    # On PostgreSQL the second process is a restart on the same host: same folder, same database.
    env = updates_env(updates, fakes)
    first = BotProcess(fakes, run_dir, "inflight-first", env=env, database_url=database_url)
    second = BotProcess(fakes, run_dir, "inflight-second", env=env, database_url=database_url)
    try:
        world = build_world(fakes.discord, channels=params.channels, members=count, premium_tier=0)
        videos = small_videos(run_dir)
        fakes.fal.script_next(*params.inflight_timing.scripts(rng, count, videos))
        first.start()
        await first.wait_ready(timeout=60)
        await asyncio.sleep(1.0)
        watch = Watch(fakes)
        since = time.monotonic()
        with LoopLag() as own_lag, Sampler(first) as rss:
            interactions = await fire(fakes.discord, world, count, count / params.inflight_rate, rng)
            await wait_acks(interactions)
            accepted = sum(1 for i in interactions if i.callback_type == 5)

            await wait_until(lambda: all_submitted(first, accepted), 120, "every job submitted to fal", interval=0.2)
            all_in_flight = time.monotonic()
            cpu_in_flight = first.cpu()
            streams_at_all_in_flight = fakes.fal.streams_open
            fakes.fal.streams_open_peak = fakes.fal.streams_open
            await asyncio.sleep(params.inflight_window)
            killed_at = time.monotonic()
            streams_at_kill, streams_peak = fakes.fal.streams_open, fakes.fal.streams_open_peak
            memory = first.status()
            window_cpu = first.cpu() - cpu_in_flight
            first.kill9()
        rows = await jobs_of(first)
        unfinished = [r for r in rows if r["state"] not in FINISHED]
        to_resume = {r["request_id"] for r in unfinished if r["state"] in ("queued", "running")}
        watch.update()
        delivered_before_kill = watch.delivered

        watch.status_since = time.monotonic()
        cpu_second = math.nan
        second.start()
        session = await fakes.discord.wait_ready(timeout=60, since=killed_at)
        assert session.ready_at is not None
        # CPU both sides spend while resuming: which of the bot and the fakes is the busy one.
        cpu_at_ready = (second.cpu(), time.process_time())

        def all_resumed() -> bool:
            watch.update()
            return to_resume <= watch.first_status.keys()

        await wait_until(all_resumed, 120, "every unfinished job polling fal again", interval=0.05)
        resumed_at = max((watch.first_status[rid] for rid in to_resume), default=session.ready_at)
        resume_cpu = (second.cpu() - cpu_at_ready[0], time.process_time() - cpu_at_ready[1])
        # The window ends 1 s after the last resume; the bot flushes its lag file every 0.5 s.
        await asyncio.sleep(max(0.0, resumed_at + 1.6 - time.monotonic()))
        restart_lag = second.lag_samples(session.ready_at, resumed_at + 1.0)

        def all_delivered() -> bool:
            watch.update()
            return watch.delivered >= accepted

        longest = params.inflight_timing.queue[1] + params.inflight_timing.run[1]
        await wait_until(all_delivered, params.drain_timeout + longest, "every job delivered after the restart")
        drained_at = time.monotonic()
        cpu_second = second.cpu()
        rows = await jobs_of(second)
        latencies, unanswered = ack_latencies_ms(interactions)
        return {
            "jobs": count,
            "engine": "postgresql" if database_url else "sqlite",
            "updates": updates,
            # fal status streams open (the fake's count): when all jobs were in flight, at the kill, and the
            # most at once between the two.
            "streams_open": {"all_in_flight": streams_at_all_in_flight, "kill": streams_at_kill, "peak": streams_peak},
            "rate": params.inflight_rate,
            "accepted": accepted,
            "ack_ms": latencies,
            "unanswered": unanswered,
            "in_flight_at_kill": len(unfinished),
            "delivered_before_kill": delivered_before_kill,
            "lag_ms": first.lag_samples(all_in_flight, killed_at),
            "window_s": killed_at - all_in_flight,
            "window_cpu_s": window_cpu,
            "window_fal_requests": sum(1 for r in fakes.fal.requests if all_in_flight <= r.time <= killed_at),
            "window_discord_requests": sum(1 for r in fakes.discord.requests if all_in_flight <= r.time <= killed_at),
            "ramp_lag_ms": first.lag_samples(since, all_in_flight),
            "own_lag_ms": own_lag.between(all_in_flight, killed_at),
            "peak_rss": max(memory.get("VmHWM", 0), rss.peak()),
            "rss_at_kill": memory.get("VmRSS", 0),
            "resume_s": resumed_at - session.ready_at,
            # On PostgreSQL a lone restarted process waits out its predecessor's leases (docs/postgresql.md).
            "kill_to_resumed_s": resumed_at - killed_at,
            "resumed": len(to_resume),
            "start_to_ready_s": session.ready_at - second.started_at,
            "resume_cpu_s": resume_cpu,
            # Seconds after READY at which each unfinished job made its first status request.
            "resume_offsets_s": sorted(watch.first_status[rid] - session.ready_at for rid in to_resume),
            "restart_lag_ms": restart_lag,
            "delivered": watch.delivered,
            "duplicates": watch.duplicates,
            "failed": sum(1 for r in rows if r["state"] == "failed"),
            "fal_submissions": len(fakes.fal.submissions),
            "count_429": fakes.discord.count_429,
            "refused_by": dict(fakes.limiter.refused_by),
            "drain_s": drained_at - session.ready_at,
            "cpu_second_s": cpu_second,
            "fal": fal_figures(fakes, since),
            "discord": discord_figures(fakes, since),
        }
    finally:
        await stop_all([first, second], fakes)


# -- scenario 4: two processes on one PostgreSQL, kill -9 of one -----------------------------------------


def owned_by(rows: list[dict[str, Any]], pid: int) -> list[dict[str, Any]]:
    """Rows leased to the process `pid` (a lease owner reads host:pid:random)."""
    return [r for r in rows if (r.get("lease_owner") or "").split(":")[1:2] == [str(pid)]]


async def cluster(params: Params, run_dir: Path, database_url: str) -> dict[str, Any]:
    rng = random.Random(params.seed + 3)
    count = params.cluster_jobs
    fakes = await start_fakes(run_dir)
    shards = {"SHARD_COUNT": "2", "SHARD_IDENTIFY_INTERVAL_SECONDS": "0"}
    if params.cluster_lease is not None:
        shards["JOB_LEASE_SECONDS"] = f"{params.cluster_lease:g}"
    # Each process its own DATABASE_PATH folder (health file, work files), as docs/postgresql.md asks.
    survivor = BotProcess(
        fakes, run_dir, "cluster-0", env={**shards, "SHARD_IDS": "0"}, database_url=database_url, data="data-0"
    )
    victim = BotProcess(
        fakes, run_dir, "cluster-1", env={**shards, "SHARD_IDS": "1"}, database_url=database_url, data="data-1"
    )
    bots = (survivor, victim)
    try:
        worlds = build_sharded_world(
            fakes.discord,
            shards=2,
            guilds_per_shard=params.cluster_guilds_per_shard,
            channels=params.cluster_channels,
            members=count,
        )
        videos = small_videos(run_dir)
        fakes.fal.script_next(*params.cluster_timing.scripts(rng, count, videos))
        survivor.start()  # shard 0 first: it registers the commands
        await fakes.discord.wait_ready(timeout=60, shard=0, shard_count=2)
        victim.start()
        await fakes.discord.wait_ready(timeout=60, shard=1, shard_count=2)
        await asyncio.sleep(1.0)
        watch = Watch(fakes)
        since = time.monotonic()
        with LoopLag() as own_lag, Sampler(survivor) as rss0, Sampler(victim) as rss1:
            interactions = await fire(fakes.discord, worlds, count, count / params.cluster_rate, rng)
            await wait_acks(interactions)
            accepted = sum(1 for i in interactions if i.callback_type == 5)

            await wait_until(lambda: all_submitted(survivor, accepted), 120, "every job submitted to fal", interval=0.2)
            all_in_flight = time.monotonic()
            await asyncio.sleep(params.cluster_window)
            victim_memory = victim.status()
            watch.status_since = killed_at = time.monotonic()
            victim.kill9()
            rows = await jobs_of(survivor)
            unfinished = [r for r in rows if r["state"] not in FINISHED]
            by_pid = {bot.name: owned_by(unfinished, bot.pid) for bot in bots}
            orphans = {r["request_id"] for r in by_pid[victim.name] if r["state"] in ("queued", "running")}

            def all_taken() -> bool:
                watch.update()
                return orphans <= watch.first_status.keys()

            lease = params.lease_seconds
            await wait_until(all_taken, lease * 2 + 60, "every orphaned job polling fal again", interval=0.05)
            taken_at = max((watch.first_status[rid] for rid in orphans), default=killed_at)
            survivor_lag_end = taken_at + 5.0
            await asyncio.sleep(max(0.0, survivor_lag_end - time.monotonic()))

            def all_delivered() -> bool:
                watch.update()
                return watch.delivered >= accepted

            longest = params.cluster_timing.queue[1] + params.cluster_timing.run[1]
            await wait_until(all_delivered, params.drain_timeout + longest, "every job delivered", quiet=True)
            drained_at = time.monotonic()

            async def all_finished() -> list[dict[str, Any]]:
                rows = await jobs_of(survivor)
                return rows if all(r["state"] in FINISHED for r in rows) else []

            # A job's state turns final just after its video is posted: give the last ones a moment.
            await wait_until(all_finished, 30, "every job in a final state", interval=0.5, quiet=True)
            survivor_memory = survivor.status()
        rows = await jobs_of(survivor)
        latencies, unanswered = ack_latencies_ms(interactions)
        offsets = sorted(watch.first_status[rid] - killed_at for rid in orphans)
        return {
            "jobs": count,
            "rate": params.cluster_rate,
            "accepted": accepted,
            "ack_ms": latencies,
            "unanswered": unanswered,
            "lease_s": lease,
            "lease_set": params.cluster_lease is not None,
            "owned_at_kill": {name: len(r) for name, r in by_pid.items()},
            "orphans": len(orphans),
            "orphans_unsubmitted": len(by_pid[victim.name]) - len(orphans),
            "kill_to_taken_s": taken_at - killed_at,
            "taken_offsets_s": offsets,
            "lag_ms": {
                survivor.name: survivor.lag_samples(all_in_flight, survivor_lag_end),
                victim.name: victim.lag_samples(all_in_flight, killed_at),
            },
            "ramp_lag_ms": {bot.name: bot.lag_samples(since, all_in_flight) for bot in bots},
            "peak_rss": {
                survivor.name: max(survivor_memory.get("VmHWM", 0), rss0.peak()),
                victim.name: max(victim_memory.get("VmHWM", 0), rss1.peak()),
            },
            "own_lag_ms": own_lag.between(since, drained_at),
            "delivered": watch.delivered,
            "duplicates": watch.duplicates,
            "failed": sum(1 for r in rows if r["state"] == "failed"),
            "unfinished": sum(1 for r in rows if r["state"] not in FINISHED),
            "fal_submissions": len(fakes.fal.submissions),
            "count_429": fakes.discord.count_429,
            "refused_by": dict(fakes.limiter.refused_by),
            "drain_s": drained_at - killed_at,
            "fal": fal_figures(fakes, since),
            "discord": discord_figures(fakes, since),
        }
    finally:
        await stop_all(bots, fakes)


# -- scenario 3: one 100 MiB video -----------------------------------------------------------------------


@dataclass
class VideoRun:
    baseline: int = 0
    peak: int = 0
    sampled_peak: int = 0
    after: int = 0
    hwm_reset: bool = False
    delivered: int = 0
    posted: list[tuple[str, int]] = field(default_factory=list)


async def video(
    params: Params, run_dir: Path, database_url: str | None = None, updates: str | None = None
) -> dict[str, Any]:
    fakes = await start_fakes(run_dir)
    bot = BotProcess(fakes, run_dir, "video", env=updates_env(updates, fakes), database_url=database_url)
    result = VideoRun()
    try:
        world = build_world(fakes.discord, channels=1, members=2, premium_tier=3)
        small = small_videos(run_dir)
        big = {
            s: await asyncio.to_thread(padded_video, run_dir / f"big-{s}s.mp4", small[s], params.video_bytes)
            for s in DURATIONS
        }
        big_shas = {await asyncio.to_thread(sha256, path) for path in big.values()}
        quick = JobScript(queue_seconds=0.2, run_seconds=0.5, start_position=0)
        fakes.fal.script_next(
            JobScript(quick.queue_seconds, quick.run_seconds, 0, video_by_seconds=small),
            JobScript(quick.queue_seconds, quick.run_seconds, 0, video_by_seconds=big),
        )
        bot.start()
        await bot.wait_ready(timeout=60)
        watch = Watch(fakes)
        rng = random.Random(params.seed + 2)

        def delivered(n: int) -> Any:
            def check() -> bool:
                watch.update()
                return watch.delivered >= n and watch.done_edits >= n

            return check

        # A first, small video warms every code path (TLS to fal's CDN, the upload) so that only what the
        # size of the video costs is measured.
        await fire(fakes.discord, world, 1, 0.0, rng)
        await wait_until(delivered(1), 60, "the warm-up video delivered")
        await asyncio.sleep(2.0)
        result.baseline = bot.status()["VmRSS"]
        result.hwm_reset = bot.reset_peak()
        with Sampler(bot, interval=0.01) as rss:
            await fire(fakes.discord, world, 1, 0.0, rng)
            await wait_until(delivered(2), 180, "the 100 MiB video delivered")
            await asyncio.sleep(0.5)
            status = bot.status()
        result.after = status["VmRSS"]
        result.sampled_peak = rss.peak()
        result.peak = max(status["VmHWM"] if result.hwm_reset else 0, result.sampled_peak)
        result.delivered = watch.delivered
        posted = watch.posted_files.get("sora-job-2", [])
        return {
            "bytes": params.video_bytes,
            "baseline": result.baseline,
            "peak": result.peak,
            "sampled_peak": result.sampled_peak,
            "after": result.after,
            "added": result.peak - result.baseline,
            "hwm_reset": result.hwm_reset,
            "delivered": result.delivered,
            "duplicates": watch.duplicates,
            "intact": len(posted) == 1 and posted[0][0] in big_shas and posted[0][1] == params.video_bytes,
        }
    finally:
        await stop_all([bot], fakes)


def summary_ms(values: list[float]) -> tuple[float, float, float]:
    return percentile(values, 50), percentile(values, 99), max(values, default=math.nan)
