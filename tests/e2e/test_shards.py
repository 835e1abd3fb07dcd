"""The bot sharded (SHARD_COUNT, SHARD_IDS): the real discord.py AutoShardedBot against the fake Discord,
which sends each guild's events to the session of its shard only ((guild_id >> 22) % count)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from discord.ext import commands

from tests.e2e.helpers import callbacks, eventually, eventually_async, options, video_posts
from tests.fakes.discord import FakeDiscord
from tests.fakes.fal import JobScript
from tests.fakes.media import make_mp4

ROOT = Path(__file__).resolve().parents[2]
OP_HEARTBEAT = 1


def guild_per_shard(fake: FakeDiscord, count: int) -> list[tuple[int, int]]:
    """(guild id, channel id) of a guild on each shard of `count`."""
    made = []
    for shard in range(count):
        guild = fake.add_guild(guild_id=fake.guild_id_for_shard(shard, count), name=f"shard {shard}")
        made.append((guild.id, fake.add_channel(guild.id, name="videos").id))
    return made


def ids(payloads: list[dict]) -> set[int]:
    return {int(p["id"]) for p in payloads}


def command_puts(fake: FakeDiscord) -> list:
    return [r for r in fake.requests if r.method == "PUT" and "/commands" in r.path]


async def test_two_shards_in_one_process_each_guild_served_on_its_own_shard(world, start_bot, tmp_path):
    (zero, zero_channel), (one, one_channel) = guild_per_shard(world.discord, 2)
    world.fal.default_script = JobScript(video=make_mp4(tmp_path / "fal.mp4", seconds=4, width=640, height=360))
    bot = await start_bot(shard_count=2, shard_identify_interval_seconds=0)
    sessions = [await world.discord.wait_ready(shard=shard, shard_count=2) for shard in (0, 1)]
    client = bot.app.bot
    assert isinstance(client, commands.AutoShardedBot) and client.shard_count == 2
    assert sorted(client.shards) == [0, 1]
    assert [s.shard for s in sessions] == [(0, 2), (1, 2)] and sessions[0] is not sessions[1]
    await eventually(lambda: client.get_guild(zero) is not None and client.get_guild(one) is not None)
    assert (client.get_guild(zero).shard_id, client.get_guild(one).shard_id) == (0, 1)
    assert len(command_puts(world.discord)) == 1  # registered once, though two shards connected

    asked = {}
    for guild, channel, prompt in ((zero, zero_channel, "a lighthouse"), (one, one_channel, "a harbour")):
        asked[guild] = await world.discord.send_slash_command(
            guild, channel, world.user_id, name="generate", options=options(prompt, duration=4)
        )
    posts = await eventually(
        lambda: (
            (video_posts(world.discord, zero_channel), video_posts(world.discord, one_channel))
            if video_posts(world.discord, zero_channel) and video_posts(world.discord, one_channel)
            else None
        ),
        timeout=40,
    )

    # Each /generate delivered once, in its own guild's channel, with its own prompt.
    for channel_posts, prompt in zip(posts, ("a lighthouse", "a harbour"), strict=True):
        assert len(channel_posts) == 1 and len(channel_posts[0].files) == 1
        assert channel_posts[0].json["embeds"][0]["description"] == prompt
    assert sorted(s.payload["prompt"] for s in world.fal.submissions) == ["a harbour", "a lighthouse"]
    for guild in (zero, one):
        assert callbacks(world.discord, asked[guild].id)[0].json["type"] == 5  # deferred, answered
    # ... and each click arrived on its own shard's socket only.
    assert ids(sessions[0].events("INTERACTION_CREATE")) == {asked[zero].id}
    assert ids(sessions[1].events("INTERACTION_CREATE")) == {asked[one].id}


async def test_a_process_not_serving_shard_0_leaves_the_commands_alone(world, start_bot):
    (zero, _), (one, one_channel) = guild_per_shard(world.discord, 2)
    bot = await start_bot(shard_count=2, shard_ids="1")  # a fresh database: no digest recorded yet
    session = await world.discord.wait_ready(shard=1, shard_count=2)
    client = bot.app.bot
    assert isinstance(client, commands.AutoShardedBot) and client.shard_ids == [1]
    await eventually(lambda: client.get_guild(one) is not None)
    assert client.get_guild(zero) is None and world.discord.shard_session(0, 2) is None
    assert command_puts(world.discord) == []
    on_shard_1 = {g for g in world.discord.guilds if world.discord.shard_of(g, 2) == 1}  # the world's own too
    assert one in on_shard_1 and zero not in on_shard_1
    assert ids(session.events("GUILD_CREATE")) == on_shard_1


async def health(world, expected: int) -> bool:
    """Whether `python -m bot.ops.health` (Docker's HEALTHCHECK) exits with `expected`."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.ops.health",
        cwd=world.tmp,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(ROOT),
            "DATABASE_PATH": str(world.tmp / "data" / "bot.sqlite3"),
            "HEALTH_MAX_AGE_SECONDS": "1.5",
        },
        stdout=subprocess.DEVNULL,
    )
    return await process.wait() == expected


async def test_health_needs_every_shard_of_the_process_answered(world, start_bot, monkeypatch):
    guild_per_shard(world.discord, 2)
    world.discord.heartbeat_interval_ms = 200
    bot = await start_bot(shard_count=2, shard_identify_interval_seconds=0, health_max_age_seconds=1.5)
    await world.discord.wait_ready(shard=1, shard_count=2)
    await eventually_async(lambda: health(world, 0), timeout=10)
    client = bot.app.bot

    # Shard 1's heartbeats go unanswered (its socket stays open); shard 0's are answered as before.
    gateway = world.discord.gateway
    answer = gateway._on_frame

    async def shard_1_stalled(conn, frame):
        if not (frame.get("op") == OP_HEARTBEAT and conn.session is not None and conn.session.shard_id == 1):
            await answer(conn, frame)

    monkeypatch.setattr(gateway, "_on_frame", shard_1_stalled)
    await asyncio.sleep(1.0)
    ack, zero_ack, one_ack = client.last_heartbeat_ack(), _ack(client, 0), _ack(client, 1)
    assert ack is not None and zero_ack is not None and one_ack is not None
    assert ack < zero_ack - 0.5 and abs(ack - one_ack) < 0.05  # the oldest: shard 1's, not shard 0's fresh one
    await eventually_async(lambda: health(world, 1), timeout=10)

    monkeypatch.setattr(gateway, "_on_frame", answer)
    await eventually_async(lambda: health(world, 0), timeout=15)


def _ack(client, shard: int) -> float | None:
    from bot.discord.client import _acked_at

    return _acked_at(client.shards[shard]._parent.ws)
