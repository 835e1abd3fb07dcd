"""Bad inputs end to end: each gets a short private answer, nothing reaches fal, nothing is lost."""

from __future__ import annotations

from tests.e2e.helpers import callbacks, eventually, eventually_async, form_field, options, private_refusal, video_posts
from tests.e2e.test_remix_and_animate import make_video
from tests.fakes.fal import JobScript
from tests.fakes.media import make_png

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
    videos = await eventually_async(lambda: bot.app.videos.recent_videos(world.guild_id, limit=1))
    assert videos[0].spec.prompt == clean


async def test_an_invisible_remix_prompt_in_the_modal_is_refused_privately(world, start_bot):
    world.fal.default_script = JobScript(queue_seconds=0.1, run_seconds=0.2)
    bot = await start_bot()
    job_id, message_id = await make_video(world, bot)
    click = await world.discord.send_component_click(
        world.guild_id, world.channel_id, world.user_id, message_id, f"sora:remix:{job_id}"
    )
    modal = (await eventually(lambda: callbacks(world.discord, click.id)))[0].json["data"]
    field, _ = form_field(modal)
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
    assert world.fal.submissions == [] and await bot.app.videos.recent_videos(world.guild_id, limit=1) == []


BUTTON_GONE = "This button no longer works."
FORM_GONE = "This form no longer works."


async def test_buttons_the_bot_cannot_parse_are_answered_privately(world, start_bot, caplog):
    world.fal.default_script = JobScript(queue_seconds=0.1, run_seconds=0.2)
    bot = await start_bot()
    job_id, message_id = await make_video(world, bot)
    unreadable = [
        "sora:reroll:abc",
        "sora:cancel:-1",
        "sora:remix:" + "9" * 40,  # too large for SQLite: it raised OverflowError
        f"sora:reroll:{2**63}",
        "sora:remix:0",
        f"sora:reroll:0{job_id}",
        "sora:frobnicate:1",
        f"sora:remix-prompt:{job_id}",  # a form's id on a button
        "other-app:button:1",
        "",
    ]
    for custom_id in unreadable:
        click = await world.discord.send_component_click(
            world.guild_id, world.channel_id, world.user_id, message_id, custom_id
        )
        assert await private_answer(world, click) == BUTTON_GONE, custom_id
    assert len(world.fal.submissions) == 1  # only the source video
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


async def test_buttons_naming_no_job_here_are_answered_alike(world, start_bot):
    world.fal.default_script = JobScript(queue_seconds=0.1, run_seconds=0.2)
    bot = await start_bot()
    job_id, _ = await make_video(world, bot)
    other = world.discord.add_guild(name="Other Server")
    other_channel = world.discord.add_channel(other.id, name="elsewhere")
    theirs = await world.discord.send_message_create(other.id, other_channel.id, world.user_id, "hi")
    for kind in ("cancel", "remix", "reroll"):
        for guild, channel, job in ((world.guild_id, world.channel_id, 999), (other.id, other_channel.id, job_id)):
            message = (
                theirs
                if guild == other.id
                else await world.discord.send_message_create(guild, channel, world.user_id, "hi")
            )
            click = await world.discord.send_component_click(
                guild, channel, world.user_id, int(message["id"]), f"sora:{kind}:{job}"
            )
            assert await private_answer(world, click) == BUTTON_GONE, (kind, guild)
    assert len(world.fal.submissions) == 1


async def test_forms_naming_no_job_here_or_unreadable_are_answered_privately(world, start_bot):
    world.fal.default_script = JobScript(queue_seconds=0.1, run_seconds=0.2)
    bot = await start_bot()
    job_id, message_id = await make_video(world, bot)
    other = world.discord.add_guild(name="Other Server")
    other_channel = world.discord.add_channel(other.id, name="elsewhere")
    cases = [
        (other.id, other_channel.id, f"sora:remix-prompt:{job_id}"),  # another server's job
        (world.guild_id, world.channel_id, "sora:remix-prompt:999"),
        (world.guild_id, world.channel_id, "sora:remix-prompt:" + "1" * 40),
        (other.id, other_channel.id, f"sora:animate:{message_id}"),  # another server's message
        (world.guild_id, world.channel_id, "sora:animate:999"),
        (world.guild_id, world.channel_id, "0123456789abcdef0123456789abcdef"),  # a form from before a restart
        (world.guild_id, world.channel_id, f"sora:remix:{job_id}"),  # a button's id on a form
    ]
    for guild, channel, custom_id in cases:
        submit = await world.discord.send_modal_submit(guild, channel, world.user_id, custom_id, {"prompt": "at night"})
        assert await private_answer(world, submit) == FORM_GONE, custom_id
    assert len(world.fal.submissions) == 1


async def test_the_remix_and_animate_forms_work_across_a_restart(world, start_bot, tmp_path):
    world.fal.default_script = JobScript(queue_seconds=0.1, run_seconds=0.2)
    first = await start_bot(quota_member_limit_usd=100)
    job_id, message_id = await make_video(world, first)
    click = await world.discord.send_component_click(
        world.guild_id, world.channel_id, world.user_id, message_id, f"sora:remix:{job_id}"
    )
    remix_form = (await eventually(lambda: callbacks(world.discord, click.id)))[0].json["data"]
    png = make_png(tmp_path / "still.png", 640, 360)
    posted = await world.discord.send_message_create(
        world.guild_id, world.channel_id, world.user_id, "look", attachments=[png]
    )
    menu = await world.discord.send_message_command(
        world.guild_id, world.channel_id, world.user_id, "Animate image", int(posted["id"])
    )
    animate_form = (await eventually(lambda: callbacks(world.discord, menu.id)))[0].json["data"]
    await first.stop()
    await start_bot(quota_member_limit_usd=100)

    # The second comes back in action rows, as a form opened before the upgrade to labels would.
    for form, prompt, in_rows in ((remix_form, "in watercolour", False), (animate_form, "leaves fall", True)):
        field, _ = form_field(form)
        await world.discord.send_modal_submit(
            world.guild_id, world.channel_id, world.user_id, form["custom_id"], {field: prompt}, in_rows=in_rows
        )
    await eventually(lambda: len(world.fal.submissions) == 3)
    by_endpoint = {s.endpoint: s.payload for s in world.fal.submissions[1:]}
    assert by_endpoint["fal-ai/sora-2/video-to-video/remix"] == {"video_id": "video_src", "prompt": "in watercolour"}
    assert by_endpoint["fal-ai/sora-2/image-to-video"]["prompt"] == "leaves fall"
