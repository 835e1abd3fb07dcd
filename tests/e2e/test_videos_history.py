"""/videos and /show end to end through the fakes: paging through 30 videos with the persistent ◀ ▶, the
server's scope, a stranger refused, Remix and Re-roll from the list and from an old video's card."""

from __future__ import annotations

import re

import pytest

from bot.domain.models import Video, VideoSpec
from bot.storage.jobs import JobStore
from tests.e2e.helpers import callbacks, eventually, eventually_async, options
from tests.fakes.fal import JobScript
from tests.pg import ENGINES

STRING = 3
T0 = 1_760_000_000.25  # the seeded videos' first delivery time (seconds)


async def seed(jobs: JobStore, world, user_id: int, count: int, start: int = 0) -> list[Video]:
    """`count` delivered videos, one second apart, straight through the storage layer: their prompts carry
    markdown and a mention, which the list must show inert."""
    made = []
    for n in range(start, start + count):
        spec = VideoSpec(
            kind="text_to_video",
            prompt=f"clip {n:02d} **bold** <@{user_id}> @everyone",
            model="sora-2",
            duration=4,
            aspect_ratio="16:9",
            resolution="720p",
        )
        arguments = {"prompt": spec.prompt, "duration": 4, "aspect_ratio": "16:9", "resolution": "720p"}
        arguments["delete_video"] = False
        job = await jobs.create_job(
            spec,
            guild_id=world.guild_id,
            channel_id=world.channel_id,
            user_id=user_id,
            endpoint="fal-ai/sora-2/text-to-video",
            arguments=arguments,
            cost_usd=0.4,
            owner="seeder",  # leased to no running process: the bot's runner leaves them alone
        )
        video = Video.of(job, f"video_seed_{n:02d}", 900_000 + n, T0 + n)
        await jobs.mark_delivered(job, video)
        made.append(video)
    return made


async def answer_of(world, inter):
    return (await eventually(lambda: callbacks(world.discord, inter.id)))[0]


def page_of(answer) -> tuple[list[str], dict[str, str], dict[str, list[str]]]:
    """A page's lines, its ◀ ▶ buttons (label -> custom id) and its selects (custom id -> job ids)."""
    data = answer.json["data"]
    description = data["embeds"][0]["description"]
    lines = re.split(r"\n(?=\*\*\d+\.\*\*)", description)  # one entry: two lines
    buttons, selects = {}, {}
    for row in data["components"]:
        for component in row["components"]:
            if component["type"] == 2:
                buttons[component["label"]] = component["custom_id"]
            else:
                selects[component["custom_id"]] = [o["value"] for o in component["options"]]
    return lines, buttons, selects


async def click(world, message_id: int, custom_id: str, user_id: int | None = None, values=None):
    inter = await world.discord.send_component_click(
        world.guild_id, world.channel_id, user_id or world.user_id, message_id, custom_id, values=values
    )
    return await answer_of(world, inter)


@pytest.mark.parametrize("engine", ENGINES)
async def test_videos_pages_through_30_newest_first_and_only_for_the_member_who_asked(world, start_bot):
    bot = await start_bot()
    other = world.discord.add_user(username="bob").id
    await seed(bot.app.jobs, world, world.user_id, 30)
    await seed(bot.app.jobs, world, other, 2, start=30)  # newer, but another member's

    inter = await world.discord.send_slash_command(world.guild_id, world.channel_id, world.user_id, name="videos")
    first = await answer_of(world, inter)
    assert first.json["type"] == 4 and first.json["data"]["flags"] == 64  # private
    assert first.json["data"]["allowed_mentions"] == {"parse": []}
    lines, buttons, selects = page_of(first)
    assert len(lines) == 10 and set(buttons) == {"▶"}  # the first page: nothing newer
    assert [re.search(r"clip (\d+)", line)[1] for line in lines] == [f"{n:02d}" for n in range(29, 19, -1)]
    # Escaped: no markdown, no live mention; and each line has model, duration, cost, when and the link.
    assert r"\*\*bold\*\*" in lines[0] and f"<@{world.user_id}>" not in lines[0] and "@\u200beveryone" in lines[0]
    assert "Sora 2 · 4 s · $0.40 · <t:1760000029:R>" in lines[0]
    assert f"https://discord.com/channels/{world.guild_id}/{world.channel_id}/900029" in lines[0]
    assert len(next(iter(selects.values()))) == 10
    message_id = int(world.discord.interactions[inter.id].original_message_id)

    # A stranger's ▶ is refused privately, and the page stays as it was.
    refusal = await click(world, message_id, buttons["▶"], user_id=other)
    assert refusal.json["type"] == 4 and refusal.json["data"]["flags"] == 64
    assert "belongs to someone else" in refusal.json["data"]["content"]

    seen = [lines]
    for expected in (range(19, 9, -1), range(9, -1, -1)):
        turned = await click(world, message_id, buttons["▶"])
        assert turned.json["type"] == 7  # the page is edited in place
        lines, buttons, _ = page_of(turned)
        assert [re.search(r"clip (\d+)", line)[1] for line in lines] == [f"{n:02d}" for n in expected]
        seen.append(lines)
    assert set(buttons) == {"◀"}  # the last page: no ▶
    back = await click(world, message_id, buttons["◀"])
    lines, buttons, _ = page_of(back)
    assert lines == seen[1] and set(buttons) == {"◀", "▶"}


async def test_scope_server_lists_every_member_s_videos_and_an_empty_history_is_a_kind_sentence(world, start_bot):
    bot = await start_bot()
    inter = await world.discord.send_slash_command(world.guild_id, world.channel_id, world.user_id, name="videos")
    empty = await answer_of(world, inter)
    assert empty.json["data"]["flags"] == 64 and "haven't made any videos" in empty.json["data"]["content"]

    other = world.discord.add_user(username="bob").id
    await seed(bot.app.jobs, world, other, 3)
    await seed(bot.app.jobs, world, world.user_id, 1, start=3)
    mine = await world.discord.send_slash_command(world.guild_id, world.channel_id, world.user_id, name="videos")
    assert len(page_of(await answer_of(world, mine))[0]) == 1
    server = await world.discord.send_slash_command(
        world.guild_id,
        world.channel_id,
        world.user_id,
        name="videos",
        options=[{"name": "scope", "type": STRING, "value": "server"}],
    )
    answer = await answer_of(world, server)
    lines, buttons, _ = page_of(answer)
    assert [re.search(r"clip (\d+)", line)[1] for line in lines] == ["03", "02", "01", "00"]
    assert answer.json["data"]["embeds"][0]["title"] == "This server's videos" and buttons == {}


async def test_the_list_s_re_roll_select_starts_a_job(world, start_bot):
    world.fal.default_script = JobScript(queue_seconds=0.1, run_seconds=0.2)
    bot = await start_bot(quota_member_limit_usd=100)
    [video] = await seed(bot.app.jobs, world, world.user_id, 1)
    inter = await world.discord.send_slash_command(world.guild_id, world.channel_id, world.user_id, name="videos")
    _, _, selects = page_of(await answer_of(world, inter))
    assert selects == {"sora:pick:remix": [str(video.job_id)], "sora:pick:reroll": [str(video.job_id)]}
    message_id = int(world.discord.interactions[inter.id].original_message_id)

    remix = await click(world, message_id, "sora:pick:remix", values=[str(video.job_id)])
    assert remix.json["type"] == 9 and remix.json["data"]["custom_id"] == f"sora:remix-prompt:{video.job_id}"
    reroll = await click(world, message_id, "sora:pick:reroll", values=[str(video.job_id)])
    assert reroll.json["type"] == 5  # deferred: the one intake path took it
    submitted = await eventually(lambda: world.fal.submissions)
    assert submitted[0].payload["prompt"] == video.spec.prompt


async def test_show_posts_an_old_video_s_card_privately_with_buttons_that_work(world, start_bot):
    world.fal.default_script = JobScript(queue_seconds=0.1, run_seconds=0.2, video_id="video_old")
    bot = await start_bot(quota_member_limit_usd=100)
    await world.discord.send_slash_command(
        world.guild_id, world.channel_id, world.user_id, name="generate", options=options("a kite <@&1>", duration=8)
    )
    await eventually(lambda: world.fal.submissions)

    async def delivered():
        found = await bot.app.videos.recent_videos(world.guild_id)
        return found[0] if found else None

    video = await eventually_async(delivered)
    inter = await world.discord.send_slash_command(
        world.guild_id,
        world.channel_id,
        world.user_id,
        name="show",
        options=[{"name": "video", "type": STRING, "value": "video_old"}],
    )
    shown = await answer_of(world, inter)
    data = shown.json["data"]
    assert data["flags"] == 64 and data["allowed_mentions"] == {"parse": []}
    embed = data["embeds"][0]
    assert embed["footer"]["text"] == f"job {video.job_id}" and "`video_old`" in str(embed["fields"])
    ids = [c["custom_id"] for row in data["components"] for c in row["components"]]
    # The very buttons of a delivered video's card (Delete included: it asks to confirm, and removes the
    # original message).
    assert ids == [f"sora:remix:{video.job_id}", f"sora:reroll:{video.job_id}", f"sora:delete:{video.job_id}"]
    message_id = int(world.discord.interactions[inter.id].original_message_id)

    remix = await click(world, message_id, f"sora:remix:{video.job_id}")
    assert remix.json["type"] == 9  # the remix form
    await world.discord.send_modal_submit(
        world.guild_id, world.channel_id, world.user_id, f"sora:remix-prompt:{video.job_id}", {"prompt": "at dusk"}
    )
    await click(world, message_id, f"sora:reroll:{video.job_id}")
    endpoints = await eventually(
        lambda: len(world.fal.submissions) == 3 and [s.endpoint for s in world.fal.submissions]
    )
    assert sorted(endpoints[1:]) == ["fal-ai/sora-2/text-to-video", "fal-ai/sora-2/video-to-video/remix"]
    remix_payload = next(s.payload for s in world.fal.submissions if s.endpoint.endswith("/remix"))
    assert remix_payload == {"video_id": "video_old", "prompt": "at dusk"}


async def test_show_refuses_an_unknown_video_or_another_server_s_clearly(world, start_bot):
    bot = await start_bot()
    other_guild = world.discord.add_guild(name="Other")
    other_channel = world.discord.add_channel(other_guild.id, name="elsewhere")
    [video] = await seed(bot.app.jobs, world, world.user_id, 1)
    texts = []
    for guild, channel, ref in (
        (world.guild_id, world.channel_id, "video_nope"),
        (other_guild.id, other_channel.id, video.video_id),
    ):
        inter = await world.discord.send_slash_command(
            guild, channel, world.user_id, name="show", options=[{"name": "video", "type": STRING, "value": ref}]
        )
        answer = await answer_of(world, inter)
        assert answer.json["data"]["flags"] == 64 and "embeds" not in answer.json["data"]
        texts.append(answer.json["data"]["content"])
    assert texts[0] == texts[1] and "I don't know that video in this server" in texts[0]


async def test_a_deleted_video_is_gone_from_videos_and_show_refuses_it(world, start_bot):
    bot = await start_bot()
    kept, gone = await seed(bot.app.jobs, world, world.user_id, 2)
    await bot.app.videos.mark_deleted(gone.video_id, world.user_id, T0 + 10)
    inter = await world.discord.send_slash_command(world.guild_id, world.channel_id, world.user_id, name="videos")
    lines, _, _ = page_of(await answer_of(world, inter))
    assert len(lines) == 1 and "clip 00" in lines[0]
    inter = await world.discord.send_slash_command(
        world.guild_id, world.channel_id, world.user_id, name="show",
        options=[{"name": "video", "type": STRING, "value": gone.video_id}],
    )  # fmt: skip
    answer = await answer_of(world, inter)
    assert answer.json["data"]["content"] == "That video was deleted." and answer.json["data"]["flags"] == 64
