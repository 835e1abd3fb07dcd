"""/quota report's chart and /quota export's CSV end to end, on either engine: a dozen videos by four
members (some failed, so refunded), then the picture's figures and the file's sums against the ledger."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import Decimal

import pytest
from PIL import Image

from tests.e2e.helpers import callbacks, db_execute, db_rows, eventually, followups, options
from tests.fakes.discord import FakeDiscord, FakeInteraction, RecordedRequest
from tests.fakes.fal import JobScript
from tests.pg import ENGINES

pytestmark = pytest.mark.parametrize("engine", ENGINES)

MANAGE_GUILD = str(1 << 5)
FAST = dict(queue_seconds=0.1, run_seconds=0.2)
SPEND = "kind IN ('reserve', 'refund', 'reset')"


def sql_sum(world, where: str) -> int:
    return int(db_rows(world, f"SELECT COALESCE(SUM(amount_micros), 0) AS total FROM ledger WHERE {where}")[0]["total"])


async def quota(world, sub: str, permissions: str = MANAGE_GUILD, **values: str) -> FakeInteraction:
    given = [{"name": name, "type": 3, "value": value} for name, value in values.items()]
    return await world.discord.send_slash_command(
        world.guild_id,
        world.channel_id,
        world.user_id,
        name="quota",
        options=[{"name": sub, "type": 1, "options": given}],
        member_permissions=permissions,
    )


async def answer(fake: FakeDiscord, inter: FakeInteraction) -> RecordedRequest:
    """The deferred command's private answer (its first followup)."""
    assert (await eventually(lambda: callbacks(fake, inter.id)))[0].json["data"]["flags"] == 64
    return (await eventually(lambda: followups(fake, inter.token)))[0]


async def a_dozen_videos(world, start_bot) -> list[int]:
    """Twelve 4 s videos by four members; three of them fail at fal (refunded). Returns the members."""
    members = [world.user_id] + [world.discord.add_user(username=n).id for n in ("bob", "carol", "dave")]
    world.fal.default_script = JobScript(**FAST)
    world.fal.script_next(*[JobScript(**FAST, outcome="content_policy" if i % 4 == 1 else "ok") for i in range(12)])
    await start_bot(quota_member_limit_usd=10.0, quota_budget_usd=20.0, quota_max_jobs_per_member=3)
    for i in range(12):
        await world.discord.send_slash_command(
            world.guild_id, world.channel_id, members[i % 4], name="generate", options=options(f"v{i}", duration=4)
        )
    done = "SELECT COUNT(*) AS n FROM jobs WHERE state IN ('delivered', 'failed')"
    await eventually(lambda: db_rows(world, done) and db_rows(world, done)[0]["n"] == 12, timeout=60)
    return members


async def test_the_chart_and_the_csv_add_up_to_the_ledger(world, start_bot):
    members = await a_dozen_videos(world, start_bot)
    kinds = {r["kind"]: r["n"] for r in db_rows(world, "SELECT kind, COUNT(*) AS n FROM ledger GROUP BY kind")}
    assert kinds == {"reserve": 12, "commit": 9, "refund": 3}
    spend = sql_sum(world, SPEND)
    assert spend == 9 * 400_000

    sent = await answer(world.discord, await quota(world, "report"))
    assert sent.json["flags"] == 64 and sent.json["allowed_mentions"] == {"parse": []}
    assert "Spent: **$3.60** ($3.60 delivered, $0.00 still reserved)" in sent.json["content"]
    assert "Budget left: **$16.40** of $20.00" in sent.json["content"] and f"<@{members[0]}>" in sent.json["content"]
    [chart] = sent.files
    assert chart.filename == "spend.png" and chart.size < 500_000
    image = Image.open(io.BytesIO(chart.read()))
    assert image.format == "PNG" and image.size[0] >= 800 and image.size[1] >= 400
    # What the chart was drawn from (its PNG text chunks) is the ledger's.
    assert int(image.info["spent_micros"]) == spend
    assert int(image.info["committed_micros"]) == sql_sum(world, "kind = 'commit'")
    assert image.info["reserved_micros"] == "0" and image.info["budget_micros"] == "20000000"
    per_member = json.loads(image.info["series"])
    # Four members, so no "others" (but one whose three videos all failed is not drawn: nothing spent).
    assert set(per_member) <= {str(m) for m in members} and sum(per_member.values()) == spend
    for member in members:
        assert per_member.get(str(member), 0) == sql_sum(world, f"{SPEND} AND user_id = {member}")

    today = dt.datetime.now(dt.UTC).date().isoformat()
    sent = await answer(world.discord, await quota(world, "export", **{"from": today, "to": today}))
    assert sent.json["content"] == f"The ledger from {today} to {today} (UTC): 24 entries."
    [export] = sent.files
    assert export.filename == f"ledger-{today}-to-{today}.csv"
    rows = list(csv.DictReader(io.StringIO(export.read().decode())))
    assert len(rows) == 24 and {r["kind"] for r in rows} == {"reserve", "commit", "refund"}
    assert sum(Decimal(r["amount_usd"]) for r in rows) * 1_000_000 == sql_sum(world, "1 = 1")
    assert Decimal(rows[-1]["running_total_usd"]) * 1_000_000 == spend  # as /quota report counts
    names = {r["member_id"]: r["member_name"] for r in rows}
    assert names == {str(m): n for m, n in zip(members, ("Alice", "Bob", "Carol", "Dave"), strict=True)}
    assert {r["model"] for r in rows} == {"sora-2"} and {r["duration_s"] for r in rows} == {"4"}


async def test_the_previous_period_is_the_last_full_one(world, start_bot):
    await start_bot()  # daily periods: the previous one is yesterday
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday = today - dt.timedelta(days=1)
    sql = "INSERT INTO ledger (guild_id, user_id, kind, amount_micros, period_start, created_at) VALUES (?,?,?,?,?,?)"

    def entry(user_id: int, kind: str, micros: int, period: dt.datetime, seconds: int) -> tuple[str, tuple]:
        return sql, (world.guild_id, user_id, kind, micros, period.timestamp(), period.timestamp() + seconds)

    db_execute(
        world,
        entry(world.user_id, "reserve", 1_200_000, yesterday, 3600),
        entry(4242, "reserve", 800_000, yesterday, 7200),  # a member who has left: "member 4242" on the chart
        entry(4242, "reset", -300_000, yesterday, 9000),
        entry(world.user_id, "reserve", 400_000, today, 60),
    )
    sent = await answer(world.discord, await quota(world, "report", period="previous"))
    assert "Spent: **$1.70**" in sent.json["content"] and "Cleared by admins' resets: $0.30" in sent.json["content"]
    image = Image.open(io.BytesIO(sent.files[0].read()))
    assert image.info["spent_micros"] == "1700000" and image.info["days"] == "1"
    assert json.loads(image.info["series"]) == {str(world.user_id): 1_200_000, "4242": 500_000}
    sent = await answer(world.discord, await quota(world, "report"))
    assert "Spent: **$0.40**" in sent.json["content"]
    assert Image.open(io.BytesIO(sent.files[0].read())).info["spent_micros"] == "400000"


async def test_a_member_without_manage_server_gets_neither(world, start_bot):
    await start_bot()
    for inter in (
        await quota(world, "report", permissions="0"),
        await quota(world, "export", permissions="0", **{"from": "2025-01-01", "to": "2025-01-31"}),
    ):
        [refusal] = await eventually(lambda inter=inter: callbacks(world.discord, inter.id))
        assert refusal.json["type"] == 4 and refusal.json["data"]["flags"] == 64
        assert "Manage Server" in refusal.json["data"]["content"] and not refusal.files
    assert not followups(world.discord, inter.token)


async def test_bad_dates_and_an_empty_range_get_a_private_sentence(world, start_bot):
    await start_bot()
    inter = await quota(world, "export", **{"from": "2025-02-01", "to": "2025-01-01"})
    [refusal] = await eventually(lambda: callbacks(world.discord, inter.id))
    assert refusal.json["data"]["flags"] == 64
    assert refusal.json["data"]["content"] == "The end date (2025-01-01) is before the start date (2025-02-01)."
    inter = await quota(world, "export", **{"from": "2020-01-01", "to": "2020-01-31"})
    sent = await answer(world.discord, inter)
    assert sent.json["content"] == "Nothing was written to the ledger from 2020-01-01 to 2020-01-31 (UTC)."
    assert not sent.files


async def test_an_export_stops_asking_discord_for_names_after_its_limit(world, start_bot, monkeypatch):
    """Members who left are not in the cache: each costs a request, so an export asks for at most
    MAX_MEMBER_LOOKUPS of them and names the rest by id."""
    monkeypatch.setattr("cogs.quota.MAX_MEMBER_LOOKUPS", 2)
    await start_bot()
    now = dt.datetime.now(dt.UTC)
    sql = "INSERT INTO ledger (guild_id, user_id, kind, amount_micros, period_start, created_at) VALUES (?,?,?,?,?,?)"
    gone = [9001, 9002, 9003, 9004]
    db_execute(
        world, *((sql, (world.guild_id, user, "reserve", 400_000, now.timestamp(), now.timestamp())) for user in gone)
    )
    today = now.date().isoformat()
    sent = await answer(world.discord, await quota(world, "export", **{"from": today, "to": today}))
    rows = list(csv.DictReader(io.StringIO(sent.files[0].read().decode())))
    assert [r["member_name"] for r in rows] == [f"member {user}" for user in gone]
    asked = [r.path for r in world.discord.requests if r.method == "GET" and "/members/900" in r.path]
    assert len(asked) == 2, asked
