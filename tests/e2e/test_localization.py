"""Members in their own language: a Japanese member's refusal comes in Japanese, a member whose language
has no catalogue (Korean) reads English, and a translation keeps the values of its sentence."""

from __future__ import annotations

import re

from bot.i18n.catalogues import Catalogues
from bot.storage.settings import SettingsStore
from tests.e2e.helpers import callbacks, db_row, eventually, job_messages, original_edits, private_refusal, video_posts
from tests.e2e.helpers import options as generate_options
from tests.fakes.fal import JobScript

PRO_ONLY = "1080p needs Sora 2 Pro: pick model sora-2-pro, or 720p."
ROLE_ONLY = "Sora 2 Pro is for members with the {role} role in this server; use Sora 2."
POLICY = "fal refused this request: it was flagged by the content policy. Try rewording the prompt."


async def generate_1080p(world, locale: str):
    return await world.discord.send_slash_command(
        world.guild_id,
        world.channel_id,
        world.user_id,
        name="generate",
        options=generate_options("a cat", resolution="1080p", model="sora-2"),
        locale=locale,
    )


async def refusal(world, inter) -> str:
    """A refusal before anything is deferred: the private first answer."""
    [answer] = await eventually(lambda: callbacks(world.discord, inter.id))
    assert answer.json["type"] == 4 and answer.json["data"]["flags"] == 64
    return str(answer.json["data"]["content"])


async def test_a_japanese_member_is_refused_in_japanese(world, start_bot):
    await start_bot()
    japanese = Catalogues("messages").translate("ja", PRO_ONLY)
    assert japanese and japanese != PRO_ONLY
    assert await refusal(world, await generate_1080p(world, "ja")) == japanese
    assert world.fal.submissions == []


async def test_a_language_without_a_catalogue_reads_english(world, start_bot):
    await start_bot()
    assert await refusal(world, await generate_1080p(world, "ko")) == PRO_ONLY


async def test_a_translated_sentence_keeps_its_values(world, start_bot):
    """The server's Pro role rule, refused in German: the role's mention survives translation."""
    bot = await start_bot()
    await SettingsStore(bot.app.db).change(world.guild_id, world.user_id, "test", pro_role_id=4242)
    inter = await world.discord.send_slash_command(
        world.guild_id, world.channel_id, world.user_id, name="generate",
        options=generate_options("a cat", model="sora-2-pro"), locale="de",
    )  # fmt: skip
    text = (await eventually(lambda: callbacks(world.discord, inter.id)))[0].json["data"]["content"]
    german = Catalogues("messages").translate("de", ROLE_ONLY)
    assert german and text == german.format(role="<@&4242>") and text != ROLE_ONLY.format(role="<@&4242>")


async def test_the_spend_limit_is_refused_in_german_with_german_money_and_dates(world, start_bot):
    await start_bot(quota_member_limit_usd=0.5)
    inter = await world.discord.send_slash_command(
        world.guild_id, world.channel_id, world.user_id, name="generate",
        options=generate_options("a cat", duration=8), locale="de",
    )  # fmt: skip
    text = await private_refusal(world.discord, inter)
    assert text.startswith("Dieses Video (8 s, Sora 2) kostet 0,80\xa0$; du hast bis "), text
    assert text.endswith(" noch 0,50\xa0$.") and " UTC" in text
    assert world.fal.submissions == []


async def test_a_japanese_servers_progress_and_last_text_are_in_japanese(world, start_bot):
    """The progress message and the video's card are public: they speak the server's language (its
    preferred locale), whatever the language of the member who asked."""
    world.discord.guilds[world.guild_id].preferred_locale = "ja"
    world.fal.default_script = JobScript(queue_seconds=1.0, run_seconds=2.0)
    await start_bot()
    inter = await world.discord.send_slash_command(
        world.guild_id, world.channel_id, world.user_id, name="generate", options=generate_options("a cat"),
        locale="en-US",
    )  # fmt: skip
    await eventually(lambda: video_posts(world.discord, world.channel_id), timeout=30)
    texts = await eventually(lambda: [r.json["content"] for r in original_edits(world.discord, inter.token)
                                      if "完了" in (r.json or {}).get("content", "")], timeout=10)  # fmt: skip
    assert texts[-1] == "🎥 Sora 2 · 4 秒 · 16:9 · 720p · $0.40\n✅ 完了: 動画は下にあります。"
    shown = [r.json["content"] for r in original_edits(world.discord, inter.token) if r.json]
    assert any("⏳ 待機中" in text or "🎬 生成中" in text for text in shown)
    [card] = job_messages(world, 1)  # the post under which the video is: the server's language too
    assert card["content"] == f"<@{world.user_id}> 動画ができました。"
    embed = card["embeds"][0]
    assert embed["title"] == "Sora 2の動画" and [f["name"] for f in embed["fields"]][:2] == ["モデル", "長さ"]
    labels = [button["label"] for row in card["components"] for button in row["components"]]
    assert labels == ["リミックス", "作り直す", "削除"], labels
    statuses = [text.split("\n")[1] for text in shown]  # the third line, when there is one, quotes fal's log
    assert not any(word in status for status in statuses for word in ("Queued", "Generating", "Done")), shown


async def test_help_speaks_the_members_language_down_to_each_command(world, start_bot):
    """/help in Japanese: its own words, each command's name and description as the member's Discord
    shows them (the commands catalogue), and the quota lines."""
    await start_bot(quota_member_limit_usd=2.0)
    inter = await world.discord.send_slash_command(
        world.guild_id, world.channel_id, world.user_id, name="help", locale="ja"
    )
    [answer] = await eventually(lambda: callbacks(world.discord, inter.id))
    embed = answer.json["data"]["embeds"][0]
    commands, messages = Catalogues("commands"), Catalogues("messages")
    assert embed["title"] == messages.translate("ja", "Sora bot: commands") != "Sora bot: commands"
    fields = {field["name"]: field["value"] for field in embed["fields"]}
    generate = "/" + str(commands.translate("ja", "generate", "command_name"))
    description = commands.translate("ja", "Make a video from a text prompt with Sora 2", "command_description")
    assert generate != "/generate" and description and fields[generate].startswith(description)
    assert "例：" in fields[generate]
    quota = fields[str(messages.translate("ja", "Your quota"))]
    assert quota.startswith("今日は $2.00 のうち残り **$2.00** です（") and "UTCにリセット）。" in quota, quota


async def test_usage_in_german_with_german_money(world, start_bot):
    await start_bot(quota_member_limit_usd=2.0, quota_period="weekly")
    inter = await world.discord.send_slash_command(
        world.guild_id, world.channel_id, world.user_id, name="usage", locale="de"
    )
    [answer] = await eventually(lambda: callbacks(world.discord, inter.id))
    lines = answer.json["data"]["content"].split("\n")
    assert lines[0].startswith("**Verbrauch diese Woche** (wird zurückgesetzt am ") and lines[0].endswith(" UTC)")
    assert lines[1] == "0,00\xa0$ von 2,00\xa0$ ausgegeben: Dir bleiben **2,00\xa0$**."
    assert lines[2] == "Videos in Arbeit: 0 von 2; in der Warteschlange: 0 von 3."


async def test_fals_refusal_is_explained_in_the_servers_language(world, start_bot):
    """fal's content-policy refusal inside the public "❌ …" line: the server's language (ja here), for
    a member whose own language is German, who is told privately in German."""
    world.discord.guilds[world.guild_id].preferred_locale = "ja"
    world.fal.default_script = JobScript(queue_seconds=0.2, run_seconds=0.3, outcome="content_policy")
    await start_bot()
    inter = await world.discord.send_slash_command(
        world.guild_id, world.channel_id, world.user_id, name="generate", options=generate_options("x"), locale="de"
    )
    messages = Catalogues("messages")
    japanese, german = messages.translate("ja", POLICY), messages.translate("de", POLICY)
    assert japanese and german
    last = await eventually(
        lambda: [
            e.json["content"] for e in original_edits(world.discord, inter.token) if "❌" in e.json.get("content", "")
        ]
    )
    assert last[-1].endswith(f"\n❌ {japanese}"), last
    told = await eventually(
        lambda: [r.json["content"] for r in world.discord.requests
                 if r.method == "POST" and inter.token in r.path and r.json and r.json.get("flags") == 64]
    )  # fmt: skip
    assert german in told[0], told


async def test_videos_lists_in_the_members_language(world, start_bot):
    world.fal.default_script = JobScript(queue_seconds=0.1, run_seconds=0.2)
    await start_bot()
    await world.discord.send_slash_command(
        world.guild_id, world.channel_id, world.user_id, name="generate", options=generate_options("a {brace} cat")
    )
    # Delivered: the video is recorded (after its post) before /videos lists it.
    await eventually(lambda: (db_row(world) or {}).get("state") == "delivered", timeout=30)
    inter = await world.discord.send_slash_command(
        world.guild_id, world.channel_id, world.user_id, name="videos", locale="fr"
    )
    [answer] = await eventually(lambda: callbacks(world.discord, inter.id))
    embed = answer.json["data"]["embeds"][0]
    assert embed["title"] == "Tes vidéos sur ce serveur" and embed["footer"]["text"] == "Les plus récentes d’abord"
    first, second = embed["description"].split("\n")
    assert first == "**1.** a {brace} cat"  # the member's text kept as written, braces and all
    assert re.fullmatch(
        r"Sora 2 · 4 s · 0,40\xa0\$US · <t:\d+:R> · \[message\]\(https://discord\.com/channels/[\d/]+\)", second
    )
    [remix, reroll] = [row["components"][0] for row in answer.json["data"]["components"][:2]]
    assert remix["placeholder"] == "🎨 Remixer l’une d’elles…" and reroll["placeholder"] == "🎲 Relancer l’une d’elles…"


async def test_a_last_text_owed_after_a_restart_is_shown_in_the_servers_language(world, start_bot):
    """The failure's last text could not be shown (every edit failed) and the bot stopped: the next start
    shows it from the database, its pattern kept beside the English, in the server's language."""
    world.discord.guilds[world.guild_id].preferred_locale = "ja"
    world.fal.default_script = JobScript(queue_seconds=0.3, run_seconds=0.5, outcome="content_policy")
    webhook = world.discord.fault("PATCH", r"/webhooks/\d+/[^/]+/messages/@original", "status", count=-1)
    channel = world.discord.fault("PATCH", rf"/channels/{world.channel_id}/messages/\d+", "status", count=-1)
    bot = await start_bot()
    await world.discord.send_slash_command(
        world.guild_id, world.channel_id, world.user_id, name="generate", options=generate_options("x")
    )
    await eventually(lambda: (db_row(world) or {}).get("state") == "failed", timeout=30)
    await eventually(lambda: webhook.hits + channel.hits >= 2)
    assert "content policy" in str(db_row(world)["final_text"]) and db_row(world)["final_shown_at"] is None
    await bot.stop()

    world.discord.faults.clear()
    bot = await start_bot()
    await eventually(lambda: db_row(world)["final_shown_at"] is not None, timeout=20)
    assert db_row(world)["final_pattern"], db_row(world)
    shown = world.discord.message(db_row(world)["progress_message_id"])["content"]
    japanese = Catalogues("messages").translate("ja", POLICY)
    assert japanese and shown.endswith(f"\n❌ {japanese}"), shown


async def test_an_admins_settings_in_german(world, start_bot):
    """/settings answers and its embed in the admin's language; a channel's mention kept as it is."""
    await start_bot()

    async def settings(*path, options=()):
        option = {"name": path[-1], "type": 1, "options": list(options)}
        if len(path) == 2:
            option = {"name": path[0], "type": 2, "options": [option]}
        inter = await world.discord.send_slash_command(
            world.guild_id, world.channel_id, world.user_id, name="settings", options=[option],
            member_permissions=str(1 << 5), locale="de",
        )  # fmt: skip
        [answer] = await eventually(lambda: callbacks(world.discord, inter.id))
        return answer.json["data"]

    added = await settings("channels", "add", options=[{"name": "channel", "type": 7, "value": str(world.channel_id)}])
    assert added["content"] == f"In <#{world.channel_id}> dürfen Videos erstellt werden."
    assert (await settings("ip-block", options=[{"name": "state", "type": 3, "value": "on"}]))["content"] == (
        "Die IP-Sperre ist an."
    )
    embed = (await settings("show"))["embeds"][0]
    fields = {field["name"]: field["value"] for field in embed["fields"]}
    assert embed["title"] == "Einstellungen dieses Servers"
    assert fields["Kanäle"] == f"<#{world.channel_id}>" and fields["IP-Sperre"] == "an"
    assert fields["Ausgabenwarnungen"] == "aus" and fields["Sora 2 Pro"] == "alle"
