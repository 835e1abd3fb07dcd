"""Bad inputs end to end: each gets a short private answer, nothing reaches fal, nothing is lost."""

from __future__ import annotations

from tests.e2e.helpers import callbacks, eventually, eventually_async, options, private_refusal, video_posts
from tests.e2e.test_remix_and_animate import make_video
from tests.fakes.fal_fake import JobScript

EPHEMERAL = 64
ATTACHMENT = 11


async def private_answer(world, inter) -> str:
    """The text of an immediate private answer (callback type 4, ephemeral)."""
    answer = (await eventually(lambda: callbacks(world.discord, inter.id)))[0]
    assert answer.json["type"] == 4 and answer.json["data"]["flags"] == EPHEMERAL, answer.json
    return str(answer.json["data"]["content"])


async def test_a_prompt_of_only_invisible_characters_is_refused_privately(world, start_bot):
    await start_bot()
    inter = await world.discord.send_slash_command(
        world.guild_id,
        world.channel_id,
        world.user_id,
        name="generate",
        options=options("\u200b\u200d\u2060\ufeff\u202e\u2066"),
    )
    assert await private_answer(world, inter) == "Your prompt has no visible text."
    assert world.fal.submissions == []


async def test_control_and_bidi_override_characters_reach_neither_fal_nor_the_embed(world, start_bot):
    world.fal.default_script = JobScript(queue_seconds=0.1, run_seconds=0.2)
    bot = await start_bot()
    await world.discord.send_slash_command(
        world.guild_id,
        world.channel_id,
        world.user_id,
        name="generate",
        options=options("\u202egnol\u202c a fox\x07 in \x1b[1msnow\u2066 قطة"),
    )
    post = (await eventually(lambda: video_posts(world.discord, world.channel_id)))[0]
    clean = "gnol a fox in [1msnow قطة"
    assert world.fal.submissions[0].payload["prompt"] == clean
    assert post.json["embeds"][0]["description"] == clean
    videos = await eventually_async(lambda: bot.app.store.recent_videos(world.guild_id, limit=1))
    assert videos[0].prompt == clean


async def test_an_invisible_remix_prompt_in_the_modal_is_refused_privately(world, start_bot):
    world.fal.default_script = JobScript(queue_seconds=0.1, run_seconds=0.2)
    bot = await start_bot()
    job_id, message_id = await make_video(world, bot)
    click = await world.discord.send_component_click(
        world.guild_id, world.channel_id, world.user_id, message_id, f"sora:remix:{job_id}"
    )
    modal = (await eventually(lambda: callbacks(world.discord, click.id)))[0].json["data"]
    field = modal["components"][0]["components"][0]["custom_id"]
    submit = await world.discord.send_modal_submit(
        world.guild_id,
        world.channel_id,
        world.user_id,
        modal["custom_id"],
        {field: "\u200b \u200f"},
        message_id=message_id,
    )
    assert await private_answer(world, submit) == "Your prompt has no visible text."
    assert len(world.fal.submissions) == 1  # only the source video


async def test_an_image_that_only_looks_like_one_is_refused_privately_before_fal(world, start_bot, tmp_path):
    world.fal.default_script = JobScript(queue_seconds=0.1, run_seconds=0.2)
    bot = await start_bot()
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 400)  # passes a 16-byte check
    inter = await world.discord.send_slash_command(
        world.guild_id,
        world.channel_id,
        world.user_id,
        name="animate-attachment",
        options=[{"name": "image", "type": ATTACHMENT, "value": str(fake)}, *options("the kite takes off")],
    )
    text = await private_refusal(world.discord, inter)
    assert text == "That image is damaged or incomplete: I couldn't open it. Try saving it again."
    assert world.fal.submissions == [] and await bot.app.store.recent_videos(world.guild_id, limit=1) == []
