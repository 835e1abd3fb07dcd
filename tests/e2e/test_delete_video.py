"""🗑️ Delete under a delivered video, end to end through the fakes: a private Delete/Keep confirmation,
then the message deleted from Discord and the video marked deleted (and who did it), the ledger as it
was; refused privately to anyone but the owner and members with Manage Messages; a Discord failure leaves
the video as it was; a deleted video is refused for remix and gone from /remix's autocomplete."""

from __future__ import annotations

from tests.e2e.helpers import (
    callbacks,
    db_rows,
    eventually,
    eventually_async,
    followups,
    ledger_of,
    options,
    video_posts,
)
from tests.fakes.discord.models import EVERYONE_PERMISSIONS
from tests.fakes.fal import JobScript

EPHEMERAL = 64
MANAGE_MESSAGES = 1 << 13
CONFIRM = "Delete this video? Its message will be removed for everyone; what it cost stays counted."
NOT_ALLOWED = "Only the member who made this video, or a moderator, can delete it."
DELETED_NO_REMIX = "That video was deleted, so it can't be remixed."
FAILED = "Discord would not delete the message just now, so the video was not deleted; please try again."


async def delivered(world, bot, prompt="a red kite over hills", video_id="video_src"):
    """One delivered video; (job id, message id)."""
    world.fal.script_next(JobScript(queue_seconds=0.1, run_seconds=0.2, video_id=video_id))
    await world.discord.send_slash_command(
        world.guild_id, world.channel_id, world.user_id, name="generate", options=options(prompt, duration=8)
    )
    video = await eventually_async(lambda: bot.app.videos.get_video(video_id))
    await eventually(lambda: ledger_of(world, video.job_id)[-1:] == [("commit", 800_000)])
    return video.job_id, video.message_id


async def ask_to_delete(world, user_id, message_id, job_id, permissions=None):
    """Click the card's Delete; the callback's JSON and the click."""
    click = await world.discord.send_component_click(
        world.guild_id, world.channel_id, user_id, message_id, f"sora:delete:{job_id}", permissions
    )
    answer = (await eventually(lambda: callbacks(world.discord, click.id)))[0].json
    return answer, click


async def confirm(world, user_id, click, custom_id, permissions=None):
    """Click a button of the private confirmation `click` got; that click."""
    return await world.discord.send_component_click(
        world.guild_id, world.channel_id, user_id, click.original_message_id, custom_id, permissions
    )


def still_posted(world, message_id):
    return any(int(m["id"]) == message_id for m in world.discord.messages(world.channel_id))


def deletion_row(world, video_id):
    return db_rows(world, "SELECT deleted_at, deleted_by FROM videos WHERE video_id = ?", video_id)[0]


async def test_the_owner_confirms_and_the_message_goes_the_video_is_marked_the_ledger_stays(world, start_bot):
    bot = await start_bot(quota_member_limit_usd=100)
    job_id, message_id = await delivered(world, bot)
    buttons = video_posts(world.discord, world.channel_id)[0].json["components"][0]["components"]
    assert [(b["label"], b["custom_id"]) for b in buttons][-1] == ("Delete", f"sora:delete:{job_id}")
    ledger = ledger_of(world, job_id)

    answer, click = await ask_to_delete(world, world.user_id, message_id, job_id)
    assert (answer["type"], answer["data"]["content"], answer["data"]["flags"]) == (4, CONFIRM, EPHEMERAL)
    choices = [(b["label"], b["custom_id"]) for b in answer["data"]["components"][0]["components"]]
    assert choices == [("Delete", f"sora:delete-confirm:{job_id}"), ("Keep", f"sora:delete-keep:{job_id}")]
    assert still_posted(world, message_id)  # nothing before the confirmation

    yes = await confirm(world, world.user_id, click, f"sora:delete-confirm:{job_id}")
    done = (await eventually(lambda: [r for r in followups(world.discord, yes.token) if r.json]))[0]
    assert (done.json["content"], done.json["flags"]) == ("Deleted.", EPHEMERAL)
    deletes = [
        r
        for r in world.discord.requests
        if r.method == "DELETE" and r.path == f"/channels/{world.channel_id}/messages/{message_id}"
    ]
    assert [r.status for r in deletes] == [204]
    assert not still_posted(world, message_id)
    video = await bot.app.videos.get_video("video_src")
    assert video.deleted and deletion_row(world, "video_src")["deleted_by"] == world.user_id
    assert ledger_of(world, job_id) == ledger == [("reserve", 800_000), ("commit", 800_000)]  # nothing refunded

    # The old confirmation clicked again: already deleted, said privately, nothing more asked of Discord.
    again = await confirm(world, world.user_id, click, f"sora:delete-confirm:{job_id}")
    told = (await eventually(lambda: [r for r in followups(world.discord, again.token) if r.json]))[0]
    assert (told.json["content"], told.json["flags"]) == ("That video was already deleted.", EPHEMERAL)
    assert len([r for r in world.discord.requests if r.method == "DELETE" and r.path.startswith("/channels/")]) == 1


async def test_a_member_with_manage_messages_may_delete_a_stranger_may_not(world, start_bot):
    bot = await start_bot()
    job_id, message_id = await delivered(world, bot)
    stranger = world.discord.add_user(username="mallory")
    moderator = world.discord.add_user(username="mod")
    ledger = ledger_of(world, job_id)

    refused, click = await ask_to_delete(world, stranger.id, message_id, job_id)
    assert (refused["type"], refused["data"]["content"], refused["data"]["flags"]) == (4, NOT_ALLOWED, EPHEMERAL)
    assert "components" not in refused["data"] or not refused["data"]["components"]
    # A forged confirmation is checked again: the stranger is refused there too.
    owner_asks, owner_click = await ask_to_delete(world, world.user_id, message_id, job_id)
    forged = await confirm(world, stranger.id, owner_click, f"sora:delete-confirm:{job_id}")
    told = (await eventually(lambda: [r for r in followups(world.discord, forged.token) if r.json]))[0]
    assert (told.json["content"], told.json["flags"]) == (NOT_ALLOWED, EPHEMERAL)
    assert still_posted(world, message_id) and not (await bot.app.videos.get_video("video_src")).deleted

    perms = EVERYONE_PERMISSIONS | MANAGE_MESSAGES
    answer, mod_click = await ask_to_delete(world, moderator.id, message_id, job_id, perms)
    assert answer["data"]["content"] == CONFIRM
    yes = await confirm(world, moderator.id, mod_click, f"sora:delete-confirm:{job_id}", perms)
    done = (await eventually(lambda: [r for r in followups(world.discord, yes.token) if r.json]))[0]
    assert done.json["content"] == "Deleted."
    assert not still_posted(world, message_id)
    assert deletion_row(world, "video_src")["deleted_by"] == moderator.id
    assert ledger_of(world, job_id) == ledger


async def test_keep_deletes_nothing(world, start_bot):
    bot = await start_bot()
    job_id, message_id = await delivered(world, bot)
    _, click = await ask_to_delete(world, world.user_id, message_id, job_id)

    keep = await confirm(world, world.user_id, click, f"sora:delete-keep:{job_id}")
    answer = (await eventually(lambda: callbacks(world.discord, keep.id)))[0].json
    assert answer["type"] == 7 and answer["data"]["content"] == "Kept: nothing was deleted."
    assert answer["data"]["components"] == []  # the confirmation's buttons are gone
    assert still_posted(world, message_id) and not (await bot.app.videos.get_video("video_src")).deleted
    assert not [r for r in world.discord.requests if r.method == "DELETE" and r.path.startswith("/channels/")]


async def test_a_deleted_video_is_refused_for_remix_and_gone_from_the_autocomplete(world, start_bot):
    bot = await start_bot(quota_member_limit_usd=100)
    job_id, message_id = await delivered(world, bot, prompt="a red kite", video_id="video_gone")
    await delivered(world, bot, prompt="a red boat", video_id="video_kept")
    _, click = await ask_to_delete(world, world.user_id, message_id, job_id)
    yes = await confirm(world, world.user_id, click, f"sora:delete-confirm:{job_id}")
    await eventually(lambda: [r for r in followups(world.discord, yes.token) if r.json])

    choices = await world.discord.send_autocomplete(
        world.guild_id,
        world.channel_id,
        world.user_id,
        name="remix",
        options=[
            {"name": "video", "type": 3, "value": "red", "focused": True},
            {"name": "prompt", "type": 3, "value": ""},
        ],
    )
    answer = (await eventually(lambda: callbacks(world.discord, choices.id)))[0].json
    assert [c["value"] for c in answer["data"]["choices"]] == ["video_kept"]

    link = f"https://discord.com/channels/{world.guild_id}/{world.channel_id}/{message_id}"
    for reference in ("video_gone", link):
        inter = await world.discord.send_slash_command(
            world.guild_id,
            world.channel_id,
            world.user_id,
            name="remix",
            options=[{"name": "video", "type": 3, "value": reference}, {"name": "prompt", "type": 3, "value": "x"}],
        )
        refused = (await eventually(lambda inter=inter: callbacks(world.discord, inter.id)))[0].json
        assert (refused["data"]["content"], refused["data"]["flags"]) == (DELETED_NO_REMIX, EPHEMERAL), reference

    # An old copy of its card: Remix and Re-roll refuse too, and nothing reaches fal.
    kept_post = video_posts(world.discord, world.channel_id)[-1]
    kept_message = int(kept_post.response_json["id"])
    for custom_id, text in (
        (f"sora:remix:{job_id}", DELETED_NO_REMIX),
        (f"sora:reroll:{job_id}", "That video was deleted, so it can't be re-rolled."),
    ):
        # The deleted card is gone from the fake: click a card that carries these ids (as a stale copy would).
        stored = world.discord.store.by_id[kept_message]
        stored["components"][0]["components"][0]["custom_id"] = custom_id
        click = await world.discord.send_component_click(
            world.guild_id, world.channel_id, world.user_id, kept_message, custom_id
        )
        answer = (await eventually(lambda click=click: callbacks(world.discord, click.id)))[0].json
        assert (answer["data"]["content"], answer["data"]["flags"]) == (text, EPHEMERAL), custom_id
    assert len(world.fal.submissions) == 2  # the two generations, no remix, no re-roll


async def test_discord_failing_the_delete_leaves_the_video_and_says_so(world, start_bot):
    bot = await start_bot()
    job_id, message_id = await delivered(world, bot)
    _, click = await ask_to_delete(world, world.user_id, message_id, job_id)
    fault = world.discord.fault(
        "DELETE", rf"/channels/{world.channel_id}/messages/{message_id}", "status", status=500, count=-1
    )

    yes = await confirm(world, world.user_id, click, f"sora:delete-confirm:{job_id}")
    # discord.py tries a 500 five times over about 25 s before it gives up.
    told = (await eventually(lambda: [r for r in followups(world.discord, yes.token) if r.json], timeout=60))[0]
    assert (told.json["content"], told.json["flags"]) == (FAILED, EPHEMERAL)
    assert fault.hits == 5
    assert still_posted(world, message_id)
    assert deletion_row(world, "video_src") == {"deleted_at": None, "deleted_by": None}

    world.discord.faults.clear()  # Discord is back: the same confirmation works
    retry = await confirm(world, world.user_id, click, f"sora:delete-confirm:{job_id}")
    done = (await eventually(lambda: [r for r in followups(world.discord, retry.token) if r.json]))[0]
    assert done.json["content"] == "Deleted." and not still_posted(world, message_id)
