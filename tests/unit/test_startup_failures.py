"""Every way a start can fail before the bot connects ends within seconds, with one line naming the setting
and what to do, and exit status 2: never a traceback, never a hang. Each case runs the real process in a
folder of its own, with a clean environment and a timeout."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456789AB"
FAL_KEY = "6f1c7c0e-1234-4abc-9def-0123456789ab:0123456789abcdef0123456789abcdef"
SIMULATED = {"DISCORD_TOKEN": TOKEN, "FAL_BACKEND": "simulated"}
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING) ")


def start(folder: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m bot ARGS` in `folder`, which has no .env unless the test wrote one."""
    base = {"PATH": "/usr/bin:/bin", "HOME": str(folder), "PYTHONPATH": str(ROOT)}
    began = time.monotonic()
    command = [sys.executable, "-m", "bot", *args]
    result = subprocess.run(command, cwd=folder, env={**base, **env}, capture_output=True, text=True, timeout=30)
    assert time.monotonic() - began < 20, "a failing start must end within seconds"
    return result


def the_one_line(result: subprocess.CompletedProcess[str], status: int = 2) -> str:
    """The failure's line: the last one, after nothing but ordinary log lines, and no traceback."""
    assert result.returncode == status, result.stdout + result.stderr
    *before, last = result.stderr.splitlines()
    assert [line for line in before if not LOG_LINE.match(line)] == [], result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return last


def test_no_env_file_points_at_env_example_and_simulated_mode(tmp_path):
    line = the_one_line(start(tmp_path, {}))
    assert line == (
        "configuration error: no .env file here and DISCORD_TOKEN is not set: copy .env.example to .env and put "
        "your bot token in it (it starts in simulated mode: free test videos, no FAL_KEY needed)"
    )


def test_the_unedited_env_example_asks_for_the_token(tmp_path):
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    line = the_one_line(start(tmp_path, {}))
    assert line == (
        "configuration error: DISCORD_TOKEN is not set: copy it from the Bot page of your application in "
        "Discord's Developer Portal into .env"
    )


def test_a_malformed_discord_token_is_refused_before_login(tmp_path):
    line = the_one_line(start(tmp_path, {**SIMULATED, "DISCORD_TOKEN": "my-secret-not-a-token"}))
    assert line.startswith("configuration error: DISCORD_TOKEN does not look like a bot token")
    assert "Developer Portal" in line and "my-secret-not-a-token" not in line


def test_a_missing_fal_key_offers_simulated_mode(tmp_path):
    line = the_one_line(start(tmp_path, {"DISCORD_TOKEN": TOKEN}))
    assert line.startswith("configuration error: FAL_KEY is not set: create one at https://fal.ai/dashboard/keys")
    assert "FAL_BACKEND=simulated" in line


def test_a_malformed_fal_key_is_refused_before_the_first_job(tmp_path):
    line = the_one_line(start(tmp_path, {"DISCORD_TOKEN": TOKEN, "FAL_KEY": "sk-just-one-part"}))
    assert line == (
        "configuration error: FAL_KEY does not look like a fal key (KEY_ID:KEY_SECRET): "
        "copy it again from https://fal.ai/dashboard/keys"
    )


# One malformed value for every other setting of `run` (DATABASE_PATH and METRICS_HOST take any text:
# what cannot be used is tested below, when the bot tries to use it).
MALFORMED = {
    "FAL_BACKEND": "openai",
    "DEV_GUILD_ID": "my-server",
    "MESSAGE_CONTENT_INTENT": "maybe",
    "LOG_LEVEL": "LOUD",
    "HEALTH_MAX_AGE_SECONDS": "0",
    "PRICE_SORA_2": "free",
    "PRICE_SORA_2_PRO_720P": "-0.30",
    "PRICE_SORA_2_PRO_1080P": "1,5",
    "PRICE_REMIX": "-1",
    "PRICE_UNKNOWN": "?",
    "QUOTA_MEMBER_LIMIT_USD": "lots",
    "QUOTA_PERIOD": "hourly",
    "QUOTA_BUDGET_USD": "-5",
    "QUOTA_MAX_JOBS_PER_MEMBER": "0",
    "QUOTA_MAX_JOBS_PER_GUILD": "many",
    "QUOTA_MAX_WAITING_PER_MEMBER": "-1",
    "FAL_UPDATES": "push",  # stream, poll or webhook
    "FAL_WEBHOOK_URL": "http://bot.example.org/fal/webhook",  # plain http beyond this machine
    "WEBHOOK_PORT": "0",
    "FAL_JWKS_URL": "rest.fal.ai/.well-known/jwks.json",
    "FAL_WEBHOOK_SWEEP_SECONDS": "0",
    "FAL_POLL_MIN_SECONDS": "0",
    "FAL_POLL_MAX_SECONDS": "soon",
    "FAL_JOB_TIMEOUT_SECONDS": "-1",
    "JOB_LEASE_SECONDS": "2",  # under 5: a lease shorter than a heartbeat round trip
    "FAL_PLATFORM_URL": "api.fal.ai/v1",
    "PROGRESS_MIN_INTERVAL_SECONDS": "-3",
    "MAX_DOWNLOAD_MIB": "0",
    "SIMULATED_QUEUE_SECONDS": "-2",
    "SIMULATED_RUN_SECONDS": "0",
    "METRICS_PORT": "70000",
    "DATABASE_URL": "mysql://bot:secret@db/sora",
    "DATABASE_POOL_SIZE": "0",
    "SHARD_COUNT": "two",
    "SHARD_IDS": "0-x",
    "SHARD_IDENTIFY_INTERVAL_SECONDS": "-5",
}


def test_every_setting_has_a_malformed_case():
    from bot.config import Settings

    tested_elsewhere = {"DISCORD_TOKEN", "FAL_KEY", "DATABASE_PATH", "METRICS_HOST", "WEBHOOK_HOST"}
    assert {name.upper() for name in Settings.model_fields} == set(MALFORMED) | tested_elsewhere


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_a_malformed_setting_is_named(tmp_path, name):
    line = the_one_line(start(tmp_path, {**SIMULATED, name: MALFORMED[name]}))
    assert line.startswith(f"configuration error: {name} is invalid (")


def test_webhooks_without_a_url_say_what_to_set(tmp_path):
    line = the_one_line(start(tmp_path, {**SIMULATED, "FAL_UPDATES": "webhook"}))
    assert line.startswith("configuration error: FAL_WEBHOOK_URL is needed with FAL_UPDATES=webhook: the public")


def test_several_malformed_settings_share_the_one_line(tmp_path):
    line = the_one_line(start(tmp_path, {**SIMULATED, "MAX_DOWNLOAD_MIB": "0", "LOG_LEVEL": "LOUD"}))
    assert line.startswith("configuration error: LOG_LEVEL is invalid (")
    assert "; MAX_DOWNLOAD_MIB is invalid (Input should be greater than 0)" in line


@pytest.mark.parametrize("command", ["run", "migrate"])
def test_a_database_path_that_is_not_sqlite(tmp_path, command):
    (tmp_path / "notes.txt").write_text("not a database\n" * 100)
    line = the_one_line(start(tmp_path, {**SIMULATED, "DATABASE_PATH": "notes.txt"}, command))
    assert line == (
        "configuration error: DATABASE_PATH notes.txt cannot be used (file is not a database): set DATABASE_PATH "
        "to the bot's SQLite file, or to a new file in a folder the bot can write to"
    )


def test_check_reports_a_database_path_that_is_not_sqlite_and_exits(tmp_path):
    (tmp_path / "notes.txt").write_text("not a database\n" * 100)
    result = start(tmp_path, {**SIMULATED, "DATABASE_PATH": "notes.txt"}, "check")
    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr
    assert "✗ DATABASE_PATH notes.txt cannot be used (file is not a database)" in result.stdout


def test_a_database_folder_that_cannot_be_created(tmp_path):
    (tmp_path / "data").write_text("a file where the folder should be")
    line = the_one_line(start(tmp_path, SIMULATED))  # the default DATABASE_PATH, data/sora-bot.sqlite3
    assert line.startswith(
        "configuration error: DATABASE_PATH data/sora-bot.sqlite3 cannot be used (cannot create the folder data: "
    )


def test_a_database_path_that_is_a_folder(tmp_path):
    (tmp_path / "db").mkdir()
    line = the_one_line(start(tmp_path, {**SIMULATED, "DATABASE_PATH": "db"}))
    assert line.startswith("configuration error: DATABASE_PATH db cannot be used (unable to open database file)")


def test_a_metrics_port_in_use(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = the_one_line(start(tmp_path, {**SIMULATED, "METRICS_PORT": str(port)}))
    assert line == (
        f"configuration error: METRICS_PORT {port} cannot be opened on 127.0.0.1 (Address already in use): "
        "choose a free port, or unset METRICS_PORT"
    )


def test_sync_asks_for_the_token_only(tmp_path):
    (tmp_path / ".env").write_text("FAL_BACKEND=fal\n")
    line = the_one_line(start(tmp_path, {}, "sync"))
    assert line.startswith("configuration error: DISCORD_TOKEN is not set:") and "FAL_KEY" not in line


def test_health_says_unhealthy_with_status_1_on_a_settings_error(tmp_path):
    # Docker reserves exit status 2 for HEALTHCHECK commands.
    result = start(tmp_path, {"HEALTH_MAX_AGE_SECONDS": "soon"}, "health")
    assert result.returncode == 1
    assert result.stdout.startswith("unhealthy: configuration error: HEALTH_MAX_AGE_SECONDS is invalid")


def test_help_describes_every_command(tmp_path):
    result = start(tmp_path, {}, "--help")
    assert result.returncode == 0
    for command in ("run", "migrate", "sync", "check", "copy-db", "invite", "health"):
        assert re.search(rf"^\s+{command}\s+\S", result.stdout, re.MULTILINE), command
