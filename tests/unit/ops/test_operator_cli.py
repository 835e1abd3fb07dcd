"""`python -m bot check`, `invite` and `health` as an operator runs them: real processes, a clean
environment and a folder with no .env."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from pathlib import Path

import discord
from aiohttp import web

from bot.fal.webhook_receiver import WebhookReceiver
from bot.fal.webhooks import JwksCache, WebhookVerifier
from bot.ops.invite import application_id, invite_url, permissions_value
from tests.fakes.ports import pick_free_port

ROOT = Path(__file__).resolve().parents[3]
# The shape of a real bot token: base64 of the application id, a timestamp, an HMAC.
TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456789AB"
FAL_KEY = "6f1c7c0e-1234-4abc-9def-0123456789ab:0123456789abcdef0123456789abcdef"


def bot(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    base = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(cwd),
        "PYTHONPATH": str(ROOT),
        "DATABASE_PATH": str(cwd / "db.sqlite3"),
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=cwd, env={**base, **env}, capture_output=True, text=True, timeout=120
    )


def lines(result: subprocess.CompletedProcess[str], mark: str) -> list[str]:
    return [line[2:] for line in result.stdout.splitlines() if line.startswith(mark + " ")]


def test_check_passes_in_simulated_mode_with_only_a_discord_token(tmp_path):
    result = bot({"DISCORD_TOKEN": TOKEN, "FAL_BACKEND": "simulated"}, "check", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert lines(result, "✗") == []
    passed = "\n".join(lines(result, "✓"))
    for expected in ("settings", "database", "ffmpeg", "application 123456789012345678", "FAL_KEY not needed"):
        assert expected in passed
    assert "simulated videos: a test clip" in passed
    assert (tmp_path / "db.sqlite3").exists()  # opened and migrated


def test_check_passes_with_a_well_formed_fal_key(tmp_path):
    result = bot({"DISCORD_TOKEN": TOKEN, "FAL_KEY": FAL_KEY}, "check", cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    assert "FAL_KEY looks like a fal key" in result.stdout
    assert FAL_KEY not in result.stdout + result.stderr and TOKEN not in result.stdout + result.stderr


def test_check_names_each_broken_setting_on_its_own_line(tmp_path):
    result = bot(
        {"DISCORD_TOKEN": "not-a-token", "DEV_GUILD_ID": "nope", "MAX_DOWNLOAD_MIB": "0"}, "check", cwd=tmp_path
    )
    assert result.returncode == 1
    failed = lines(result, "✗")
    assert any(f.startswith("FAL_KEY is not set") and "FAL_BACKEND=simulated" in f for f in failed)
    assert any(f.startswith("DEV_GUILD_ID is invalid") for f in failed)
    assert any(f.startswith("MAX_DOWNLOAD_MIB is invalid") for f in failed)
    assert any(f.startswith("DISCORD_TOKEN does not look like a bot token") for f in failed)
    assert len(failed) == 4
    assert "not-a-token" not in result.stdout and "Traceback" not in result.stdout + result.stderr


def test_check_flags_a_malformed_fal_key_and_a_missing_token(tmp_path):
    result = bot({"FAL_KEY": "sk-just-one-part"}, "check", cwd=tmp_path)
    assert result.returncode == 1
    failed = lines(result, "✗")
    assert any(f.startswith("DISCORD_TOKEN is not set") and "Developer Portal" in f for f in failed)
    result = bot({"DISCORD_TOKEN": TOKEN, "FAL_KEY": "sk-just-one-part"}, "check", cwd=tmp_path)
    assert result.returncode == 1
    assert lines(result, "✗") == [
        "FAL_KEY does not look like a fal key (KEY_ID:KEY_SECRET): copy it again from https://fal.ai/dashboard/keys"
    ]
    assert "sk-just-one-part" not in result.stdout


def test_check_flags_a_metrics_port_in_use(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {"DISCORD_TOKEN": TOKEN, "FAL_BACKEND": "simulated", "METRICS_PORT": str(port)}
        result = bot(env, "check", cwd=tmp_path)
    assert result.returncode == 1
    assert [f for f in lines(result, "✗") if f.startswith(f"METRICS_PORT {port} cannot be opened")]


def test_run_without_fal_key_exits_2_unless_simulated(tmp_path):
    result = bot({"DISCORD_TOKEN": TOKEN}, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "configuration error: FAL_KEY is not set: create one at https://fal.ai/dashboard/keys, "
        "or set FAL_BACKEND=simulated to try the bot for free"
    )
    result = bot({"DISCORD_TOKEN": TOKEN, "FAL_KEY": ""}, cwd=tmp_path)  # FAL_KEY= left blank in .env
    assert result.returncode == 2 and "FAL_KEY is not set" in result.stderr


def test_invite_prints_the_url_for_the_tokens_application(tmp_path):
    result = bot({"DISCORD_TOKEN": TOKEN}, "invite", cwd=tmp_path)
    assert result.returncode == 0
    url = result.stdout.splitlines()[0]
    needed = discord.Permissions(send_messages=True, embed_links=True, attach_files=True, read_message_history=True)
    assert url == discord.utils.oauth_url(
        123456789012345678, permissions=needed, scopes=("bot", "applications.commands")
    )
    assert permissions_value() == needed.value == 116736
    assert TOKEN not in result.stdout

    result = bot({"DISCORD_APPLICATION_ID": "42424242424242424"}, "invite", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.startswith(invite_url(42424242424242424))
    result = bot({}, "invite", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.startswith("configuration error: DISCORD_TOKEN is not set:")
    result = bot({"DISCORD_TOKEN": "not-a-token"}, "invite", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("configuration error: DISCORD_TOKEN does not look like a bot token")
    assert "not-a-token" not in result.stderr and len(result.stderr.splitlines()) == 1


def test_application_id_is_read_from_a_token():
    assert application_id(TOKEN) == 123456789012345678
    assert application_id("garbage") is None
    assert application_id("") is None


def test_health_follows_the_heartbeat_file(tmp_path):
    env = {"HEALTH_MAX_AGE_SECONDS": "30"}
    missing = bot(env, "health", cwd=tmp_path)
    assert missing.returncode == 1 and "no gateway heartbeat" in missing.stdout
    (tmp_path / "heartbeat").write_text(f"{time.time() - 5:.3f}\n")
    fresh = bot(env, "health", cwd=tmp_path)
    assert fresh.returncode == 0 and fresh.stdout.startswith("healthy")
    (tmp_path / "heartbeat").write_text(f"{time.time() - 60:.3f}\n")
    stale = bot(env, "health", cwd=tmp_path)
    assert stale.returncode == 1 and stale.stdout.startswith("unhealthy") and "(limit 30 s)" in stale.stdout


def webhook_env(fake_fal, port: int) -> dict[str, str]:
    return {
        "DISCORD_TOKEN": TOKEN,
        "FAL_KEY": FAL_KEY,
        "FAL_UPDATES": "webhook",
        "FAL_WEBHOOK_URL": f"http://127.0.0.1:{port}/fal/webhook",
        "WEBHOOK_PORT": str(port),
        "FAL_JWKS_URL": fake_fal.jwks_url,
        "SSL_CERT_FILE": str(fake_fal.ca_path),  # the fake fal's TLS
    }


async def test_check_tells_the_webhook_receiver_can_listen_and_fals_keys_can_be_read(fake_fal, tmp_path):
    port = pick_free_port()
    result = await asyncio.to_thread(bot, webhook_env(fake_fal, port), "check", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    passed = lines(result, "✓")
    listening = f"webhook receiver: can listen on 127.0.0.1:{port} and answers at /fal/webhook"
    assert any(line.startswith(listening) for line in passed)
    assert f"fal's webhook keys: 1 read from {fake_fal.jwks_url}" in passed


async def test_check_finds_the_running_bots_receiver(fake_fal, tmp_path):
    # A receiver as the running bot has it (check only GETs it: nothing is verified or recorded).
    verifier = WebhookVerifier(JwksCache(None, fake_fal.jwks_url))
    receiver = WebhookReceiver(verifier, None, host="127.0.0.1", port=0, path="/fal/webhook")
    await receiver.start()
    try:
        result = await asyncio.to_thread(bot, webhook_env(fake_fal, receiver.port), "check", cwd=tmp_path)
    finally:
        await receiver.stop()
    assert result.returncode == 0, result.stdout
    running = f"webhook receiver: the running bot answers on 127.0.0.1:{receiver.port} at /fal/webhook"
    assert running in lines(result, "✓")


async def test_check_flags_another_program_on_the_webhook_port_and_unreadable_keys(fake_fal, tmp_path):
    other = web.Application()

    async def someone_else(request: web.Request) -> web.Response:
        return web.Response(text="someone else")

    other.router.add_get("/{tail:.*}", someone_else)
    runner = web.AppRunner(other)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    fake_fal.jwks_status = 503
    try:
        result = await asyncio.to_thread(bot, webhook_env(fake_fal, port), "check", cwd=tmp_path)
    finally:
        await runner.cleanup()
    assert result.returncode == 1
    failed = lines(result, "✗")
    assert any(line.startswith(f"WEBHOOK_PORT {port} on 127.0.0.1 is in use by another program") for line in failed)
    assert any(line.startswith(f"fal's webhook keys cannot be read from {fake_fal.jwks_url}") for line in failed)
    assert len(failed) == 2
