"""Which client the settings make (bot/discord/client.py make_bot), and which process registers the
slash commands: the real discord.py classes, no connection."""

from __future__ import annotations

import time

import discord
import pytest
from discord.ext import commands

from bot.discord.client import ShardedSoraBot, SoraBot, make_bot


def bot(calls: list[str], **shards: object) -> SoraBot:
    async def install(client: SoraBot) -> None:
        calls.append("install")

    async def register(tree: object) -> None:
        calls.append("register")

    async def nothing() -> None:
        return None

    return make_bot(message_content=False, install=install, register=register, on_first_ready=nothing, **shards)  # type: ignore[arg-type]


async def test_without_a_shard_count_the_unsharded_bot_of_today():
    made = bot([])
    assert type(made) is SoraBot and not isinstance(made, discord.AutoShardedClient)
    assert made.shard_count is None and made.shard_id is None


async def test_with_a_shard_count_an_auto_sharded_bot_that_is_still_a_sora_bot():
    made = bot([], shard_count=4, shard_ids=(1, 3))
    assert isinstance(made, ShardedSoraBot) and isinstance(made, SoraBot)
    assert isinstance(made, commands.AutoShardedBot) and isinstance(made.tree, discord.app_commands.CommandTree)
    assert made.shard_count == 4 and made.shard_ids == [1, 3]
    everything = bot([], shard_count=2)
    assert isinstance(everything, ShardedSoraBot) and everything.shard_ids is None
    assert everything.last_heartbeat_ack() is None  # no shard connected yet: not healthy
    await made.close()
    await everything.close()


@pytest.mark.parametrize(
    ("shards", "registers"),
    [
        ({}, True),  # unsharded: the whole cluster
        ({"shard_count": 2}, True),  # every shard, 0 among them
        ({"shard_count": 2, "shard_ids": (0,)}, True),
        ({"shard_count": 4, "shard_ids": (0, 1)}, True),
        ({"shard_count": 2, "shard_ids": (1,)}, False),
        ({"shard_count": 4, "shard_ids": (2, 3)}, False),
    ],
)
async def test_only_the_process_serving_shard_0_registers_the_commands(shards, registers):
    calls: list[str] = []
    made = bot(calls, **shards)
    await made.setup_hook()
    assert calls == (["install", "register"] if registers else ["install"])


async def test_the_pause_between_identifies_is_discords_5_s_unless_lowered():
    quick = bot([], shard_count=2, identify_interval=0.0)
    began = time.monotonic()
    await quick.before_identify_hook(1, initial=False)
    assert time.monotonic() - began < 0.5
    slow = bot([], shard_count=2)
    assert slow._identify_interval == 5.0
    began = time.monotonic()
    await slow.before_identify_hook(0, initial=True)  # the first IDENTIFY never waits
    assert time.monotonic() - began < 0.5
