"""The three measured scenarios. Each starts its own fakes and bot process(es) in its own folder and returns
plain figures; __main__ turns them into the table.

burst      N slash commands from N members across several channels within one second, every job run to the
           end: acknowledgement latency, fal and Discord requests per job, 429s, loop lag, delivered/submitted.
inflight   M jobs at once: loop lag and RSS while they are all in flight, then kill -9, restart, time from
           READY until every unfinished job has polled fal again, and every job delivered after the restart.
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
    job_rows,
    percentile,
    start_fakes,
    stop_all,
    wait_until,
)
from tests.fakes.discord import FakeDiscord, FakeInteraction
from tests.fakes.fal import JobScript
from tests.fakes.media import make_mp4

STRING, INTEGER = 3, 4
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


def command_options(rng: random.Random) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = [{"name": "prompt", "type": STRING, "value": rng.choice(PROMPTS)}]
    duration = rng.choices(DURATIONS, weights=(6, 3, 1))[0]
    if duration != 4:
        found.append({"name": "duration", "type": INTEGER, "value": duration})
    if rng.random() < 0.3:
        found.append({"name": "aspect_ratio", "type": STRING, "value": "9:16"})
    return found


async def fire(
    discord: FakeDiscord, world: World, count: int, seconds: float, rng: random.Random
) -> list[FakeInteraction]:
    """`count` /generate commands, evenly spread over `seconds`, each from its own member, channels in turn."""
    start = time.monotonic()
    sent: list[asyncio.Task[FakeInteraction]] = []
    for index in range(count):
        delay = start + index * seconds / count - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        sent.append(
            asyncio.create_task(
                discord.send_slash_command(
                    world.guild_id,
                    world.channel_ids[index % len(world.channel_ids)],
                    world.user_ids[index % len(world.user_ids)],
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
        self.first_status: dict[str, float] = {}  # request id -> first status poll at/after `status_since`
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

    @property
    def delivered(self) -> int:
        return len(self.deliveries)

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.deliveries.values())


def fal_figures(fakes: Fakes, since: float) -> dict[str, Any]:
    """Queue API requests (submit, status, result, cancel) per job, against each job's scripted seconds."""
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
    queue_requests = sum(kinds[k] for k in ("submit", "status", "result", "cancel"))
    return {
        "jobs": len(jobs),
        "requests": queue_requests,
        "by_kind": dict(kinds),
        "per_job": queue_requests / len(jobs) if jobs else math.nan,
        "job_seconds_mean": sum(seconds) / len(seconds) if seconds else math.nan,
        "per_job_second": queue_requests / sum(seconds) if seconds else math.nan,
        "jobs_over_budget": over,
        "worst_over_budget": max((n - 2 - s / 4 for n, s in zip(requests, seconds, strict=True)), default=math.nan),
    }


def discord_figures(fakes: Fakes, since: float) -> dict[str, Any]:
    routes: Counter[str] = Counter()
    total = 0
    for record in fakes.discord.requests:
        if record.time >= since:
            total += 1
            routes[f"{record.method} {record.route or record.path}"] += 1
    return {"requests": total, "routes": dict(routes.most_common())}


# -- scenario 1: the burst -------------------------------------------------------------------------------


async def burst(params: Params, run_dir: Path) -> dict[str, Any]:
    rng = random.Random(params.seed)
    fakes = await start_fakes(run_dir)
    bot = BotProcess(fakes, run_dir, "burst")
    try:
        world = build_world(fakes.discord, channels=params.channels, members=params.burst_commands, premium_tier=0)
        videos = small_videos(run_dir)
        fakes.fal.script_next(*params.burst_timing.scripts(rng, params.burst_commands, videos))
        bot.start()
        await fakes.discord.wait_ready(timeout=60)
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
        rows = job_rows(bot.database)
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
        }
    finally:
        await stop_all([bot], fakes)


# -- scenario 2: 1,000 jobs in flight, kill -9, resume ---------------------------------------------------


async def inflight(params: Params, run_dir: Path) -> dict[str, Any]:
    rng = random.Random(params.seed + 1)
    count = params.inflight_jobs
    fakes = await start_fakes(run_dir)
    first = BotProcess(fakes, run_dir, "inflight-first")
    second = BotProcess(fakes, run_dir, "inflight-second")
    try:
        world = build_world(fakes.discord, channels=params.channels, members=count, premium_tier=0)
        videos = small_videos(run_dir)
        fakes.fal.script_next(*params.inflight_timing.scripts(rng, count, videos))
        first.start()
        await fakes.discord.wait_ready(timeout=60)
        await asyncio.sleep(1.0)
        watch = Watch(fakes)
        since = time.monotonic()
        with LoopLag() as own_lag, Sampler(first) as rss:
            interactions = await fire(fakes.discord, world, count, count / params.inflight_rate, rng)
            await wait_acks(interactions)
            accepted = sum(1 for i in interactions if i.callback_type == 5)

            def all_submitted() -> bool:
                rows = job_rows(first.database)
                unfinished = [r for r in rows if r["state"] not in FINISHED]
                return len(rows) >= accepted and all(r["request_id"] for r in unfinished)

            await wait_until(all_submitted, 120, "every job submitted to fal", interval=0.2)
            all_in_flight = time.monotonic()
            cpu_in_flight = first.cpu()
            await asyncio.sleep(params.inflight_window)
            killed_at = time.monotonic()
            memory = first.status()
            window_cpu = first.cpu() - cpu_in_flight
            first.kill9()
        rows = job_rows(first.database)
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
        restart_lag = second.lag_samples(session.ready_at, resumed_at + 1.0)

        def all_delivered() -> bool:
            watch.update()
            return watch.delivered >= accepted

        longest = params.inflight_timing.queue[1] + params.inflight_timing.run[1]
        await wait_until(all_delivered, params.drain_timeout + longest, "every job delivered after the restart")
        drained_at = time.monotonic()
        cpu_second = second.cpu()
        rows = job_rows(second.database)
        latencies, unanswered = ack_latencies_ms(interactions)
        return {
            "jobs": count,
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


async def video(params: Params, run_dir: Path) -> dict[str, Any]:
    fakes = await start_fakes(run_dir)
    bot = BotProcess(fakes, run_dir, "video")
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
        await fakes.discord.wait_ready(timeout=60)
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
