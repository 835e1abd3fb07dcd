"""/generate end to end: the real discord.py client and fal_client against the loopback fakes."""

from __future__ import annotations

import json

from bot.domain.models import JobState
from tests.e2e.conftest import FAL_KEY
from tests.e2e.helpers import (
    callbacks,
    eventually,
    eventually_async,
    job_in_state,
    options,
    original_edits,
    sha256,
    video_posts,
)
from tests.fakes.fal import JobScript
from tests.fakes.media import make_mp4


async def test_generate_delivers_fal_video_with_progress(world, start_bot, tmp_path):
    source = make_mp4(tmp_path / "fal.mp4", seconds=8, width=640, height=360)  # the 8 s asked for
    world.fal.default_script = JobScript(queue_seconds=4.0, run_seconds=5.0, video=source, video_id="video_abc")
    bot = await start_bot(progress_min_interval_seconds=3.0, fal_poll_min_seconds=1.0, fal_poll_max_seconds=5.0)

    inter = await world.discord.send_slash_command(
        world.guild_id,
        world.channel_id,
        world.user_id,
        name="generate",
        options=options("a lighthouse in a storm", duration=8, aspect_ratio="9:16"),
    )
    posts = await eventually(lambda: video_posts(world.discord, world.channel_id), timeout=30)

    # Answered at once: a deferral, well inside Discord's 3 s.
    first = callbacks(world.discord, inter.id)[0]
    assert first.json["type"] == 5
    assert first.time - inter.dispatched_at < 3.0

    # fal got exactly one job, on the right endpoint, that stays remixable.
    assert len(world.fal.submissions) == 1
    submission = world.fal.submissions[0]
    assert submission.endpoint == "fal-ai/sora-2/text-to-video"
    assert submission.payload["delete_video"] is False
    assert submission.payload["prompt"] == "a lighthouse in a storm"
    assert submission.payload["duration"] == 8 and submission.payload["aspect_ratio"] == "9:16"
    assert submission.headers.get("Authorization") == f"Key {FAL_KEY}"

    # The very file fal made, posted as an ordinary channel message replying to the progress message.
    assert len(posts) == 1
    post = posts[0]
    assert len(post.files) == 1 and post.files[0].sha256 == sha256(source)
    body = post.json
    embed = body["embeds"][0]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert embed["description"] == "a lighthouse in a storm"
    assert fields["Model"] == "Sora 2" and fields["Duration"] == "8 s" and fields["Aspect ratio"] == "9:16"
    assert fields["Resolution"] == "720p" and fields["Cost"] == "$0.80" and "video_abc" in fields["Video ID"]
    assert fields["Requested by"] == f"<@{world.user_id}>"
    edits = original_edits(world.discord, inter.token)
    progress_message_id = str(edits[0].response_json["id"])
    assert str(body["message_reference"]["message_id"]) == progress_message_id

    # Progress: queued, then generating, each at least 3 s apart; it ends as a short final state.
    await eventually(lambda: "Done" in (original_edits(world.discord, inter.token)[-1].json or {}).get("content", ""))
    edits = original_edits(world.discord, inter.token)
    texts = [e.json["content"] for e in edits]
    assert any("Queued" in t for t in texts) and any("Generating" in t for t in texts)
    gaps = [b.time - a.time for a, b in zip(edits, edits[1:], strict=False)]
    assert gaps and min(gaps) >= 2.9  # every edit, the final one included, at least 3 s after the last
    assert len(edits) <= 6  # 9 s of queue + generation, then delivery, at one edit per 3 s: not one per poll

    # The video is remembered for remixes.
    video = await bot.app.videos.get_video("video_abc")
    assert video is not None and video.message_id == int(post.response_json["id"])
    assert video.remixable and video.user_id == world.user_id and video.spec.prompt == "a lighthouse in a storm"
    assert world.discord.check_against_openapi() == []


async def test_content_policy_refusal_is_explained(world, start_bot):
    world.fal.default_script = JobScript(queue_seconds=0.2, run_seconds=0.3, outcome="content_policy")
    bot = await start_bot()
    inter = await world.discord.send_slash_command(
        world.guild_id, world.channel_id, world.user_id, name="generate", options=options("something flagged")
    )

    def refusal_shown():
        return [e for e in original_edits(world.discord, inter.token) if "content policy" in e.json.get("content", "")]

    await eventually(refusal_shown)
    ephemeral = await eventually(
        lambda: [
            r
            for r in world.discord.requests
            if r.method == "POST" and inter.token in r.path and r.json and r.json.get("flags") == 64
        ]
    )
    assert "content policy" in ephemeral[0].json["content"]
    assert video_posts(world.discord, world.channel_id) == []
    jobs = await bot.app.jobs.unfinished_jobs()
    assert jobs == []
    job = await bot.app.jobs.get_job(1)
    assert job.state == JobState.FAILED and "content policy" in job.error


async def test_everyone_in_a_prompt_pings_no_one(world, start_bot, tmp_path):
    world.fal.default_script = JobScript(queue_seconds=0.1, run_seconds=0.2)
    await start_bot()
    prompt = f"@everyone look <@{world.user_id}> and <@&{world.guild_id}>"
    await world.discord.send_slash_command(
        world.guild_id, world.channel_id, world.user_id, name="generate", options=options(prompt)
    )
    post = (await eventually(lambda: video_posts(world.discord, world.channel_id)))[0]
    mentions = post.json["allowed_mentions"]
    assert mentions["parse"] == []
    assert [str(u) for u in mentions.get("users", [])] == [
        str(world.user_id)
    ]  # only the requester, told the video is ready
    assert mentions.get("roles", []) == [] and mentions.get("replied_user", False) is False
    assert post.json["embeds"][0]["description"] == prompt
    # Every message the bot sent, edits included, forbids @everyone and role pings.
    for request in world.discord.requests:
        if request.json and "allowed_mentions" in request.json:
            assert "everyone" not in request.json["allowed_mentions"].get("parse", [])


async def test_1080p_without_pro_is_refused_before_fal(world, start_bot):
    await start_bot()
    inter = await world.discord.send_slash_command(
        world.guild_id,
        world.channel_id,
        world.user_id,
        name="generate",
        options=options("a cat", resolution="1080p"),
    )
    answer = (await eventually(lambda: callbacks(world.discord, inter.id)))[0]
    assert answer.json["type"] == 4 and answer.json["data"]["flags"] == 64
    assert "1080p needs Sora 2 Pro" in answer.json["data"]["content"]
    assert world.fal.submissions == []


async def test_pro_1080p_goes_to_the_pro_endpoint(world, start_bot):
    world.fal.default_script = JobScript(queue_seconds=0.1, run_seconds=0.2)
    await start_bot()
    await world.discord.send_slash_command(
        world.guild_id,
        world.channel_id,
        world.user_id,
        name="generate",
        options=options("a cat", model="sora-2-pro", resolution="1080p", duration=4),
    )
    post = (await eventually(lambda: video_posts(world.discord, world.channel_id)))[0]
    assert world.fal.submissions[0].endpoint == "fal-ai/sora-2/text-to-video/pro"
    assert world.fal.submissions[0].payload["resolution"] == "1080p"
    fields = {f["name"]: f["value"] for f in post.json["embeds"][0]["fields"]}
    assert fields["Cost"] == "$2.00"


async def test_channel_without_permission_is_refused_ephemerally(world, start_bot):
    closed = world.discord.add_channel(world.guild_id, name="read-only", bot_can_send=False)
    await start_bot()
    inter = await world.discord.send_slash_command(
        world.guild_id, closed.id, world.user_id, name="generate", options=options("a cat")
    )
    answer = (await eventually(lambda: callbacks(world.discord, inter.id)))[0]
    assert answer.json["type"] == 4 and answer.json["data"]["flags"] == 64
    assert "can't post videos in this channel" in answer.json["data"]["content"]
    assert world.fal.submissions == []


async def test_status_errors_are_retried_then_delivered(world, start_bot):
    world.fal.default_script = JobScript(queue_seconds=0.2, run_seconds=0.3, status_errors=3)
    await start_bot()
    await world.discord.send_slash_command(
        world.guild_id, world.channel_id, world.user_id, name="generate", options=options("a cat")
    )
    await eventually(lambda: video_posts(world.discord, world.channel_id), timeout=30)
    assert len(world.fal.submissions) == 1


async def test_server_error_fails_clearly(world, start_bot):
    world.fal.default_script = JobScript(queue_seconds=0.1, run_seconds=0.2, outcome="server_error")
    bot = await start_bot()
    inter = await world.discord.send_slash_command(
        world.guild_id, world.channel_id, world.user_id, name="generate", options=options("a cat")
    )
    await eventually(
        lambda: [e for e in original_edits(world.discord, inter.token) if "❌" in e.json.get("content", "")]
    )
    job = await bot.app.jobs.get_job(1)
    assert job.state == JobState.FAILED and "internal error" in job.error
    assert video_posts(world.discord, world.channel_id) == []


async def test_expired_result_fails_clearly(world, start_bot):
    world.fal.default_script = JobScript(queue_seconds=0.1, run_seconds=0.2, outcome="result_gone")
    bot = await start_bot()
    await world.discord.send_slash_command(
        world.guild_id, world.channel_id, world.user_id, name="generate", options=options("a cat")
    )

    job = await eventually_async(lambda: job_in_state(bot.app.jobs, 1, JobState.FAILED))
    assert "no longer has this video" in job.error


async def test_discord_429_is_respected(world, start_bot):
    world.fal.default_script = JobScript(queue_seconds=0.1, run_seconds=0.2)
    world.discord.rate_limit("POST", rf"^/channels/{world.channel_id}/messages$", count=1, retry_after=1.0)
    await start_bot()
    await world.discord.send_slash_command(
        world.guild_id, world.channel_id, world.user_id, name="generate", options=options("a cat")
    )
    await eventually(lambda: video_posts(world.discord, world.channel_id), timeout=30)
    attempts = [
        r for r in world.discord.requests if r.method == "POST" and r.path == f"/channels/{world.channel_id}/messages"
    ]
    assert [a.status for a in attempts] == [429, 200]
    assert attempts[1].time - attempts[0].time >= 0.95
    body = json.dumps(attempts[1].json)
    assert "sora-job-1" in body  # the same nonce: a retried post can never make a second message


async def test_after_the_interaction_token_expires_progress_goes_through_the_channel(world, start_bot):
    # An interaction 13 min 57 s old: its token is used for 3 s more, then the bot must switch to the channel.
    world.discord.token_lifetime = 14 * 60 + 1
    world.fal.default_script = JobScript(queue_seconds=3.0, run_seconds=3.0)
    await start_bot()
    inter = await world.discord.send_slash_command(
        world.guild_id,
        world.channel_id,
        world.user_id,
        name="generate",
        options=options("slow"),
        age=14 * 60 - 3,
    )
    post = (await eventually(lambda: video_posts(world.discord, world.channel_id), timeout=30))[0]
    webhook_edits = original_edits(world.discord, inter.token)
    assert webhook_edits and all(e.status == 200 for e in webhook_edits)
    progress_id = webhook_edits[0].response_json["id"]
    channel_path = f"/channels/{world.channel_id}/messages/{progress_id}"
    await eventually(
        lambda: [
            r
            for r in world.discord.requests
            if r.method == "PATCH" and r.path == channel_path and "Done" in r.json["content"]
        ]
    )
    channel_edits = [r for r in world.discord.requests if r.method == "PATCH" and r.path == channel_path]
    assert all(r.headers["Authorization"] == f"Bot {world.discord.bot_token}" for r in channel_edits)
    assert min(r.time for r in channel_edits) > max(e.time for e in webhook_edits)
    assert str(post.json["message_reference"]["message_id"]) == str(progress_id)


async def test_the_running_bot_follows_fals_status_stream_instead_of_polling(world, start_bot, tmp_path):
    """With FAL_UPDATES=stream the bot as wired (its fal backend wrapped for timing) follows one status
    stream per job: submit, stream, result, whatever the job's length; no status polls."""
    world.fal.default_script = JobScript(queue_seconds=2.0, run_seconds=6.0, video_id="video_streamed")
    await start_bot(fal_updates="stream")
    await world.discord.send_slash_command(
        world.guild_id, world.channel_id, world.user_id, name="generate", options=options("a slow sunrise")
    )
    await eventually(lambda: video_posts(world.discord, world.channel_id), timeout=30)
    (job,) = world.fal.jobs.values()
    assert (job.streams_opened, job.status_polls) == (1, 0)
