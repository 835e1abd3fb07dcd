"""What an operator and a member see: the simulated mark on a video card, /help's page and quota hook,
/status's wording, and log lines that stay one line."""

from __future__ import annotations

import io
import logging

from bot.discord.messenger import render_card
from bot.domain.messenger import VideoCard
from bot.domain.models import Job, JobState, VideoSpec
from bot.ops.help_page import HelpService
from bot.ops.logs import OneLineFormatter, RedactSecrets
from bot.ops.status_report import duration, milliseconds
from cogs.help import render as render_help


def job(result: dict | None) -> Job:
    return Job(
        id=7,
        spec=VideoSpec(
            kind="text_to_video", prompt="a cat", model="sora-2", duration=4, aspect_ratio="16:9", resolution="720p"
        ),
        state=JobState.UPLOADING,
        guild_id=1,
        channel_id=2,
        user_id=3,
        endpoint="fal-ai/sora-2/text-to-video",
        arguments={},
        cost_usd=0.4,
        result=result,
        created_at=0,
        updated_at=0,
    )


def fields(embed) -> dict[str, str]:
    return {f.name: f.value for f in embed.fields}


async def test_a_card_is_marked_simulated_only_when_the_result_says_so():
    real = await render_card(VideoCard.for_job(job({"video": {"url": "https://fal"}, "video_id": "v"}), "v"))
    assert real.title == "Sora 2 video" and "Simulated" not in fields(real) and fields(real)["Cost"] == "$0.40"
    simulated = await render_card(VideoCard.for_job(job({"video": {}, "video_id": "v", "simulated": True}), "v"))
    assert simulated.title == "Sora 2 video (simulated)"
    assert "not a Sora video" in fields(simulated)["Simulated"]
    assert fields(simulated)["Cost"] == "$0.40 (counted, not billed)"
    assert fields(simulated)["Video ID"] == "`v`"


async def test_help_groups_commands_orders_them_and_adds_the_quota_lines():
    async def quota(guild_id: int, user_id: int) -> list[str]:
        return [f"guild {guild_id} user {user_id}: $1.60 left today"]

    service = HelpService(simulated=False, quota_lines=quota)
    commands = [("status", "Health"), ("quota set", "Set"), ("help", "Help"), ("quota show", "Show")]
    page = await service.page(5, 6, commands + [("generate", "Make a video")], ["Remix video"])
    assert [s.name for s in page.sections] == ["generate", "help", "quota", "status"]  # members' first
    assert [c.name for c in page.sections[2].commands] == ["quota set", "quota show"]
    example = page.sections[0].commands[0].example
    assert example and example.startswith("/generate prompt:")
    assert page.menus == ["Remix video"]
    assert page.quota == ["guild 5 user 6: $1.60 left today"] and not page.simulated
    assert (await service.page(None, 6, [])).quota == []  # no server, no quota
    assert (await HelpService(simulated=True).page(5, 6, [])).quota == []


async def test_help_fits_discords_embed_limits_however_many_commands():
    many = [(f"settings option{i}", "x" * 90) for i in range(40)] + [(f"cmd{i}", "y") for i in range(30)]
    embed = render_help(await HelpService(simulated=True).page(1, 2, many, ["A", "B"]))
    assert len(embed.fields) <= 25 and all(len(f.value) <= 1024 for f in embed.fields)
    assert len(embed.fields) == 23 and embed.fields[-1].name == "Message menu"  # 22 sections, then the menu
    assert embed.fields[0].name == "/settings" and embed.fields[0].value.endswith("…")  # known ones first, cut
    assert len(embed) <= 6000


def test_status_wording():
    assert duration(12) == "12 s" and duration(125) == "2 min 5 s"
    assert duration(3 * 3600 + 120) == "3 h 2 min" and duration(2 * 86400 + 3600) == "2 d 1 h"
    assert milliseconds(0.0421, "-") == "42 ms"
    assert milliseconds(None, "no call yet") == "no call yet" and milliseconds(float("inf"), "x") == "x"


def test_a_traceback_stays_on_the_events_line_and_secrets_stay_out():
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(OneLineFormatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(["supersecret"]))
    logger = logging.getLogger("test.oneline")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise ValueError("bad supersecret\nsecond line")
        except ValueError:
            logger.exception("job=1 guild=2 user=3 state=failed failed:\nwith detail")
    finally:
        logger.removeHandler(handler)
    text = out.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    assert "job=1 guild=2 user=3 state=failed" in text and "ValueError" in text
    assert "supersecret" not in text
