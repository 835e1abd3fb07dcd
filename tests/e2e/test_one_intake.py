"""Every way of making a video goes through one intake (cogs/flow.py): the shutdown check, the server's
rules, the deferral and the quota. Buttons, forms and reply-to-remix included, end to end through the fakes."""

from __future__ import annotations

import asyncio

from tests.e2e.helpers import callbacks, db_row, eventually, eventually_async, ledger_of, options, video_posts
from tests.fakes.fal import JobScript

MANAGE_GUILD = str(1 << 5)
SUB, GROUP, CHANNEL = 1, 2, 7
RESTARTING = "The bot is restarting; please try again in a minute."


async def make_video(world, bot, video_id="video_src"):
    """One delivered video; returns (job id, posted message id)."""
    world.fal.script_next(JobScript(queue_seconds=0.1, run_seconds=0.2, video_id=video_id))
    await world.discord.send_slash_command(
        world.guild_id, world.channel_id, world.user_id, name="generate", options=options("a red kite", duration=8)
    )

    async def delivered():
        videos = await bot.app.videos.recent_videos(world.guild_id, limit=100)
        return videos[0] if videos else None

    video = await eventually_async(delivered)
    await eventually(lambda: video_posts(world.discord, world.channel_id))
    return video.job_id, video.message_id


async def allow_only(world, channel_id):
    """/settings channels add, as an admin."""
    option = {
        "name": "channels",
        "type": GROUP,
        "options": [
            {"name": "add", "type": SUB, "options": [{"name": "channel", "type": CHANNEL, "value": str(channel_id)}]}
        ],
    }
    inter = await world.discord.send_slash_command(
        world.guild_id,
        world.channel_id,
        world.user_id,
        name="settings",
        options=[option],
        member_permissions=MANAGE_GUILD,
    )
    answer = (await eventually(lambda: callbacks(world.discord, inter.id)))[0]
    assert "may be made in" in answer.json["data"]["content"]


def bot_replies_to(world, message_id):
    """The bot's channel messages that reply to this message."""
    return [
        r.json
        for r in video_posts(world.discord, world.channel_id)
        if str(((r.json or {}).get("message_reference") or {}).get("message_id")) == str(message_id)
    ]


async def test_a_reroll_click_while_stopping_is_refused_privately_and_reserves_nothing(world, start_bot):
    world.fal.default_script = JobScript(queue_seconds=0.1, run_seconds=0.2)
    bot = await start_bot(quota_member_limit_usd=100)
    job_id, message_id = await make_video(world, bot)
    bot.app.bot.stop_taking_commands()  # what App.close does first on SIGTERM

    click = await world.discord.send_component_click(
        world.guild_id, world.channel_id, world.user_id, message_id, f"sora:reroll:{job_id}"
    )
    answer = (await eventually(lambda: callbacks(world.discord, click.id)))[0]
    assert answer.json["type"] == 4 and answer.json["data"]["flags"] == 64  # answered at once, privately
    assert answer.json["data"]["content"] == RESTARTING
    await asyncio.sleep(0.5)
    assert len(callbacks(world.discord, click.id)) == 1  # no "thinking…" left behind
    assert db_row(world, f"SELECT * FROM jobs WHERE id = {job_id + 1}") is None
    assert ledger_of(world, job_id + 1) == []
    assert len(world.fal.submissions) == 1


async def test_a_remix_form_submitted_while_stopping_is_refused_privately(world, start_bot):
    world.fal.default_script = JobScript(queue_seconds=0.1, run_seconds=0.2)
    bot = await start_bot(quota_member_limit_usd=100)
    job_id, message_id = await make_video(world, bot)
    bot.app.bot.stop_taking_commands()

    submit = await world.discord.send_modal_submit(
        world.guild_id,
        world.channel_id,
        world.user_id,
        f"sora:remix-prompt:{job_id}",
        {"prompt": "in watercolour"},
        message_id=message_id,
    )
    answer = (await eventually(lambda: callbacks(world.discord, submit.id)))[0]
    assert answer.json["type"] == 4 and answer.json["data"]["flags"] == 64
    assert answer.json["data"]["content"] == RESTARTING
    await asyncio.sleep(0.5)
    assert db_row(world, f"SELECT * FROM jobs WHERE id = {job_id + 1}") is None
    assert len(world.fal.submissions) == 1


async def test_a_reply_to_remix_outside_the_allowed_channels_is_refused_like_remix(world, start_bot):
    world.fal.default_script = JobScript(queue_seconds=0.1, run_seconds=0.2)
    bot = await start_bot(quota_member_limit_usd=100)
    job_id, message_id = await make_video(world, bot)
    other = world.discord.add_channel(world.guild_id, name="elsewhere")
    await allow_only(world, other.id)  # the video's channel is no longer allowed

    reply = await world.discord.send_message_create(
        world.guild_id, world.channel_id, world.user_id, "make it snow", reply_to=message_id, mentions_bot=True
    )
    answers = await eventually(lambda: bot_replies_to(world, reply["id"]))
    assert [a["content"] for a in answers] == [f"Videos are made in <#{other.id}> in this server."]
    await asyncio.sleep(0.5)
    assert [s.endpoint for s in world.fal.submissions] == ["fal-ai/sora-2/text-to-video"]  # no remix reached fal
    assert db_row(world, f"SELECT * FROM jobs WHERE id = {job_id + 1}") is None
    assert ledger_of(world, job_id + 1) == []


async def test_a_reply_to_remix_while_stopping_is_refused_and_reserves_nothing(world, start_bot):
    world.fal.default_script = JobScript(queue_seconds=0.1, run_seconds=0.2)
    bot = await start_bot(quota_member_limit_usd=100)
    job_id, message_id = await make_video(world, bot)
    bot.app.bot.stop_taking_commands()

    reply = await world.discord.send_message_create(
        world.guild_id, world.channel_id, world.user_id, "make it snow", reply_to=message_id, mentions_bot=True
    )
    answers = await eventually(lambda: bot_replies_to(world, reply["id"]))
    assert [a["content"] for a in answers] == [RESTARTING]
    await asyncio.sleep(0.5)
    assert len(world.fal.submissions) == 1
    assert db_row(world, f"SELECT * FROM jobs WHERE id = {job_id + 1}") is None
    assert ledger_of(world, job_id + 1) == []
