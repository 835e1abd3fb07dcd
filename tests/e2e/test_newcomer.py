"""The README's newcomer path: copy .env.example to .env, paste only a Discord token, run the bot; it
answers /generate in simulated mode, with no FAL_KEY and no fal anywhere."""

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


async def test_env_example_with_only_a_token_runs_in_simulated_mode(sim_world):
    process = start_like_a_newcomer(sim_world)
    try:
        await sim_world.discord.wait_ready(timeout=30)
        await sim_world.discord.send_slash_command(
            sim_world.guild_id, sim_world.channel_id, sim_world.user_id, name="generate", options=options("hello")
        )
        post = (await eventually(lambda: video_posts(sim_world.discord, sim_world.channel_id), timeout=60))[0]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(20)
    assert "(simulated)" in post.json["embeds"][0]["title"] and len(post.files) == 1
    assert (sim_world.tmp / "data" / "sora-bot.sqlite3").exists()  # the README's default database path
