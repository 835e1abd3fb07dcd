import logging
import subprocess
import sys
from pathlib import Path

from bot.ops.logs import RedactSecrets

ROOT = Path(__file__).resolve().parents[2]


def _run(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # A clean environment and a folder with no .env: only what the test sets counts.
    base = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_missing_discord_token_exits_2_with_one_clear_line(tmp_path):
    (tmp_path / ".env").write_text("FAL_BACKEND=simulated\n")
    result = _run({}, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "configuration error: DISCORD_TOKEN is not set: copy it from the Bot page of your application in "
        "Discord's Developer Portal into .env"
    )


def test_malformed_setting_is_named_without_its_value(tmp_path):
    result = _run({"DISCORD_TOKEN": "secret-token-value", "FAL_KEY": "k", "DEV_GUILD_ID": "nope"}, cwd=tmp_path)
    assert result.returncode == 2
    assert "DEV_GUILD_ID is invalid" in result.stderr
    assert "DISCORD_TOKEN does not look like a bot token" in result.stderr
    assert "FAL_KEY does not look like a fal key" in result.stderr
    assert "secret-token-value" not in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_migrate_needs_no_tokens(tmp_path):
    result = _run({"DATABASE_PATH": str(tmp_path / "new" / "db.sqlite3")}, "migrate", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "new" / "db.sqlite3").exists()


def test_secrets_are_redacted_from_messages_and_tracebacks():
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "token is %s", ("abcdef123456",), None)
    try:
        raise RuntimeError("key abcdef123456 leaked")
    except RuntimeError:
        record.exc_info = sys.exc_info()
    RedactSecrets(["abcdef123456"]).filter(record)
    assert record.getMessage() == "token is [redacted]"
    assert "abcdef123456" not in record.exc_text
