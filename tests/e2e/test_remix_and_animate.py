"""Animate an attachment, remix (by id, link, autocomplete, reply, menu and button), re-roll, and
characters: end to end through the fakes."""

from __future__ import annotations

from bot.domain.models import JobState
from tests.e2e.conftest import FAL_KEY
from tests.e2e.helpers import (
    callbacks,
    eventually,
    eventually_async,
    form_field,
    job_in_state,
    options,
    private_refusal,
    video_posts,
)
from tests.fakes.fal import JobScript
from tests.fakes.media import make_mp4, make_png

ATTACHMENT = 11
SUB = 1


async def make_video(world, bot, prompt="a red kite over hills", video_id="video_src"):
    """One delivered video to remix; returns (job id, posted message id)."""
    world.fal.script_next(JobScript(queue_seconds=0.1, run_seconds=0.2, video_id=video_id))
    await world.discord.send_slash_command(
        world.guild_id, world.channel_id, world.user_id, name="generate", options=options(prompt, duration=8)
    )
    before = len(await bot.app.videos.recent_videos(world.guild_id, limit=100))

    async def delivered():
        videos = await bot.app.videos.recent_videos(world.guild_id, limit=100)
        return videos[0] if len(videos) > before else None

    video = await eventually_async(delivered)
    return video.job_id, video.message_id


async def test_an_image_attachment_becomes_image_url(world, start_bot, tmp_path):
    world.fal.default_script = JobScript(queue_seconds=0.1, run_seconds=0.2)
    await start_bot()
    png = make_png(tmp_path / "frame.png", 640, 360)
    await world.discord.send_slash_command(
        world.guild_id,
        world.channel_id,
        world.user_id,
        name="animate-attachment",
        options=[{"name": "image", "type": ATTACHMENT, "value": str(png)}, *options("the kite takes off")],
    )
    await eventually(lambda: video_posts(world.discord, world.channel_id))
    submission = world.fal.submissions[0]
    assert submission.endpoint == "fal-ai/sora-2/image-to-video"
    assert submission.payload["image_url"].startswith(world.discord.http_base + "/attachments/")
    assert submission.payload["delete_video"] is False and submission.payload["aspect_ratio"] == "auto"


async def test_a_text_file_or_a_25_mib_image_is_refused_before_fal(world, start_bot, tmp_path):
    await start_bot()
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    fake_png = tmp_path / "sneaky.png"
    fake_png.write_text("I am text wearing a .png name")
    huge = tmp_path / "huge.png"
    huge.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * (25 * 2**20))
    sent = []
    for path in (text, huge, fake_png):
        sent.append(
            await world.discord.send_slash_command(
                world.guild_id,
                world.channel_id,
                world.user_id,
                name="animate-attachment",
                options=[{"name": "image", "type": ATTACHMENT, "value": str(path)}, *options("move")],
            )
        )
    # What Discord declares (type, size) is refused at once; the file's contents once it is downloaded.
    answers = [(await eventually(lambda inter=inter: callbacks(world.discord, inter.id)))[0] for inter in sent[:2]]
    assert all(a.json["type"] == 4 and a.json["data"]["flags"] == 64 for a in answers)
    assert "PNG, JPEG or WEBP" in answers[0].json["data"]["content"]
    assert "25.0 MiB; the limit is 20 MiB" in answers[1].json["data"]["content"]
    assert "isn't really" in await private_refusal(world.discord, sent[2])
    assert world.fal.submissions == []


async def test_remix_by_id_by_link_and_by_autocomplete(world, start_bot):
    world.fal.default_script = JobScript(queue_seconds=0.1, run_seconds=0.2)
    bot = await start_bot(quota_member_limit_usd=100)
    _, message_id = await make_video(world, bot)

    choices = await world.discord.send_autocomplete(
        world.guild_id,
        world.channel_id,
        world.user_id,
        name="remix",
        options=[
            {"name": "video", "type": 3, "value": "kite", "focused": True},
            {"name": "prompt", "type": 3, "value": ""},
        ],
    )
    answer = (await eventually(lambda: callbacks(world.discord, choices.id)))[0]
    assert answer.json["type"] == 8
    assert [c["value"] for c in answer.json["data"]["choices"]] == ["video_src"]
    assert answer.json["data"]["choices"][0]["name"].startswith("a red kite over hills")

    link = f"https://discord.com/channels/{world.guild_id}/{world.channel_id}/{message_id}"
    for reference in ("video_src", link):
        await world.discord.send_slash_command(
            world.guild_id,
            world.channel_id,
            world.user_id,
            name="remix",
            options=[
                {"name": "video", "type": 3, "value": reference},
                {"name": "prompt", "type": 3, "value": "at night"},
            ],
        )
    remixes = await eventually(
        lambda: (
            [s for s in world.fal.submissions if s.endpoint == "fal-ai/sora-2/video-to-video/remix"][1:]
            and [s for s in world.fal.submissions if s.endpoint == "fal-ai/sora-2/video-to-video/remix"]
        )
    )
    assert [r.payload for r in remixes] == [{"video_id": "video_src", "prompt": "at night"}] * 2

    # Lineage: a delivered remix records its parent and its embed links to the parent's message.
    await eventually(lambda: len(video_posts(world.discord, world.channel_id)) == 3, timeout=30)
    remix_post = video_posts(world.discord, world.channel_id)[-1]
    fields = {f["name"]: f["value"] for f in remix_post.json["embeds"][0]["fields"]}
    assert link in fields["Remix of"]
    # The row is written just after the post is answered: wait for it rather than race it.
    child = await eventually_async(lambda: bot.app.videos.get_video_by_message(int(remix_post.response_json["id"])))
    assert child.spec.parent_video_id == "video_src" and child.remixable is False


async def test_unknown_and_other_server_videos_are_refused_alike(world, start_bot):
    world.fal.default_script = JobScript(queue_seconds=0.1, run_seconds=0.2)
    bot = await start_bot()
    await make_video(world, bot, video_id="video_theirs")
    other = world.discord.add_guild(name="Other Server")
    other_channel = world.discord.add_channel(other.id, name="general2")
    answers = []
    for guild, channel, ref in (
        (other.id, other_channel.id, "video_theirs"),
        (world.guild_id, world.channel_id, "video_nope"),
    ):
        inter = await world.discord.send_slash_command(
            guild,
            channel,
            world.user_id,
            name="remix",
            options=[{"name": "video", "type": 3, "value": ref}, {"name": "prompt", "type": 3, "value": "x"}],
        )
        answers.append((await eventually(lambda inter=inter: callbacks(world.discord, inter.id)))[0])
    texts = [a.json["data"]["content"] for a in answers]
    assert texts[0] == texts[1] and "I don't know that video in this server" in texts[0]
    assert all(a.json["data"]["flags"] == 64 for a in answers)
    assert [s.endpoint for s in world.fal.submissions] == ["fal-ai/sora-2/text-to-video"]


async def test_a_reply_to_a_bot_video_remixes_it(world, start_bot):
    world.fal.default_script = JobScript(queue_seconds=0.1, run_seconds=0.2)
    bot = await start_bot(quota_member_limit_usd=100)
    _, message_id = await make_video(world, bot)
    reply = await world.discord.send_message_create(
        world.guild_id,
        world.channel_id,
        world.user_id,
        f"<@{world.discord.bot_user_id}> make it snow",
        reply_to=message_id,
        mentions_bot=True,
    )
    await eventually(lambda: len(video_posts(world.discord, world.channel_id)) == 2, timeout=30)
    remix = [s for s in world.fal.submissions if s.endpoint.endswith("/remix")]
    assert [s.payload for s in remix] == [{"video_id": "video_src", "prompt": "make it snow"}]
    acks = [
        r
        for r in world.discord.requests
        if r.method == "POST" and r.json and r.json.get("content") == "🎬 Remix queued…"
    ]
    assert str(acks[0].json["message_reference"]["message_id"]) == str(reply["id"])
    result = video_posts(world.discord, world.channel_id)[-1]
    assert str(result.json["message_reference"]["message_id"]) == str(reply["id"])  # replies to the member


async def test_replies_to_other_messages_or_empty_replies_do_nothing(world, start_bot):
    world.fal.default_script = JobScript(queue_seconds=0.1, run_seconds=0.2)
    bot = await start_bot()
    _, message_id = await make_video(world, bot)
    await eventually(  # the first job's last progress edit is out: from here on, any request is a reaction
        lambda: any("Done" in (r.json or {}).get("content", "") for r in world.discord.requests if r.method == "PATCH")
    )
    someone = await world.discord.send_message_create(world.guild_id, world.channel_id, world.user_id, "hello")
    await world.discord.send_message_create(
        world.guild_id,
        world.channel_id,
        world.user_id,
        f"<@{world.discord.bot_user_id}> remix this?",
        reply_to=int(someone["id"]),
        mentions_bot=True,
    )
    await world.discord.send_message_create(
        world.guild_id,
        world.channel_id,
        world.user_id,
        f"<@{world.discord.bot_user_id}>",
        reply_to=message_id,
        mentions_bot=True,
    )
    requests_before = len(world.discord.requests)
    import asyncio

    await asyncio.sleep(1.0)
    assert len(world.fal.submissions) == 1
    assert [r for r in world.discord.requests[requests_before:] if r.method in ("POST", "PATCH")] == []


async def test_remix_and_reroll_buttons_work_after_a_restart(world, start_bot):
    world.fal.default_script = JobScript(queue_seconds=0.1, run_seconds=0.2)
    first = await start_bot(quota_member_limit_usd=100)
    job_id, message_id = await make_video(world, first)
    buttons = video_posts(world.discord, world.channel_id)[0].json["components"][0]["components"]
    assert [(b["label"], b["custom_id"]) for b in buttons] == [
        ("Remix", f"sora:remix:{job_id}"),
        ("Re-roll", f"sora:reroll:{job_id}"),
        ("Delete", f"sora:delete:{job_id}"),
    ]
    await first.stop()
    second = await start_bot(quota_member_limit_usd=100)

    clicker = world.discord.add_user(username="carol")
    await world.discord.send_component_click(
        world.guild_id, world.channel_id, clicker.id, message_id, f"sora:reroll:{job_id}"
    )
    await eventually(lambda: len(world.fal.submissions) == 2)
    assert world.fal.submissions[1].payload == world.fal.submissions[0].payload
    rerolled = await eventually_async(lambda: job_in_state(second.app.jobs, 2, JobState.DELIVERED))
    assert rerolled.user_id == clicker.id  # charged to whoever clicked

    click = await world.discord.send_component_click(
        world.guild_id, world.channel_id, world.user_id, message_id, f"sora:remix:{job_id}"
    )
    modal = (await eventually(lambda: callbacks(world.discord, click.id)))[0]
    assert modal.json["type"] == 9
    text_input, label = form_field(modal.json["data"])
    assert label == "What should change?" and modal.json["data"]["title"] == "Remix video"
    await world.discord.send_modal_submit(
        world.guild_id,
        world.channel_id,
        world.user_id,
        modal.json["data"]["custom_id"],
        {text_input: "in watercolour"},
        message_id=message_id,
    )
    await eventually(lambda: len(world.fal.submissions) == 3)
    assert world.fal.submissions[2].payload == {"video_id": "video_src", "prompt": "in watercolour"}


async def test_remix_video_menu_opens_a_modal(world, start_bot):
    world.fal.default_script = JobScript(queue_seconds=0.1, run_seconds=0.2)
    bot = await start_bot()
    _, message_id = await make_video(world, bot)
    inter = await world.discord.send_message_command(
        world.guild_id, world.channel_id, world.user_id, "Remix video", message_id
    )
    assert (await eventually(lambda: callbacks(world.discord, inter.id)))[0].json["type"] == 9


async def test_a_character_made_then_used_in_generate(world, start_bot, tmp_path):
    world.fal.default_script = JobScript(queue_seconds=0.1, run_seconds=0.2)
    await start_bot()
    clip = make_mp4(tmp_path / "alice.mp4", seconds=4, width=1280, height=720)
    made = await world.discord.send_slash_command(
        world.guild_id,
        world.channel_id,
        world.user_id,
        name="character",
        options=[
            {
                "name": "create",
                "type": SUB,
                "options": [
                    {"name": "name", "type": 3, "value": "Alice"},
                    {"name": "video", "type": ATTACHMENT, "value": str(clip)},
                ],
            }
        ],
    )
    done = await eventually(
        lambda: [r for r in world.discord.requests if made.token in r.path and r.json and "Alice" in str(r.json)]
    )
    assert "is ready" in str(done[-1].json)
    character = world.fal.submissions[0]
    assert character.endpoint == "fal-ai/sora-2/characters"
    assert character.payload["name"] == "Alice" and character.payload["video_url"].startswith("http")
    character_id = world.fal.job(character.request_id).payload and (await _result_id(world, character.request_id))

    await world.discord.send_slash_command(
        world.guild_id,
        world.channel_id,
        world.user_id,
        name="generate",
        options=[*options("Alice waves"), {"name": "characters", "type": 3, "value": "alice"}],
    )
    await eventually(lambda: len(world.fal.submissions) == 2)
    assert world.fal.submissions[1].payload["character_ids"] == [character_id]


async def _result_id(world, request_id: str) -> str:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with http.get(
            f"{world.fal.base_url}/fal-ai/sora-2/requests/{request_id}",
            headers={"Authorization": f"Key {FAL_KEY}"},
            ssl=world.fal.client_ssl_context(),
        ) as response:
            return (await response.json())["id"]


async def test_animate_image_menu_asks_for_a_prompt_then_animates(world, start_bot, tmp_path):
    world.fal.default_script = JobScript(queue_seconds=0.1, run_seconds=0.2)
    await start_bot()
    png = make_png(tmp_path / "still.png", 640, 360)
    posted = await world.discord.send_message_create(
        world.guild_id, world.channel_id, world.user_id, "look at this", attachments=[png]
    )
    menu = await world.discord.send_message_command(
        world.guild_id, world.channel_id, world.user_id, "Animate image", int(posted["id"])
    )
    modal = (await eventually(lambda: callbacks(world.discord, menu.id)))[0]
    assert modal.json["type"] == 9
    field, label = form_field(modal.json["data"])
    assert label == "What happens in the video?" and modal.json["data"]["title"] == "Animate image"
    await world.discord.send_modal_submit(
        world.guild_id, world.channel_id, world.user_id, modal.json["data"]["custom_id"], {field: "leaves fall"}
    )
    await eventually(lambda: video_posts(world.discord, world.channel_id))
    submission = world.fal.submissions[0]
    assert submission.endpoint == "fal-ai/sora-2/image-to-video"
    assert submission.payload["prompt"] == "leaves fall"
    assert submission.payload["image_url"] == posted["attachments"][0]["url"]


async def test_characters_option_autocompletes_the_server_characters(world, start_bot):
    bot = await start_bot()
    from bot.storage.characters import CharacterStore

    characters = CharacterStore(bot.app.db)
    for name in ("Alice", "Albert", "Bob"):
        await characters.add(world.guild_id, name, f"char_{name}", world.user_id, 0.0)
    inter = await world.discord.send_autocomplete(
        world.guild_id,
        world.channel_id,
        world.user_id,
        name="generate",
        options=[
            {"name": "prompt", "type": 3, "value": "x"},
            {"name": "characters", "type": 3, "value": "Bob, al", "focused": True},
        ],
    )
    answer = (await eventually(lambda: callbacks(world.discord, inter.id)))[0]
    assert [c["value"] for c in answer.json["data"]["choices"]] == ["Bob, Albert", "Bob, Alice"]
