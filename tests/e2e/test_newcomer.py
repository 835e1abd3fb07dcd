"""The README's newcomer path: copy .env.example to .env, paste only a Discord token, run the bot; it
registers its slash commands by itself and answers /generate in simulated mode, with no FAL_KEY and no
fal anywhere."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from tests.e2e.helpers import eventually, options, video_posts

pytest_plugins = ["tests.e2e.simulated_world"]
ROOT = Path(__file__).resolve().parents[2]


def start_like_a_newcomer(world) -> subprocess.Popen[bytes]:
    """.env.example copied to .env with only the token filled in; `python -m bot` started in that folder."""
    env_file = world.tmp / ".env"
    shutil.copy(ROOT / ".env.example", env_file)
    text = env_file.read_text()
    assert re.search(r"^DISCORD_TOKEN=$", text, re.MULTILINE) and re.search(r"^FAL_KEY=$", text, re.MULTILINE)
    env_file.write_text(text.replace("DISCORD_TOKEN=\n", f"DISCORD_TOKEN={world.discord.bot_token}\n", 1))
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(world.tmp),
        "PYTHONPATH": str(ROOT),
        # Only where Discord is: these are library constants, not settings (see run_bot.py).
        "TEST_DISCORD_API": world.discord.api_base,
        "TEST_DISCORD_GATEWAY": world.discord.gateway_url,
    }
    with open(world.tmp / "newcomer.log", "wb") as log:
        return subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "e2e" / "run_bot.py")],
            cwd=world.tmp,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


async def test_env_example_with_only_a_token_registers_the_commands_and_runs_in_simulated_mode(sim_world):
    fake = sim_world.discord
    process = start_like_a_newcomer(sim_world)
    try:
        await fake.wait_ready(timeout=30)
        # Registered before the gateway connected, with no DEV_GUILD_ID and no `sync` step.
        names = {c["name"] for c in fake.commands.get(None, [])}
        assert {"generate", "remix", "help", "quota", "Animate image"} <= names
        await sim_world.discord.send_slash_command(
            sim_world.guild_id, sim_world.channel_id, sim_world.user_id, name="generate", options=options("hello")
        )
        post = (await eventually(lambda: video_posts(sim_world.discord, sim_world.channel_id), timeout=60))[0]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(20)
    assert "(simulated)" in post.json["embeds"][0]["title"] and len(post.files) == 1
    assert (sim_world.tmp / "data" / "sora-bot.sqlite3").exists()  # the README's default database path
    log = (sim_world.tmp / "newcomer.log").read_text()
    assert re.search(r"registered \d+ command\(s\) globally: /generate", log)
    assert "voice will NOT be supported" not in log  # discord.py's warnings, for a bot with no voice
