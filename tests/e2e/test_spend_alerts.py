"""Spend alerts end to end, on both engines: /settings alerts (admins only, checked by the bot), then
jobs whose reservations cross 50 %, 80 % and 100 % of a $5.00 budget post one alert per threshold and
period in the alerts channel, pinging nobody; a restart posts none again; alerts off, or a member's own
limit, post nothing; a budget refusal posts 100 %; Discord down, or its answer lost, still posts once."""

from __future__ import annotations

import asyncio

import pytest

from tests.e2e.helpers import callbacks, db_rows, eventually, followups, options
from tests.pg import ENGINES

pytestmark = pytest.mark.parametrize("engine", ENGINES)

MANAGE_GUILD = str(1 << 5)
# A $5.00 budget, no member limit; a heartbeat (and its sweep) every ~2 s.
BUDGET = dict(quota_budget_usd=5.0, quota_member_limit_usd=None, job_lease_seconds=5.0)


async def set_alerts(world, channel_id: int | None, permissions: str = MANAGE_GUILD) -> str:
    """/settings alerts [channel]; returns the private answer."""
    opts = [] if channel_id is None else [{"name": "channel", "type": 7, "value": str(channel_id)}]
    inter = await world.discord.send_slash_command(
        world.guild_id,
        world.channel_id,
        world.user_id,
        name="settings",
        options=[{"name": "alerts", "type": 1, "options": opts}],
        member_permissions=permissions,
    )
    answer = (await eventually(lambda: callbacks(world.discord, inter.id)))[0].json
    assert answer["data"]["flags"] == 64  # private
    return answer["data"]["content"]


async def generate(world, duration: int, user_id: int | None = None) -> str | None:
    """A Sora 2 video of `duration` s ($0.10 a second), once its reservation is written (None) or it is
    refused (the private refusal's text)."""
    jobs = len(db_rows(world, "SELECT id FROM jobs"))
    inter = await world.discord.send_slash_command(
        world.guild_id,
        world.channel_id,
        user_id or world.user_id,
        name="generate",
        options=options("a calm lake", duration=duration),
    )

    def outcome():
        sent = followups(world.discord, inter.token)
        if sent and sent[0].json.get("flags") == 64:
            return ("refused", str(sent[0].json["content"]))
        return ("accepted", None) if len(db_rows(world, "SELECT id FROM jobs")) > jobs else None

    return (await eventually(outcome))[1]


async def quiet() -> None:
    """Long enough for what could still be posted to have been: a heartbeat and its sweep."""
    await asyncio.sleep(2.5)


def alerts_in(world, channel_id: int) -> list[dict]:
    return world.discord.messages(channel_id)


def alert_posts(world, channel_id: int) -> list:
    return [r for r in world.discord.requests if r.method == "POST" and r.path == f"/channels/{channel_id}/messages"]


def outbox(world) -> list[tuple[int, str]]:
    return [
        (r["threshold"], r["state"]) for r in db_rows(world, "SELECT threshold, state FROM spend_alerts ORDER BY id")
    ]


async def test_crossing_80_posts_one_alert_a_restart_none_again_and_the_budget_used_up_the_next(world, start_bot):
    alerts = world.discord.add_channel(world.guild_id, name="alerts")
    bot = await start_bot(**BUDGET)
    answer = await set_alerts(world, alerts.id)
    assert answer == (
        f"Spend alerts will be posted in <#{alerts.id}> when this server's spend reaches 50 %, 80 % and 100 % "
        "of its budget."
    )
    assert (await generate(world, 20)) is None  # $2.00: 40 %
    assert (await generate(world, 20)) is None  # $4.00: 80 % (50 % crossed with it)
    (alert,) = await eventually(lambda: alerts_in(world, alerts.id))
    content = alert["content"]
    assert content.startswith("💸 This server has spent 80 % of its video budget: $4.00 of $5.00 this period.")
    assert "The budget resets on " in content
    assert f"Top spenders this period:\n<@{world.user_id}>: $4.00" in content
    assert alert["mentions"] == [] and not alert["mention_everyone"]  # nobody pinged
    (post,) = alert_posts(world, alerts.id)
    assert post.json["allowed_mentions"]["parse"] == []
    assert post.json["nonce"].startswith("sora-alert-") and post.json["enforce_nonce"] is True
    await eventually(lambda: outbox(world) == [(50, "covered"), (80, "sent")])
    await bot.stop()

    bot = await start_bot(**BUDGET)  # the same database: the start's sweep finds nothing owed
    assert (await generate(world, 4)) is None  # $4.40: 88 %, nothing crossed
    await quiet()
    assert len(alerts_in(world, alerts.id)) == 1

    why = await generate(world, 12)  # $5.60 > $5.00: the budget refuses it
    assert why is not None and "this server's budget" in why
    await eventually(lambda: len(alerts_in(world, alerts.id)) == 2)
    used_up = alerts_in(world, alerts.id)[-1]["content"]
    assert used_up.startswith("💸 This server's video budget is used up: $4.40 spent of $5.00 this period.")
    assert "A video was refused because the budget would have been exceeded." in used_up
    assert outbox(world) == [(50, "covered"), (80, "sent"), (100, "sent")]
    assert (await generate(world, 12)) is not None  # refused again: no second 100 % alert
    await quiet()
    assert len(alerts_in(world, alerts.id)) == 2


async def test_crossing_50_then_80_posts_two_alerts(world, start_bot):
    alerts = world.discord.add_channel(world.guild_id, name="alerts")
    await start_bot(**BUDGET)
    await set_alerts(world, alerts.id)
    for duration in (12, 20, 12):  # $1.20 (24 %), $3.20 (64 %), $4.40 (88 %)
        assert (await generate(world, duration)) is None
    posted = await eventually(lambda: len(alerts_in(world, alerts.id)) == 2 and alerts_in(world, alerts.id))
    assert [m["content"].splitlines()[0] for m in posted] == [
        "💸 This server has spent 50 % of its video budget: $3.20 of $5.00 this period.",
        "💸 This server has spent 80 % of its video budget: $4.40 of $5.00 this period.",
    ]


async def test_alerts_turned_off_post_nothing(world, start_bot):
    alerts = world.discord.add_channel(world.guild_id, name="alerts")
    await start_bot(**BUDGET)
    await set_alerts(world, alerts.id)
    assert await set_alerts(world, None) == "Spend alerts are off."
    for _ in range(2):
        assert (await generate(world, 20)) is None
    assert (await generate(world, 20)) is not None  # the budget refuses: still nothing
    await quiet()
    assert alerts_in(world, alerts.id) == [] and outbox(world) == []
    audit = db_rows(world, "SELECT actor_id, action, details FROM settings_audit ORDER BY id")
    assert [(a["actor_id"], a["action"]) for a in audit] == [(world.user_id, "alerts")] * 2  # who, recorded


async def test_a_members_own_limit_refusing_a_job_is_no_alert(world, start_bot):
    alerts = world.discord.add_channel(world.guild_id, name="alerts")
    await start_bot(**{**BUDGET, "quota_member_limit_usd": 1.0})
    await set_alerts(world, alerts.id)
    why = await generate(world, 20)
    assert why is not None and "you have" in why
    await quiet()
    assert alerts_in(world, alerts.id) == [] and outbox(world) == []


async def test_discord_down_when_the_alert_is_due_posts_it_once_when_it_is_back(world, start_bot):
    alerts = world.discord.add_channel(world.guild_id, name="alerts")
    down = world.discord.fault("POST", f"/channels/{alerts.id}/messages", "status", status=503, count=-1)
    bot = await start_bot(**BUDGET)
    await set_alerts(world, alerts.id)
    assert (await generate(world, 20)) is None
    assert (await generate(world, 20)) is None
    await eventually(lambda: down.hits >= 1)
    assert outbox(world) == [(50, "covered"), (80, "pending")]  # kept, to be tried again
    await bot.stop()  # the bot dies with its alert unsent

    world.discord.faults.clear()
    await start_bot(**BUDGET)  # the start's sweep posts it
    await eventually(lambda: outbox(world) == [(50, "covered"), (80, "sent")])
    (alert,) = alerts_in(world, alerts.id)
    assert "80 %" in alert["content"]
    (row,) = db_rows(world, "SELECT message_id FROM spend_alerts WHERE threshold = 80")
    assert int(row["message_id"]) == int(alert["id"])


async def test_an_alert_whose_answer_was_lost_is_posted_once(world, start_bot):
    alerts = world.discord.add_channel(world.guild_id, name="alerts")
    # Discord makes the message, then the connection drops: the bot cannot know; the next sweep posts again
    # with the same nonce, and Discord answers with the message it already has.
    lost = world.discord.fault("POST", f"/channels/{alerts.id}/messages", "answer_lost")
    await start_bot(**BUDGET)
    await set_alerts(world, alerts.id)
    assert (await generate(world, 20)) is None
    assert (await generate(world, 20)) is None
    await eventually(lambda: outbox(world) == [(50, "covered"), (80, "sent")], timeout=30)
    assert lost.hits == 1 and len(alert_posts(world, alerts.id)) >= 2
    (alert,) = alerts_in(world, alerts.id)
    assert "80 %" in alert["content"]


async def test_a_gone_channel_gives_the_alert_up(world, start_bot):
    alerts = world.discord.add_channel(world.guild_id, name="alerts", bot_can_send=False)
    bot = await start_bot(**BUDGET)
    await set_alerts(world, alerts.id)
    assert (await generate(world, 20)) is None
    assert (await generate(world, 20)) is None
    await eventually(lambda: outbox(world) == [(50, "covered"), (80, "given_up")])
    await bot.stop()
    posts = len(alert_posts(world, alerts.id))
    bot = await start_bot(**BUDGET)
    await quiet()
    assert len(alert_posts(world, alerts.id)) == posts  # never tried again


async def test_alerts_need_manage_server_and_a_budget_and_show_in_settings(world, start_bot):
    alerts = world.discord.add_channel(world.guild_id, name="alerts")
    await start_bot()  # no budget
    answer = await set_alerts(world, alerts.id, permissions="0")  # a modified client shows the command
    assert "Manage Server" in answer
    assert db_rows(world, "SELECT * FROM settings_audit") == []
    answer = await set_alerts(world, alerts.id)
    assert answer.endswith("\nThis server has no budget yet: set one with /quota budget.")
    inter = await world.discord.send_slash_command(
        world.guild_id,
        world.channel_id,
        world.user_id,
        name="settings",
        options=[{"name": "show", "type": 1, "options": []}],
        member_permissions=MANAGE_GUILD,
    )
    embed = (await eventually(lambda: callbacks(world.discord, inter.id)))[0].json["data"]["embeds"][0]
    assert {"name": "Spend alerts", "value": f"<#{alerts.id}>", "inline": True} in embed["fields"]
