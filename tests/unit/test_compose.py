"""docker-compose.yml without Docker Compose (no engine runs here, and `docker compose config` is not
installed) or a YAML library (PyYAML is no dependency): a light reading of its two-space layout. The
`cluster` profile's bots must be valid settings for the bot and cover every shard exactly once."""

from __future__ import annotations

import re
from pathlib import Path

from bot.config import Settings

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456789AB"


def services() -> dict[str, str]:
    """Each service's block of text, by name (the lines indented under `  name:` in `services:`)."""
    text = (ROOT / "docker-compose.yml").read_text()
    body = text.split("\nservices:\n", 1)[1].split("\nvolumes:\n", 1)[0]
    blocks: dict[str, str] = {}
    name = None
    for line in body.splitlines():
        found = re.fullmatch(r"  ([a-z0-9-]+):", line)
        if found:
            name = found.group(1)
            blocks[name] = ""
        elif name is not None and line.startswith("    "):
            blocks[name] += line + "\n"
    return blocks


def environment(block: str) -> dict[str, str]:
    section = block.split("    environment:\n", 1)[1]
    values = {}
    for line in section.splitlines():
        found = re.fullmatch(r"      ([A-Z_]+): (.*)", line)
        if not found:
            break
        values[found.group(1)] = found.group(2).strip('"').replace("${POSTGRES_PASSWORD}", "pw")
    return values


def test_the_default_bot_is_unchanged_and_in_no_profile():
    blocks = services()
    assert "profiles" not in blocks["bot"] and "SHARD" not in blocks["bot"]
    assert "      - sora-data:/data\n" in blocks["bot"]
    others = {name for name, block in blocks.items() if name != "bot"}
    assert others == {"postgres", "shard-0", "shard-1"}
    assert all("    profiles: [cluster]\n" in blocks[name] for name in others)


def test_the_cluster_bots_are_valid_settings_covering_every_shard_once():
    blocks = services()
    served: list[int] = []
    for name in ("shard-0", "shard-1"):
        env = environment(blocks[name])
        settings = Settings(
            _env_file=None,
            discord_token=TOKEN,
            fal_backend="simulated",
            shard_count=env["SHARD_COUNT"],
            shard_ids=env["SHARD_IDS"],
            database_url=env["DATABASE_URL"],
        )
        assert settings.shard_count == 2 and settings.database_engine == "postgresql"
        assert settings.database_url is not None
        assert settings.database_url.get_secret_value() == "postgresql://sora:pw@postgres:5432/sora"
        assert settings.shard_ids is not None
        served += settings.shard_ids
        block = blocks[name]
        assert '      test: ["CMD", "python", "-m", "bot", "health"]\n' in block
        assert "    depends_on:\n      postgres:\n        condition: service_healthy\n" in block
        assert f"      - sora-{name}:/data\n" in block  # its own health file and work files
    assert sorted(served) == [0, 1]
    assert 'test: ["CMD-SHELL", "pg_isready -U sora -d sora"]' in blocks["postgres"]
