"""SHARD_COUNT and SHARD_IDS, read from the environment as an operator writes them."""

from __future__ import annotations

import socket

import pytest
from pydantic import ValidationError

from bot.config import Settings, describe_error

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456789AB"


def settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name in ("SHARD_COUNT", "SHARD_IDS", "SHARD_IDENTIFY_INTERVAL_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None, discord_token=TOKEN, fal_backend="simulated")


def error_line(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    with pytest.raises(ValidationError) as caught:
        settings(monkeypatch, **env)
    return describe_error(caught.value)


def test_unset_is_the_unsharded_bot_of_today(monkeypatch):
    s = settings(monkeypatch)
    assert (s.shard_count, s.shard_ids, s.shard_identify_interval_seconds) == (None, None, 5.0)
    blank = settings(monkeypatch, SHARD_COUNT="", SHARD_IDS="")  # left blank in .env
    assert (blank.shard_count, blank.shard_ids) == (None, None)


@pytest.mark.parametrize(
    ("text", "shards"),
    [
        ("0-3", (0, 1, 2, 3)),
        ("0,2", (0, 2)),
        ("5", (5,)),
        ("0-1,4,6-7", (0, 1, 4, 6, 7)),
        (" 2 , 0 - 1 ", (0, 1, 2)),
        ("1-1", (1,)),
        ("0-2,1", (0, 1, 2)),  # overlapping: each shard once, in order
    ],
)
def test_shard_ids_ranges_and_lists(monkeypatch, text, shards):
    s = settings(monkeypatch, SHARD_COUNT="8", SHARD_IDS=text)
    assert s.shard_count == 8 and s.shard_ids == shards


def test_shard_count_alone_serves_every_shard(monkeypatch):
    s = settings(monkeypatch, SHARD_COUNT="4")
    assert (s.shard_count, s.shard_ids) == (4, None)


@pytest.mark.parametrize("text", ["x", "0-", "-1", "1-2-3", "0,,1", "0;1", "1.5", "0-x", "[0, 1]"])
def test_malformed_shard_ids_name_the_format(monkeypatch, text):
    line = error_line(monkeypatch, SHARD_COUNT="4", SHARD_IDS=text)
    assert line == (
        "configuration error: SHARD_IDS is invalid (must be shard numbers from 0: a range like 0-3, a list like "
        "0,2, or both, like 0-1,4)"
    )


def test_a_backwards_range(monkeypatch):
    line = error_line(monkeypatch, SHARD_COUNT="4", SHARD_IDS="3-1")
    assert line == "configuration error: SHARD_IDS is invalid (the range 3-1 runs backwards: write it 1-3)"


def test_shard_ids_must_be_below_the_count(monkeypatch):
    line = error_line(monkeypatch, SHARD_COUNT="2", SHARD_IDS="0-3")
    assert line == (
        "configuration error: SHARD_IDS is invalid (shard 2 is out of range: SHARD_COUNT 2 numbers the shards 0 to 1)"
    )


def test_shard_ids_without_shard_count(monkeypatch):
    line = error_line(monkeypatch, SHARD_IDS="0")
    assert line == (
        "configuration error: SHARD_IDS is invalid (needs SHARD_COUNT, the number of shards of all the bot's "
        "processes together)"
    )


@pytest.mark.parametrize("count", ["0", "-2", "two", "1.5"])
def test_a_bad_shard_count_is_reported_alone(monkeypatch, count):
    line = error_line(monkeypatch, SHARD_COUNT=count, SHARD_IDS="0")
    assert line.startswith("configuration error: SHARD_COUNT is invalid (") and "SHARD_IDS" not in line


def test_the_identify_interval_may_be_lowered_not_negative(monkeypatch):
    assert settings(monkeypatch, SHARD_IDENTIFY_INTERVAL_SECONDS="0").shard_identify_interval_seconds == 0
    line = error_line(monkeypatch, SHARD_IDENTIFY_INTERVAL_SECONDS="-1")
    assert line.startswith("configuration error: SHARD_IDENTIFY_INTERVAL_SECONDS is invalid (")


def test_a_sharded_start_that_fails_before_login_is_still_one_line(tmp_path):
    """discord.py's sharded client cannot close before it logged in; SoraBot's can (a busy METRICS_PORT)."""
    from tests.unit.test_startup_failures import SIMULATED, start, the_one_line

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**SIMULATED, "METRICS_PORT": str(port), "SHARD_COUNT": "2", "SHARD_IDS": "0-1"}
        line = the_one_line(start(tmp_path, env))
    assert line.startswith(f"configuration error: METRICS_PORT {port} cannot be opened on 127.0.0.1")
    assert (tmp_path / "data" / "sora-bot.sqlite3.lock").exists()
