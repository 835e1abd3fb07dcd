"""The persistent buttons (discord.py DynamicItems, bot/discord/buttons.py), the listener for what they do not
take (cogs/components.py), and the one error path (bot/discord/errors.py), end to end through the fakes:
each click is answered exactly once, a failure ends in a private answer and a log line with the job, and
once the interaction's token is dead, in a channel message that pings only the member."""

from __future__ import annotations

import asyncio
import sqlite3

from bot.domain.models import JobState
from tests.e2e.helpers import (
    callbacks,
    eventually,
    eventually_async,
    followups,
    job_in_state,
    ledger_of,
    options,
    original_edits,
    video_posts,
)
from tests.fakes.fal import JobScript

EPHEMERAL = 64
RESTARTING = "The bot is restarting; please try again in a minute."
BUTTON_GONE = "This button no longer works."
FAILED = "Sorry, that failed on our side; please try again."
COMMAND_FAILED = "Sorry, that failed on our side. Nothing was charged; please try again."


async def queued_job(world, bot):
    """Job 1 waiting at fal (for a minute) under a progress message with its Cancel button; its message id."""
    world.fal.default_script = JobScript(queue_seconds=60.0, run_seconds=1.0)
    inter = await world.discord.send_slash_command(
        world.guild_id, world.channel_id, world.user_id, name="generate", options=options("never mind")
    )
    await eventually_async(lambda: job_in_state(bot.app.jobs, 1, JobState.QUEUED))
    edits = await eventually(
        lambda: [e for e in original_edits(world.discord, inter.token) if e.json.get("components")]
    )
    assert edits[-1].json["components"][0]["components"][0]["custom_id"] == "sora:cancel:1"
    return int(edits[-1].response_json["id"])


async def delivered_video(world, bot):
    """One delivered video with its Remix and Re-roll buttons; (job id, message id)."""
    world.fal.script_next(JobScript(queue_seconds=0.1, run_seconds=0.2, video_id="video_src"))
    await world.discord.send_slash_command(
        world.guild_id, world.channel_id, world.user_id, name="generate", options=options("a red kite", duration=8)
    )

    async def delivered():
        videos = await bot.app.videos.recent_videos(world.guild_id, limit=100)
        return videos[0] if videos else None

    video = await eventually_async(delivered)
    await eventually(lambda: video_posts(world.discord, world.channel_id))
    return video.job_id, video.message_id


async def only_answer(world, inter, settle=0.5):
    """The interaction's one callback, after a moment in which no second one came."""
    first = (await eventually(lambda: callbacks(world.discord, inter.id)))[0]
    await asyncio.sleep(settle)
    assert len(callbacks(world.discord, inter.id)) == 1, [c.json for c in callbacks(world.discord, inter.id)]
    return first.json


def replies_to(world, message_id):
    """What the bot posted in the channel as replies to that message."""
    return [
        r.json
        for r in video_posts(world.discord, world.channel_id)
        if str(((r.json or {}).get("message_reference") or {}).get("message_id")) == str(message_id)
    ]


def errors_logged(caplog, logger=""):
    """The ERROR lines logged (by loggers under `logger`, if given)."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelname in ("ERROR", "CRITICAL") and (not logger or r.name == logger or r.name.startswith(f"{logger}."))
    ]


def private(answer):
    """(type, content, flags) of an interaction callback."""
    return answer["type"], answer["data"]["content"], answer["data"]["flags"]


async def test_cancel_works_after_a_restart_and_is_answered_once(world, start_bot):
    first = await start_bot(quota_member_limit_usd=100)
    progress_id = await queued_job(world, first)
    await first.stop()
    bot = await start_bot(quota_member_limit_usd=100)

    click = await world.discord.send_component_click(
        world.guild_id, world.channel_id, world.user_id, progress_id, "sora:cancel:1"
    )
    reply = await eventually(lambda: [r for r in followups(world.discord, click.token) if r.json])
    assert reply[0].json["content"] == "Cancelled; $0.40 refunded." and reply[0].json["flags"] == EPHEMERAL
    assert (await only_answer(world, click))["type"] == 5  # the deferral, and no "no longer works" besides
    assert (await bot.app.jobs.get_job(1)).state == JobState.CANCELLED
    assert world.fal.count(kind="cancel") == 1


async def test_a_template_id_the_clicked_message_does_not_carry_no_longer_works(world, start_bot, caplog):
    # discord.py's DynamicItem drops such a click silently: the listener must answer it, once.
    bot = await start_bot()
    job_id, message_id = await delivered_video(world, bot)
    for custom_id in (f"sora:cancel:{job_id}", f"sora:remix:{job_id + 1}", f"sora:reroll:{2**63}"):
        click = await world.discord.send_component_click(
            world.guild_id, world.channel_id, world.user_id, message_id, custom_id
        )
        answer = await only_answer(world, click, settle=0.3)
        assert private(answer) == (4, BUTTON_GONE, EPHEMERAL), custom_id
    assert len(world.fal.submissions) == 1
    assert errors_logged(caplog) == []


async def test_a_button_whose_handler_fails_answers_privately_and_logs_the_job(world, start_bot, caplog):
    bot = await start_bot()
    progress_id = await queued_job(world, bot)
    # Cancel's answer (a followup after its deferral) is refused (a 400: discord.py retries a 503): the
    # handler raises.
    hook = rf"/webhooks/{world.discord.application_id}/.+"
    fault = world.discord.fault("POST", hook, "status", status=400, contains="refunded")

    click = await world.discord.send_component_click(
        world.guild_id, world.channel_id, world.user_id, progress_id, "sora:cancel:1"
    )
    sent = await eventually(lambda: [r for r in followups(world.discord, click.token) if r.status == 200])
    assert [(r.json["content"], r.json["flags"]) for r in sent] == [(FAILED, EPHEMERAL)]
    assert fault.hits == 1
    assert (await only_answer(world, click))["type"] == 5
    assert errors_logged(caplog) == [f"button sora:cancel:1 failed job=1 guild={world.guild_id} user={world.user_id}"]
    assert click.token not in caplog.text and world.discord.bot_token not in caplog.text


async def test_cancel_and_reroll_while_draining_are_refused_privately_and_reserve_nothing(world, start_bot):
    bot = await start_bot(quota_member_limit_usd=100)
    job_id, message_id = await delivered_video(world, bot)
    progress_id = await queued_job_after(world, bot, job_id + 1)
    ledger_before = {n: ledger_of(world, n) for n in (job_id, job_id + 1, job_id + 2)}
    bot.app.bot.stop_taking_commands()

    clicks = [
        await world.discord.send_component_click(
            world.guild_id, world.channel_id, world.user_id, message_id, f"sora:reroll:{job_id}"
        ),
        await world.discord.send_component_click(
            world.guild_id, world.channel_id, world.user_id, message_id, f"sora:remix:{job_id}"
        ),
        await world.discord.send_component_click(
            world.guild_id, world.channel_id, world.user_id, progress_id, f"sora:cancel:{job_id + 1}"
        ),
    ]
    for click in clicks:
        answer = await only_answer(world, click, settle=0.3)
        assert private(answer) == (4, RESTARTING, EPHEMERAL)
    assert {n: ledger_of(world, n) for n in ledger_before} == ledger_before
    assert (await bot.app.jobs.get_job(job_id + 1)).state == JobState.QUEUED  # not cancelled
    assert await bot.app.jobs.get_job(job_id + 2) is None
    assert world.fal.count(kind="cancel") == 0 and len(world.fal.submissions) == 2


async def queued_job_after(world, bot, job_id):
    """queued_job for a later job: its progress message id."""
    world.fal.script_next(JobScript(queue_seconds=60.0, run_seconds=1.0))
    inter = await world.discord.send_slash_command(
        world.guild_id, world.channel_id, world.user_id, name="generate", options=options("slowly")
    )
    await eventually_async(lambda: job_in_state(bot.app.jobs, job_id, JobState.QUEUED))
    edits = await eventually(
        lambda: [e for e in original_edits(world.discord, inter.token) if e.json.get("components")]
    )
    return int(edits[-1].response_json["id"])


async def test_an_error_once_the_token_is_dead_ends_in_the_channel_pinging_only_the_member(world, start_bot, caplog):
    bot = await start_bot()
    progress_id = await queued_job(world, bot)
    world.discord.token_lifetime = 0.0  # every webhook call from now on: 401 Invalid Webhook Token (50027)

    click = await world.discord.send_component_click(
        world.guild_id, world.channel_id, world.user_id, progress_id, "sora:cancel:1"
    )

    def told():
        return [r for r in video_posts(world.discord, world.channel_id) if FAILED in str((r.json or {}).get("content"))]

    post = (await eventually(told))[0]
    assert post.json["content"] == f"<@{world.user_id}> {FAILED}"
    assert post.json["allowed_mentions"] == {"parse": [], "users": [world.user_id]}
    assert post.headers["Authorization"] == f"Bot {world.discord.bot_token}"
    assert [r.status for r in followups(world.discord, click.token)] == [401, 401]  # the answer, then the error's
    assert errors_logged(caplog) == [f"button sora:cancel:1 failed job=1 guild={world.guild_id} user={world.user_id}"]
    assert len(told()) == 1


async def test_a_failing_reply_to_remix_is_answered_by_a_reply(world, start_bot, caplog):
    # $1.00 a day: the first 8 s video ($0.80) leaves too little for its remix, whose refusal Discord drops.
    bot = await start_bot(quota_member_limit_usd=1.0)
    job_id, message_id = await delivered_video(world, bot)
    fault = world.discord.fault(
        "POST", rf"/channels/{world.channel_id}/messages", "status", status=503, contains="costs"
    )

    reply = await world.discord.send_message_create(
        world.guild_id, world.channel_id, world.user_id, "make it snow", reply_to=message_id, mentions_bot=True
    )

    def answers():
        return replies_to(world, reply["id"])

    answer = (await eventually(answers))[0]
    assert answer["content"] == FAILED
    assert answer["allowed_mentions"]["replied_user"] is False
    assert fault.hits == 1
    await asyncio.sleep(0.5)
    assert len(answers()) == 1
    assert errors_logged(caplog, "bot") == [
        f"reply-to-remix message {reply['id']} failed job={job_id} guild={world.guild_id} user={world.user_id}"
    ]
    assert ledger_of(world, job_id) == [("reserve", 800000), ("commit", 800000)]
    assert ledger_of(world, job_id + 1) == []  # the refused remix reserved nothing


async def test_a_lost_remix_acknowledgement_still_delivers_the_remix_once(world, start_bot, caplog):
    """The remix is accepted (and reserved) before its "Remix queued" reply: when Discord drops that reply,
    the job runs anyway and its video arrives as a reply to the member's message; nobody is told to ask
    again for a video already on its way."""
    bot = await start_bot(quota_member_limit_usd=100)
    _, message_id = await delivered_video(world, bot)
    fault = world.discord.fault(
        "POST", rf"/channels/{world.channel_id}/messages", "status", status=503, contains="Remix queued"
    )

    reply = await world.discord.send_message_create(
        world.guild_id, world.channel_id, world.user_id, "make it snow", reply_to=message_id, mentions_bot=True
    )

    def answers():
        return replies_to(world, reply["id"])

    answer = (await eventually(answers, timeout=20))[0]
    assert answer["content"] == f"<@{world.user_id}> your video is ready."
    assert fault.hits >= 1
    await eventually_async(lambda: job_in_state(bot.app.jobs, 2, JobState.DELIVERED))
    await asyncio.sleep(0.5)
    assert len(answers()) == 1
    assert errors_logged(caplog) == []  # none at all: a reply that pings the bot is no failed command
    assert ledger_of(world, 2) == [("reserve", 800000), ("commit", 800000)]


async def test_a_failing_command_is_answered_privately_and_logged(world, start_bot, caplog):
    await start_bot()
    # The deferral is refused (a 400: discord.py retries a 503): /generate raises before anything is reserved.
    fault = world.discord.fault("POST", r"/interactions/.+/callback", "status", status=400, contains='"type": 5')
    inter = await world.discord.send_slash_command(
        world.guild_id, world.channel_id, world.user_id, name="generate", options=options("a red kite")
    )
    answer = await eventually(lambda: [r for r in callbacks(world.discord, inter.id) if r.status < 300])
    assert private(answer[0].json) == (4, COMMAND_FAILED, EPHEMERAL)
    assert fault.hits == 1
    assert errors_logged(caplog) == [f"command generate failed job=None guild={world.guild_id} user={world.user_id}"]
    assert world.fal.submissions == [] and ledger_of(world, 1) == []


async def test_a_failure_after_the_public_deferral_is_answered_privately(world, start_bot, caplog):
    """The database stays locked by another program past the bot's busy timeout while /generate reserves
    the quota, after its public "thinking…": that answer is deleted, the error is told privately, and
    nothing is recorded."""
    await start_bot(quota_member_limit_usd=10)
    blocker = sqlite3.connect(world.tmp / "data" / "bot.sqlite3", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        inter = await world.discord.send_slash_command(
            world.guild_id, world.channel_id, world.user_id, name="generate", options=options("a red kite")
        )
        told = await eventually(lambda: followups(world.discord, inter.token), timeout=30)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert callbacks(world.discord, inter.id)[0].json["type"] == 5  # the public "thinking…"
    deleted = [
        r
        for r in world.discord.requests
        if r.method == "DELETE" and r.path.endswith(f"/{inter.token}/messages/@original")
    ]
    assert len(deleted) == 1 and deleted[0].time < told[0].time
    assert (told[0].json["content"], told[0].json["flags"]) == (COMMAND_FAILED, EPHEMERAL)
    assert errors_logged(caplog) == [f"command generate failed job=None guild={world.guild_id} user={world.user_id}"]
    assert world.fal.submissions == [] and ledger_of(world, 1) == []


async def test_a_failing_form_is_answered_privately_and_logged_with_its_job(world, start_bot, caplog):
    bot = await start_bot(quota_member_limit_usd=100)
    job_id, message_id = await delivered_video(world, bot)
    # The remix's deferral is refused: the form's handler raises before anything is reserved.
    fault = world.discord.fault("POST", r"/interactions/.+/callback", "status", status=400, contains='"type": 5')
    submit = await world.discord.send_modal_submit(
        world.guild_id,
        world.channel_id,
        world.user_id,
        f"sora:remix-prompt:{job_id}",
        {"prompt": "in watercolour"},
        message_id=message_id,
    )
    answer = await eventually(lambda: [r for r in callbacks(world.discord, submit.id) if r.status < 300])
    assert private(answer[0].json) == (4, FAILED, EPHEMERAL)
    assert fault.hits == 1
    assert errors_logged(caplog) == [
        f"form sora:remix-prompt:{job_id} failed job={job_id} guild={world.guild_id} user={world.user_id}"
    ]
    assert await bot.app.jobs.get_job(job_id + 1) is None and ledger_of(world, job_id + 1) == []
    assert len(world.fal.submissions) == 1
