"""/help, the owner's /status, refusing commands while shutting down, and the Prometheus metrics,
through the real bot in simulated mode and the fake Discord."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import aiohttp

from bot.domain.models import JobState
from tests.e2e.helpers import callbacks, eventually, eventually_async, job_in_state, options, video_posts
from tests.fakes.ports import pick_free_port

pytest_plugins = ["tests.e2e.simulated_world"]
ROOT = Path(__file__).resolve().parents[2]


async def answer(world, user_id: int, name: str, opts=None) -> dict:
    inter = await world.discord.send_slash_command(
        world.guild_id, world.channel_id, user_id, name=name, options=opts or []
    )
    return (await eventually(lambda: callbacks(world.discord, inter.id)))[0].json


async def test_help_lists_each_command_with_an_example_and_says_it_is_simulated(sim_world, start_sim):
    await start_sim()
    reply = await answer(sim_world, sim_world.user_id, "help")
    assert reply["type"] == 4 and reply["data"]["flags"] == 64  # only the member sees it
    embed = reply["data"]["embeds"][0]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert {"/generate", "/help", "/status"} <= set(fields)
    assert "Example: `/generate prompt:" in fields["/generate"]
    assert list(fields)[0] == "/generate" and len(embed["fields"]) <= 25
    assert "Simulated mode" in embed["description"]
    assert sim_world.discord.check_against_openapi() == []


async def test_help_shows_what_the_member_has_left_and_the_server_limits(sim_world, start_sim):
    bot = await start_sim(quota_member_limit_usd=2.0, quota_budget_usd=50.0, quota_max_jobs_per_member=3)
    await sim_world.discord.send_slash_command(
        sim_world.guild_id, sim_world.channel_id, sim_world.user_id, name="generate", options=options("a cat")
    )
    await eventually_async(lambda: job_in_state(bot.app.jobs, 1, JobState.DELIVERED), timeout=40)
    reply = await answer(sim_world, sim_world.user_id, "help")
    fields = {f["name"]: f["value"] for f in reply["data"]["embeds"][0]["fields"]}
    quota = fields["Your quota"]
    # The delivered 4 s video ($0.40) is counted: what is left comes from the ledger, not the defaults.
    assert re.search(r"^You have \*\*\$1\.60\*\* left of \$2\.00 today \(resets \w{3} ", quota)
    assert "Default member limit: **$2.00** per **day** (UTC)" in quota
    assert "Server budget: **$50.00** per day" in quota
    assert "**3** per member, **10** in the server" in quota
    assert sim_world.discord.check_against_openapi() == []


async def test_status_answers_the_owner_only(sim_world, start_sim):
    bot = await start_sim()
    await sim_world.discord.send_slash_command(
        sim_world.guild_id, sim_world.channel_id, sim_world.user_id, name="generate", options=options("a cat")
    )
    await eventually_async(lambda: job_in_state(bot.app.jobs, 1, JobState.DELIVERED), timeout=40)

    refused = await answer(sim_world, sim_world.user_id, "status")
    assert refused["data"]["flags"] == 64 and "Only the bot's owner" in refused["data"]["content"]
    assert "embeds" not in refused["data"] or not refused["data"]["embeds"]

    reply = await answer(sim_world, sim_world.discord.owner_user.id, "status")
    assert reply["data"]["flags"] == 64
    fields = {f["name"]: f["value"] for f in reply["data"]["embeds"][0]["fields"]}
    assert fields["fal backend"] == "simulated"
    assert "delivered 1" in fields["Jobs by state"]
    assert re.fullmatch(r"\d+ ms", fields["fal latency"])  # the simulated backend's calls were timed
    assert re.fullmatch(r"\d+ s", fields["Uptime"])
    # This process, unsharded, its job delivered; its first heartbeat may not have come yet (lease / 3).
    assert re.fullmatch(
        r"`[^`]+` \(this one\) · shards all · 0 jobs · (\d+ s ago|no heartbeat yet)", fields["Processes (1 live)"]
    )
    assert fields["Version"]


async def test_commands_are_refused_once_shutdown_begins(sim_world, start_sim):
    bot = await start_sim()
    bot.app.bot.stop_taking_commands()
    reply = await answer(sim_world, sim_world.user_id, "generate", options("a cat"))
    assert reply["type"] == 4 and reply["data"]["flags"] == 64
    assert "restarting" in reply["data"]["content"]
    assert await bot.app.jobs.get_job(1) is None


def sample(text: str, name: str, **labels: str) -> float | None:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(name) + (r"\{" + re.escape(wanted) + r"\}" if labels else "") + r" ([0-9.e+-]+)$"
    match = re.search(pattern, text, re.MULTILINE)
    return float(match.group(1)) if match else None


async def test_metrics_count_jobs_timings_and_discord_429s(sim_world, start_sim):
    port = pick_free_port()
    sim_world.discord.rate_limit("POST", rf"^/channels/{sim_world.channel_id}/messages$", count=1, retry_after=0.5)
    bot = await start_sim(metrics_port=port)
    await sim_world.discord.send_slash_command(
        sim_world.guild_id, sim_world.channel_id, sim_world.user_id, name="generate", options=options("a cat")
    )
    await eventually_async(lambda: job_in_state(bot.app.jobs, 1, JobState.DELIVERED), timeout=40)
    assert len(video_posts(sim_world.discord, sim_world.channel_id)) == 1
    await sim_world.discord.send_slash_command(  # refused by the content policy: refunded, so no spend
        sim_world.guild_id, sim_world.channel_id, sim_world.user_id, name="generate", options=options("#refuse")
    )
    await eventually_async(lambda: job_in_state(bot.app.jobs, 2, JobState.FAILED), timeout=40)

    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as response:
        assert response.status == 200
        text = await response.text()
    assert sample(text, "sora_jobs", state="delivered") == 1.0
    assert sample(text, "sora_jobs", state="failed") == 1.0
    assert sample(text, "sora_jobs", state="cancelled") == 0.0
    assert sample(text, "sora_fal_queue_seconds_count") == 2.0  # both jobs left the queue
    assert sample(text, "sora_generation_seconds_count") == 1.0  # only the delivered one generated
    assert sample(text, "sora_fal_call_seconds_count", call="submit") == 2.0
    assert sample(text, "sora_discord_rate_limited_total", scope="user") == 1.0
    assert sample(text, "sora_spend_usd_total", guild=str(sim_world.guild_id)) == 0.4  # the delivered 4 s video
    assert (sample(text, "sora_discord_gateway_latency_seconds") or 0) > 0
    assert 'backend="simulated"' in text


async def test_sync_registers_help_and_status_with_the_other_commands(sim_world):
    root = ROOT
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(sim_world.tmp),
        "PYTHONPATH": str(root),
        "DISCORD_TOKEN": sim_world.discord.bot_token,
        "FAL_BACKEND": "simulated",
        "TEST_DISCORD_API": sim_world.discord.api_base,
        "TEST_DISCORD_GATEWAY": sim_world.discord.gateway_url,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(root / "tests" / "e2e" / "run_bot.py"),
        "sync",
        cwd=sim_world.tmp,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    names = {c["name"] for c in sim_world.discord.commands[None]}
    assert {"generate", "help", "status"} <= names
    assert "/help" in out.decode() and "/status" in out.decode()
