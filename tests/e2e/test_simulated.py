"""Simulated mode end to end: the real bot and discord.py against the fake Discord, no fal fake and no
FAL_KEY. The video is a real mp4 made by ffmpeg, delivered through the real download path."""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import subprocess

import pytest

from bot.domain.models import JobState
from bot.domain.quota import Period, period_bounds, when
from bot.fal.errors import FalRefused
from bot.fal.simulated.inputs import REMIX
from tests.e2e.helpers import (
    callbacks,
    eventually,
    eventually_async,
    job_in_state,
    options,
    original_edits,
    private_refusal,
    video_posts,
)
from tests.fakes.media import ffmpeg_exe, probe

pytest_plugins = ["tests.e2e.simulated_world"]


def max_volume_db(path) -> float:
    run = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostats", "-i", str(path), "-af", "volumedetect", "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    line = next(x for x in run.stderr.splitlines() if "max_volume" in x)
    return float(line.split("max_volume:")[1].split("dB")[0])


async def test_generate_delivers_a_marked_simulated_video(sim_world, start_sim):
    bot = await start_sim()
    assert bot.app.settings.fal_key is None
    inter = await sim_world.discord.send_slash_command(
        sim_world.guild_id,
        sim_world.channel_id,
        sim_world.user_id,
        name="generate",
        options=options("a lighthouse in a storm, waves crashing", duration=4, aspect_ratio="9:16"),
    )
    post = (await eventually(lambda: video_posts(sim_world.discord, sim_world.channel_id), timeout=60))[0]

    # Answered at once, then the queue lifecycle: queued, generating with progress, done.
    assert callbacks(sim_world.discord, inter.id)[0].json["type"] == 5
    await eventually(lambda: "Done" in original_edits(sim_world.discord, inter.token)[-1].json.get("content", ""))
    texts = [e.json["content"] for e in original_edits(sim_world.discord, inter.token)]
    assert any("Queued" in t for t in texts) and any("Generating" in t for t in texts)

    # A real mp4 of the requested shape and length, with a silent audio track.
    assert len(post.files) == 1
    info = probe(post.files[0].path)
    streams = {s["codec_type"]: s for s in info["streams"]}
    assert (streams["video"]["codec_name"], streams["video"]["width"], streams["video"]["height"]) == (
        "h264",
        720,
        1280,
    )
    assert streams["audio"]["codec_name"] == "aac"
    assert abs(float(info["format"]["duration"]) - 4.0) < 0.3
    assert max_volume_db(post.files[0].path) < -80

    # The card says it is simulated; the cost is the real price, counted but not billed.
    embed = post.json["embeds"][0]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert "(simulated)" in embed["title"] and "not a Sora video" in fields["Simulated"]
    assert fields["Cost"] == "$0.40 (counted, not billed)"
    video_id = fields["Video ID"].strip("`")
    assert video_id.startswith("video_sim_")
    assert sim_world.discord.check_against_openapi() == []

    # Stored for remixes, and the simulated backend accepts exactly the videos it made.
    # The post comes before the delivery's commit; reads see only committed rows.
    video = await eventually_async(lambda: bot.app.videos.get_video(video_id))
    assert video is not None and video.remixable
    simulated = bot.app.ops.simulated
    assert simulated is not None
    remix = await simulated.submit(REMIX, {"prompt": "the same, at night", "video_id": video_id, "delete_video": False})
    status = await simulated.status(REMIX, remix)
    assert status.state == "queued"
    with pytest.raises(FalRefused) as refused:
        await simulated.submit(REMIX, {"prompt": "x", "video_id": "video_sim_" + "0" * 24})
    assert refused.value.status == 422 and "video_id" in refused.value.user_message


async def test_a_refused_prompt_is_explained_and_posts_nothing(sim_world, start_sim, caplog):
    caplog.set_level(logging.INFO, logger="bot.jobs.runner")
    bot = await start_sim()
    inter = await sim_world.discord.send_slash_command(
        sim_world.guild_id,
        sim_world.channel_id,
        sim_world.user_id,
        name="generate",
        options=options("please #refuse this"),
    )
    job = await eventually_async(lambda: job_in_state(bot.app.jobs, 1, JobState.FAILED), timeout=30)
    assert "content policy" in job.error
    assert f"job=1 guild={sim_world.guild_id} user={sim_world.user_id} state=failed failed: " in caplog.text
    ephemeral = await eventually(
        lambda: [
            r
            for r in sim_world.discord.requests
            if r.method == "POST" and inter.token in r.path and r.json and r.json.get("flags") == 64
        ]
    )
    assert "content policy" in ephemeral[0].json["content"]
    assert video_posts(sim_world.discord, sim_world.channel_id) == []


async def test_a_job_in_flight_resumes_after_a_clean_restart(sim_world, start_sim):
    bot = await start_sim(simulated_run_seconds=4.0)
    await sim_world.discord.send_slash_command(
        sim_world.guild_id, sim_world.channel_id, sim_world.user_id, name="generate", options=options("restart me")
    )
    await eventually_async(lambda: job_in_state(bot.app.jobs, 1, JobState.RUNNING), timeout=20)
    await bot.stop()
    assert video_posts(sim_world.discord, sim_world.channel_id) == []

    bot = await start_sim(simulated_run_seconds=4.0)
    await eventually_async(lambda: job_in_state(bot.app.jobs, 1, JobState.DELIVERED), timeout=40)
    posts = video_posts(sim_world.discord, sim_world.channel_id)
    assert len(posts) == 1 and len(posts[0].files) == 1


def embed_fields(post) -> dict[str, str]:
    return {f["name"]: f["value"] for f in post.json["embeds"][0]["fields"]}


async def test_a_reply_to_a_simulated_video_remixes_it(sim_world, start_sim):
    bot = await start_sim()
    world = sim_world
    await world.discord.send_slash_command(
        world.guild_id, world.channel_id, world.user_id, name="generate", options=options("a red kite over hills")
    )
    source = (await eventually(lambda: video_posts(world.discord, world.channel_id), timeout=60))[0]
    source_message = int(source.response_json["id"])
    source_video = embed_fields(source)["Video ID"].strip("`")
    # Its post comes just before its delivery is committed: reply once the video is recorded, as a member would.
    await eventually_async(lambda: bot.app.videos.get_video(source_video))

    reply = await world.discord.send_message_create(
        world.guild_id, world.channel_id, world.user_id, "make it snow", reply_to=source_message, mentions_bot=True
    )
    posts = await eventually(
        lambda: [p for p in video_posts(world.discord, world.channel_id) if p.files][1:], timeout=60
    )
    remix = posts[0]
    acks = [p for p in video_posts(world.discord, world.channel_id) if p.json.get("content") == "🎬 Remix queued…"]
    assert [str(a.json["message_reference"]["message_id"]) for a in acks] == [str(reply["id"])]

    # Posted as a reply to the member's message, marked simulated, linked to the video it came from.
    assert str(remix.json["message_reference"]["message_id"]) == str(reply["id"])
    embed, fields = remix.json["embeds"][0], embed_fields(remix)
    assert "(simulated)" in embed["title"] and "not a Sora video" in fields["Simulated"]
    assert fields["Remix of"].endswith(f"/{world.channel_id}/{source_message}")
    assert len(remix.files) == 1 and abs(float(probe(remix.files[0].path)["format"]["duration"]) - 4.0) < 0.3
    job = await bot.app.jobs.get_job(2)
    assert job.spec.kind == "remix" and job.spec.prompt == "make it snow" and job.arguments["video_id"] == source_video
    child = await eventually_async(lambda: bot.app.videos.get_video_by_message(int(remix.response_json["id"])))
    assert child.spec.parent_video_id == source_video and not child.remixable
    assert world.discord.check_against_openapi() == []


async def test_over_the_member_limit_is_refused_privately_and_nothing_is_made(sim_world, start_sim):
    bot = await start_sim(quota_member_limit_usd=0.40)
    world = sim_world
    first = await world.discord.send_slash_command(
        world.guild_id, world.channel_id, world.user_id, name="generate", options=options("one", duration=4)
    )
    await eventually(lambda: callbacks(world.discord, first.id))

    def resets() -> str:
        return when(period_bounds(Period.DAILY, dt.datetime.now(dt.UTC))[1])

    before = resets()  # read on both sides of the command, in case a UTC midnight falls in between
    second = await world.discord.send_slash_command(
        world.guild_id, world.channel_id, world.user_id, name="generate", options=options("two", duration=4)
    )
    text = await private_refusal(world.discord, second)
    expected = {f"This 4 s Sora 2 video costs $0.40; you have $0.00 left until {r}." for r in (before, resets())}
    assert text in expected

    # Only the first is made and charged; the refused one left no job and no ledger entry.
    await eventually_async(lambda: job_in_state(bot.app.jobs, 1, JobState.DELIVERED), timeout=40)
    assert await bot.app.jobs.get_job(2) is None
    assert len(video_posts(world.discord, world.channel_id)) == 1
    conn = sqlite3.connect(world.tmp / "data" / "bot.sqlite3")
    try:
        ledger = conn.execute("SELECT job_id, kind, amount_micros FROM ledger ORDER BY id").fetchall()
    finally:
        conn.close()
    assert ledger == [(1, "reserve", 400_000), (1, "commit", 400_000)]
