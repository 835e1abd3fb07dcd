"""A video over the server's upload limit is re-encoded to fit, keeping its audio."""

from __future__ import annotations

from tests.e2e.helpers import eventually, options, video_posts
from tests.fakes.fal import JobScript
from tests.fakes.media import make_mp4_of_size, probe


async def test_12_mib_video_into_10_mib_guild_is_reencoded_to_fit(world, start_bot, tmp_path):
    big = make_mp4_of_size(tmp_path / "big.mp4", 12 * 2**20, seconds=8)
    assert big.stat().st_size > 10 * 2**20
    world.fal.default_script = JobScript(queue_seconds=0.1, run_seconds=0.2, video=big)
    await start_bot()
    await world.discord.send_slash_command(
        world.guild_id, world.channel_id, world.user_id, name="generate", options=options("big", duration=8)
    )
    post = (await eventually(lambda: video_posts(world.discord, world.channel_id), timeout=90))[0]
    posted = post.files[0]
    assert posted.size <= 10 * 2**20
    info = probe(posted.path)
    codecs = {s["codec_type"]: s["codec_name"] for s in info["streams"]}
    assert codecs == {"video": "h264", "audio": "aac"}
    assert abs(float(info["format"]["duration"]) - 8.0) < 0.5
    fields = {f["name"]: f["value"] for f in post.json["embeds"][0]["fields"]}
    assert "Compressed to fit" in fields["Note"]
