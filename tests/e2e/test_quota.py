"""Quotas end to end: refusals before fal, the admin check on our side, Cancel, /usage."""

from __future__ import annotations

import logging

import pytest

from bot.domain.models import JobState
from tests.e2e.helpers import (
    callbacks,
    db_rows,
    eventually,
    eventually_async,
    followups,
    job_in_state,
    options,
    original_edits,
    private_refusal,
)
from tests.fakes.fal import JobScript
from tests.pg import ENGINES

# Quotas on either engine: refusals, admin changes, refunds and /usage read and write the same ledger.
pytestmark = pytest.mark.parametrize("engine", ENGINES)

MANAGE_GUILD = 1 << 5


def rows(world, sql: str) -> list[tuple]:
    return [tuple(row.values()) for row in db_rows(world, sql)]


async def test_over_the_limit_is_refused_privately_before_fal(world, start_bot):
    world.fal.default_script = JobScript(queue_seconds=0.1, run_seconds=0.2)
    await start_bot(quota_member_limit_usd=0.80, quota_period="weekly")
    first = await world.discord.send_slash_command(
        world.guild_id, world.channel_id, world.user_id, name="generate", options=options("one", duration=8)
    )
    await eventually(lambda: callbacks(world.discord, first.id))
    second = await world.discord.send_slash_command(
        world.guild_id, world.channel_id, world.user_id, name="generate", options=options("two", duration=8)
    )
    text = await private_refusal(world.discord, second)
    assert text.startswith("This 8 s Sora 2 video costs $0.80; you have $0.00 left until Mon ")
    assert text.endswith(" 00:00 UTC.")
    await eventually(lambda: world.fal.submissions)
    assert [s.payload["prompt"] for s in world.fal.submissions] == ["one"]


async def quota_set(world, target_id: int, limit: float, permissions: str) -> dict:
    """/quota set user limit, sent with the given member permissions; returns the bot's answer."""
    inter = await world.discord.send_slash_command(
        world.guild_id,
        world.channel_id,
        world.user_id,
        name="quota",
        options=[
            {
                "name": "set",
                "type": 1,
                "options": [
                    {"name": "user", "type": 6, "value": str(target_id)},
                    {"name": "limit", "type": 10, "value": limit},
                ],
            }
        ],
        member_permissions=permissions,
    )
    return (await eventually(lambda: callbacks(world.discord, inter.id)))[0].json


async def test_a_member_without_manage_server_cannot_change_quotas(world, start_bot):
    await start_bot()
    target = world.discord.add_user(username="bob")
    # A modified client can send the command even though default_permissions hides it.
    answer = await quota_set(world, target.id, 999.0, permissions="0")
    assert answer["data"]["flags"] == 64
    assert "Manage Server" in answer["data"]["content"]
    assert rows(world, "SELECT * FROM member_quotas") == []
    assert rows(world, "SELECT * FROM quota_audit") == []


async def test_an_admin_sets_a_limit_and_it_is_recorded(world, start_bot):
    await start_bot()
    target = world.discord.add_user(username="bob")
    answer = await quota_set(world, target.id, 2.5, permissions=str(MANAGE_GUILD))
    assert answer["data"]["flags"] == 64 and "$2.50" in answer["data"]["content"]
    assert rows(world, "SELECT user_id, limit_micros, updated_by FROM member_quotas") == [
        (target.id, 2_500_000, world.user_id)
    ]
    assert rows(world, "SELECT actor_id, action FROM quota_audit") == [(world.user_id, "member_limit")]


async def test_cancel_while_queued_cancels_at_fal_and_refunds(world, start_bot, caplog):
    caplog.set_level(logging.INFO, logger="bot.jobs.runner")
    world.fal.default_script = JobScript(queue_seconds=60.0, run_seconds=1.0)
    bot = await start_bot()
    inter = await world.discord.send_slash_command(
        world.guild_id, world.channel_id, world.user_id, name="generate", options=options("never mind")
    )
    await eventually_async(lambda: job_in_state(bot.app.jobs, 1, JobState.QUEUED))
    edits = await eventually(
        lambda: [e for e in original_edits(world.discord, inter.token) if e.json.get("components")]
    )
    button = edits[-1].json["components"][0]["components"][0]
    assert button["label"] == "Cancel" and button["custom_id"] == "sora:cancel:1"
    progress_id = int(edits[-1].response_json["id"])

    stranger = world.discord.add_user(username="mallory")
    refused = await world.discord.send_component_click(
        world.guild_id, world.channel_id, stranger.id, progress_id, "sora:cancel:1", member_permissions="0"
    )
    answer = (await eventually(lambda: callbacks(world.discord, refused.id)))[0]
    assert "Only the member who asked" in answer.json["data"]["content"]

    click = await world.discord.send_component_click(
        world.guild_id, world.channel_id, world.user_id, progress_id, "sora:cancel:1"
    )
    reply = await eventually(lambda: [r for r in followups(world.discord, click.token) if r.json])
    assert reply[0].json["content"] == "Cancelled; $0.40 refunded." and reply[0].json["flags"] == 64
    job = await bot.app.jobs.get_job(1)
    assert job.state == JobState.CANCELLED
    assert world.fal.count(kind="cancel") == 1
    assert f"job=1 guild={world.guild_id} user={world.user_id} state=cancelled cancelled by {world.user_id}" in (
        caplog.text
    )
    assert rows(world, "SELECT kind, amount_micros FROM ledger ORDER BY id") == [
        ("reserve", 400_000),
        ("refund", -400_000),
    ]
    final = await eventually(
        lambda: [
            e
            for e in world.discord.requests
            if e.method == "PATCH" and e.json and "Cancelled by" in e.json.get("content", "")
        ]
    )
    assert final[-1].json["components"] == []  # the button is gone


async def test_usage_shows_what_is_spent_and_left(world, start_bot):
    world.fal.default_script = JobScript(queue_seconds=0.1, run_seconds=0.2)
    bot = await start_bot(quota_member_limit_usd=2.0)
    await world.discord.send_slash_command(
        world.guild_id, world.channel_id, world.user_id, name="generate", options=options("a fox", duration=8)
    )
    await eventually_async(lambda: job_in_state(bot.app.jobs, 1, JobState.DELIVERED))
    inter = await world.discord.send_slash_command(world.guild_id, world.channel_id, world.user_id, name="usage")
    answer = (await eventually(lambda: callbacks(world.discord, inter.id)))[0]
    text = answer.json["data"]["content"]
    assert answer.json["data"]["flags"] == 64
    assert "Spent $0.80 of $2.00: you have **$1.20** left." in text
    assert "a fox" in text and "discord.com/channels/" in text
