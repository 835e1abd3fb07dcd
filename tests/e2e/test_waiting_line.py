"""The waiting line end to end: beyond the limits of videos in progress a /generate waits its turn
(reserved), says where it stands, starts by itself when a slot frees, fairly between members, survives
kill -9, and can be cancelled (refunded, never sent to fal)."""

from __future__ import annotations

import asyncio

import pytest

from bot.domain.models import JobState
from tests.e2e.conftest import bot_process, kill9
from tests.e2e.helpers import (
    db_rows,
    eventually,
    eventually_async,
    followups,
    job_in_state,
    ledger_of,
    options,
    original_edits,
    private_refusal,
    video_posts,
)
from tests.fakes.fal import JobScript
from tests.pg import ENGINES


def states(world) -> dict[int, str]:
    return {r["id"]: r["state"] for r in db_rows(world, "SELECT id, state FROM jobs ORDER BY id")}


def prompts(world) -> list[str]:
    return [s.payload["prompt"] for s in world.fal.submissions]


async def generate(world, prompt: str, user_id: int | None = None):
    return await world.discord.send_slash_command(
        world.guild_id, world.channel_id, user_id or world.user_id, name="generate", options=options(prompt)
    )


def texts(world, inter) -> list[str]:
    return [e.json.get("content") or "" for e in original_edits(world.discord, inter.token) if e.json]


def shown(world, inter, text: str) -> bool:
    return any(text in t for t in texts(world, inter))


@pytest.mark.parametrize("engine", ENGINES)
async def test_four_at_a_limit_of_two_two_wait_then_start_by_themselves(world, start_bot):
    world.fal.default_script = JobScript(queue_seconds=2.0, run_seconds=1.0)
    await start_bot(quota_member_limit_usd=10.0, quota_max_jobs_per_member=2, quota_max_waiting_per_member=2)
    inters = []
    for n in range(1, 5):  # one after the other: the ids follow the order
        inters.append(await generate(world, f"video {n}"))
        await eventually(lambda n=n: len(states(world)) == n)
    assert states(world)[3] == states(world)[4] == "waiting"
    # Where each stands, in its progress message.
    await eventually(
        lambda: any("⏳ Waiting: 2 of your videos are being made; yours is next" in t for t in texts(world, inters[2]))
    )
    await eventually(
        lambda: any(
            "⏳ Waiting: 2 of your videos are being made; 1 more of yours before it" in t
            for t in texts(world, inters[3])
        )
    )
    # A fifth beyond QUOTA_MAX_WAITING_PER_MEMBER: refused privately, nothing reserved.
    fifth = await generate(world, "video 5")
    assert await private_refusal(world.discord, fifth) == (
        "You already have 2 videos waiting (the limit is 2); wait for one to start."
    )
    # Never more than two in progress: the waiting ones reach fal only after a slot freed.
    assert set(prompts(world)) <= {"video 1", "video 2"}
    await eventually(lambda: len(video_posts(world.discord, world.channel_id)) == 4, timeout=60)
    await eventually(lambda: set(states(world).values()) == {"delivered"})
    assert sorted(prompts(world)) == ["video 1", "video 2", "video 3", "video 4"]  # each sent once
    assert len(states(world)) == 4  # the fifth was never recorded
    for job_id in range(1, 5):
        assert ledger_of(world, job_id) == [("reserve", 400_000), ("commit", 400_000)]
    # The waiting ones' messages moved on from waiting to done.
    await eventually(lambda: "Done" in texts(world, inters[3])[-1])


@pytest.mark.parametrize("engine", ENGINES)
async def test_kill_9_while_two_wait_loses_none(world):
    world.fal.default_script = JobScript(queue_seconds=2.0, run_seconds=2.0)
    first = bot_process(world, QUOTA_MAX_JOBS_PER_MEMBER="2", QUOTA_MEMBER_LIMIT_USD="10")
    try:
        await world.discord.wait_ready(timeout=20)
        for n in range(1, 5):
            await generate(world, f"video {n}")
            await eventually(lambda n=n: len(states(world)) == n, timeout=20)
        await eventually(lambda: len(world.fal.submissions) == 2, timeout=20)
        kill9(first)
    finally:
        if first.poll() is None:
            kill9(first)
    assert [states(world)[3], states(world)[4]] == ["waiting", "waiting"]

    second = bot_process(world, QUOTA_MAX_JOBS_PER_MEMBER="2", QUOTA_MEMBER_LIMIT_USD="10")
    try:
        # Resumed, the waiting ones wait: nothing new reaches fal while the first two are unfinished.
        while states(world)[1] not in ("delivered", "failed") and states(world)[2] not in ("delivered", "failed"):
            assert len(world.fal.submissions) == 2
            await asyncio.sleep(0.05)
        await eventually(lambda: len(video_posts(world.discord, world.channel_id)) == 4, timeout=90)
        await eventually(lambda: set(states(world).values()) == {"delivered"}, timeout=20)
    finally:
        second.terminate()
        second.wait(10)
    assert sorted(prompts(world)) == ["video 1", "video 2", "video 3", "video 4"]
    for job_id in range(1, 5):
        assert ledger_of(world, job_id) == [("reserve", 400_000), ("commit", 400_000)]


async def test_cancel_while_waiting_refunds_and_never_reaches_fal(world, start_bot):
    world.fal.default_script = JobScript(queue_seconds=60.0, run_seconds=1.0)
    bot = await start_bot(quota_max_jobs_per_member=2)
    for n in range(1, 4):
        inter = await generate(world, f"video {n}")
        await eventually(lambda n=n: len(states(world)) == n)
    assert states(world)[3] == "waiting"
    edits = await eventually(
        lambda: [e for e in original_edits(world.discord, inter.token) if e.json.get("components")]
    )
    button = edits[-1].json["components"][0]["components"][0]
    assert button["label"] == "Cancel" and button["custom_id"] == "sora:cancel:3"
    assert "⏳ Waiting" in edits[-1].json["content"]
    progress_id = int(edits[-1].response_json["id"])
    click = await world.discord.send_component_click(
        world.guild_id, world.channel_id, world.user_id, progress_id, "sora:cancel:3"
    )
    reply = await eventually(lambda: [r for r in followups(world.discord, click.token) if r.json])
    assert reply[0].json["content"] == "Cancelled; $0.40 refunded." and reply[0].json["flags"] == 64
    assert (await bot.app.jobs.get_job(3)).state == JobState.CANCELLED
    assert ledger_of(world, 3) == [("reserve", 400_000), ("refund", -400_000)]
    final = await eventually(
        lambda: [
            e
            for e in world.discord.requests
            if e.method == "PATCH" and e.json and "Cancelled by" in e.json.get("content", "")
        ]
    )
    assert final[-1].json["components"] == []  # the button is gone
    await asyncio.sleep(0.5)
    assert sorted(prompts(world)) == ["video 1", "video 2"]  # never sent
    assert world.fal.count(kind="cancel") == 0  # nothing at fal to cancel


async def test_two_members_waiting_take_the_freed_slots_in_turn(world, start_bot):
    world.fal.default_script = JobScript(queue_seconds=2.0, run_seconds=0.5)
    bot = await start_bot(quota_member_limit_usd=10.0, quota_max_jobs_per_guild=1, quota_max_jobs_per_member=5)
    bob = world.discord.add_user(username="bob")
    # Alice's first starts; then both queue two more behind the server's limit of one.
    order = [("a1", None), ("a2", None), ("a3", None), ("b1", bob.id), ("b2", bob.id)]
    for n, (prompt, user) in enumerate(order, start=1):
        await generate(world, prompt, user)
        await eventually(lambda n=n: len(states(world)) == n)
    assert list(states(world).values()).count("waiting") == 4
    await eventually_async(lambda: job_in_state(bot.app.jobs, 5, JobState.DELIVERED), timeout=60)
    await eventually(lambda: set(states(world).values()) == {"delivered"}, timeout=30)
    # Bob had never had a video started: his goes first; then they alternate.
    assert prompts(world) == ["a1", "b1", "a2", "b2", "a3"]
