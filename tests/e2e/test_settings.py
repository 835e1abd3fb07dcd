"""Server settings end to end: channels, Pro role, defaults, fal inputs, blocklist, forged /settings."""

from __future__ import annotations

import sqlite3

from tests.e2e.helpers import callbacks, eventually, options
from tests.fakes.fal import JobScript

MANAGE_GUILD = str(1 << 5)
SUB, GROUP, CHANNEL, ROLE = 1, 2, 7, 8


async def admin(world, *path_and_options, guild=None):
    """Run a /settings subcommand as an admin; returns the private answer's text."""
    *names, opts = path_and_options
    option = {"name": names[-1], "type": SUB, "options": opts}
    for name in reversed(names[:-1]):
        option = {"name": name, "type": GROUP, "options": [option]}
    inter = await world.discord.send_slash_command(
        world.guild_id,
        world.channel_id,
        world.user_id,
        name="settings",
        options=[option],
        member_permissions=MANAGE_GUILD,
    )
    answer = (await eventually(lambda: callbacks(world.discord, inter.id)))[0]
    assert answer.json["data"]["flags"] == 64
    return answer.json["data"]


async def generate(world, channel_id=None, user_id=None, **opts):
    inter = await world.discord.send_slash_command(
        world.guild_id,
        channel_id or world.channel_id,
        user_id or world.user_id,
        name="generate",
        options=options(opts.pop("prompt", "a calm lake"), **opts),
    )
    return (await eventually(lambda: callbacks(world.discord, inter.id)))[0]


async def test_a_command_outside_the_allowed_channels_gets_a_pointer(world, start_bot):
    await start_bot()
    other = world.discord.add_channel(world.guild_id, name="elsewhere")
    assert (
        "may be made in"
        in (
            await admin(
                world, "channels", "add", [{"name": "channel", "type": CHANNEL, "value": str(world.channel_id)}]
            )
        )["content"]
    )
    answer = await generate(world, channel_id=other.id)
    assert answer.json["type"] == 4 and answer.json["data"]["flags"] == 64
    assert answer.json["data"]["content"] == f"Videos are made in <#{world.channel_id}> in this server."
    assert world.fal.submissions == []


async def test_pro_is_refused_without_the_role(world, start_bot):
    role = world.discord.add_role(world.guild_id, "Patrons")
    await start_bot()
    await admin(world, "pro", "role", [{"name": "role", "type": ROLE, "value": str(role)}])
    answer = await generate(world, model="sora-2-pro")
    assert f"<@&{role}>" in answer.json["data"]["content"] and answer.json["data"]["flags"] == 64
    assert world.fal.submissions == []
    patron = world.discord.add_user(username="patron")
    world.discord.add_member(world.guild_id, patron.id, roles=[role])
    world.fal.default_script = JobScript(queue_seconds=0.1, run_seconds=0.2)
    assert (await generate(world, user_id=patron.id, model="sora-2-pro")).json["type"] == 5
    await eventually(lambda: world.fal.submissions)
    assert world.fal.submissions[0].endpoint == "fal-ai/sora-2/text-to-video/pro"


async def test_defaults_apply_when_options_are_left_out(world, start_bot):
    world.fal.default_script = JobScript(queue_seconds=0.1, run_seconds=0.2)
    await start_bot(quota_member_limit_usd=100)
    refused = await admin(world, "defaults", [{"name": "resolution", "type": 3, "value": "1080p"}])
    assert refused["content"].startswith("Not saved: 1080p needs Sora 2 Pro")
    await admin(
        world,
        "defaults",
        [
            {"name": "model", "type": 3, "value": "sora-2-pro"},
            {"name": "duration", "type": 4, "value": 12},
            {"name": "aspect_ratio", "type": 3, "value": "9:16"},
            {"name": "resolution", "type": 3, "value": "1080p"},
        ],
    )
    await generate(world)
    await eventually(lambda: world.fal.submissions)
    submission = world.fal.submissions[0]
    assert submission.endpoint == "fal-ai/sora-2/text-to-video/pro"
    assert (submission.payload["duration"], submission.payload["aspect_ratio"], submission.payload["resolution"]) == (
        12,
        "9:16",
        "1080p",
    )


async def test_snapshot_ip_block_and_remixable_reach_fal_as_set(world, start_bot):
    world.fal.default_script = JobScript(queue_seconds=0.1, run_seconds=0.2)
    await start_bot(quota_member_limit_usd=100)
    await admin(world, "snapshot", [{"name": "snapshot", "type": 3, "value": "sora-2-2025-10-06"}])
    await admin(world, "ip-block", [{"name": "state", "type": 3, "value": "on"}])
    await admin(world, "remixable", [{"name": "state", "type": 3, "value": "off"}])
    await generate(world)
    await eventually(lambda: world.fal.submissions)
    payload = world.fal.submissions[0].payload
    assert payload["model"] == "sora-2-2025-10-06"
    assert payload["detect_and_block_ip"] is True and payload["delete_video"] is True
    await admin(world, "remixable", [{"name": "state", "type": 3, "value": "on"}])
    await admin(world, "ip-block", [{"name": "state", "type": 3, "value": "off"}])
    await generate(world)
    await eventually(lambda: len(world.fal.submissions) == 2)
    payload = world.fal.submissions[1].payload
    assert payload["delete_video"] is False and "detect_and_block_ip" not in payload


async def test_remix_says_it_is_off(world, start_bot):
    world.fal.default_script = JobScript(queue_seconds=0.1, run_seconds=0.2, video_id="video_x")
    bot = await start_bot(quota_member_limit_usd=100)
    await generate(world)
    await eventually(lambda: world.fal.submissions)
    from bot.domain.models import JobState
    from tests.e2e.helpers import eventually_async, job_in_state

    await eventually_async(lambda: job_in_state(bot.app.jobs, 1, JobState.DELIVERED))
    await admin(world, "remixable", [{"name": "state", "type": 3, "value": "off"}])
    inter = await world.discord.send_slash_command(
        world.guild_id,
        world.channel_id,
        world.user_id,
        name="remix",
        options=[{"name": "video", "type": 3, "value": "video_x"}, {"name": "prompt", "type": 3, "value": "y"}],
    )
    answer = (await eventually(lambda: callbacks(world.discord, inter.id)))[0]
    assert answer.json["data"]["content"].startswith("Remix is off in this server")
    assert len(world.fal.submissions) == 1


async def test_a_blocked_term_is_refused_before_fal_without_echoing_it(world, start_bot):
    await start_bot()
    await admin(world, "blocklist", "add", [{"name": "term", "type": 3, "value": "Dragón"}])
    answer = await generate(world, prompt="a DRAGON over the sea")
    text = answer.json["data"]["content"]
    assert answer.json["data"]["flags"] == 64 and "doesn't allow" in text and "dragon" not in text.lower()
    assert world.fal.submissions == []


async def test_a_member_forging_settings_changes_nothing(world, start_bot):
    await start_bot()
    inter = await world.discord.send_slash_command(
        world.guild_id,
        world.channel_id,
        world.user_id,
        name="settings",
        options=[{"name": "remixable", "type": SUB, "options": [{"name": "state", "type": 3, "value": "off"}]}],
        member_permissions="0",
    )
    answer = (await eventually(lambda: callbacks(world.discord, inter.id)))[0]
    assert "Manage Server" in answer.json["data"]["content"] and answer.json["data"]["flags"] == 64
    conn = sqlite3.connect(world.tmp / "data" / "bot.sqlite3")
    try:
        assert conn.execute("SELECT COUNT(*) FROM guild_settings").fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM settings_audit").fetchone()[0] == 0
    finally:
        conn.close()
