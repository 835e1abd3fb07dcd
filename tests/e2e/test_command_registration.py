"""The slash commands are registered at start-up when they changed since the last registration (globally,
or in DEV_GUILD_ID), never again for nothing, and `python -m bot sync` forces it without needing fal."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import sys
from pathlib import Path

from tests.e2e.helpers import eventually
from tests.e2e.sim_process import sim_process

pytest_plugins = ["tests.e2e.simulated_world"]
ROOT = Path(__file__).resolve().parents[2]
EVERY_COMMAND = {"generate", "animate-attachment", "remix", "character", "usage", "quota", "settings", "help", "status"}
EVERY_COMMAND |= {"videos", "show"}


def registrations(fake, guild_id: int | None = None) -> list:
    scope = "" if guild_id is None else f"/guilds/{guild_id}"
    path = f"/applications/{fake.application_id}{scope}/commands"
    return [r for r in fake.requests if r.method == "PUT" and r.path == path]


def registered(fake, guild_id: int | None = None) -> set[str]:
    return {c["name"] for c in fake.commands.get(guild_id, [])}


async def test_the_first_start_registers_the_commands_globally_and_a_restart_does_not_again(sim_world, start_sim):
    bot = await start_sim()
    assert EVERY_COMMAND | {"Animate image", "Remix video"} <= registered(sim_world.discord)
    [put] = registrations(sim_world.discord)
    assert put.status == 200 and sim_world.discord.check_against_openapi() == []
    # The stored digest is that of exactly what Discord received (it reads discord.py's private
    # _get_all_commands: this fails if an upgrade makes the two differ).
    sent = sorted(put.json, key=lambda c: (c.get("type", 1), c["name"]))
    expected = hashlib.sha256(json.dumps(sent, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    with sqlite3.connect(sim_world.tmp / "data" / "bot.sqlite3") as db:
        assert db.execute("SELECT scope, digest FROM registered_commands").fetchall() == [("global", expected)]
    await bot.stop()

    bot = await start_sim()
    assert len(registrations(sim_world.discord)) == 1  # unchanged: nothing sent
    await bot.stop()

    # A new version of the bot whose commands differ: the stored digest no longer matches.
    with sqlite3.connect(sim_world.tmp / "data" / "bot.sqlite3") as db:
        db.execute("UPDATE registered_commands SET digest = 'an older command tree'")
    await start_sim()
    assert len(registrations(sim_world.discord)) == 2


async def test_dev_guild_id_registers_there_and_unsetting_it_withdraws_them(sim_world, start_sim):
    fake, guild = sim_world.discord, sim_world.guild_id
    bot = await start_sim(dev_guild_id=guild)
    assert EVERY_COMMAND <= registered(fake, guild) and registrations(fake) == []
    await bot.stop()

    await start_sim()  # DEV_GUILD_ID removed: global commands, and that server no longer lists them twice
    assert EVERY_COMMAND <= registered(fake)
    assert registered(fake, guild) == set() and len(registrations(fake, guild)) == 2


async def test_a_dev_guild_id_the_bot_is_not_in_stops_it_with_one_line(sim_world):
    process = sim_process(sim_world, "unknown-guild.log", DEV_GUILD_ID="123456789012345678")
    assert await asyncio.to_thread(process.wait, 30) == 2
    lines = (sim_world.tmp / "unknown-guild.log").read_text().splitlines()
    assert lines[-1].startswith("configuration error: DEV_GUILD_ID 123456789012345678: Discord refused")
    assert "unset DEV_GUILD_ID" in lines[-1] and "Traceback" not in "\n".join(lines)


async def test_a_token_discord_refuses_stops_the_bot_with_one_line(sim_world):
    token = sim_world.discord.bot_token[:-4] + "abcd"  # well formed, but not this application's
    process = sim_process(sim_world, "refused.log", DISCORD_TOKEN=token)
    assert await asyncio.to_thread(process.wait, 30) == 2
    lines = (sim_world.tmp / "refused.log").read_text().splitlines()
    assert lines[-1].startswith("configuration error: DISCORD_TOKEN was refused by Discord: copy it again")
    assert "Traceback" not in "\n".join(lines) and token not in "\n".join(lines)


async def test_sync_needs_no_fal_key_and_the_next_start_does_not_register_again(sim_world):
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(sim_world.tmp),
        "PYTHONPATH": str(ROOT),
        "DISCORD_TOKEN": sim_world.discord.bot_token,  # and no FAL_KEY, with FAL_BACKEND's default (fal)
        "DATABASE_PATH": str(sim_world.tmp / "data" / "bot.sqlite3"),
        "TEST_DISCORD_API": sim_world.discord.api_base,
        "TEST_DISCORD_GATEWAY": sim_world.discord.gateway_url,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "tests" / "e2e" / "run_bot.py"),
        "sync",
        cwd=sim_world.tmp,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    assert out.decode().startswith("registered ") and "globally: /generate" in out.decode()
    assert EVERY_COMMAND <= registered(sim_world.discord)

    bot = sim_process(sim_world, "after-sync.log")
    try:
        await sim_world.discord.wait_ready(timeout=30)
        log = sim_world.tmp / "after-sync.log"
        await eventually(lambda: "slash commands unchanged" in log.read_text(), timeout=10)
    finally:
        bot.terminate()
        await asyncio.to_thread(bot.wait, 20)
    assert len(registrations(sim_world.discord)) == 1


async def test_the_commands_are_registered_in_members_languages(sim_world, start_sim):
    """discord.py sends each name and description with its translations (the Translator over the
    catalogues); the fake refuses, as Discord does, a translated name that breaks the naming rules."""
    bot = await start_sim()
    [put] = registrations(sim_world.discord)
    assert put.status == 200
    generate = next(c for c in put.json if c["name"] == "generate")
    assert set(generate["description_localizations"]) >= {"de", "es-ES", "es-419", "fr", "ja", "pt-BR"}
    assert generate["description_localizations"]["ja"] != generate["description"]
    assert "en-US" not in generate["description_localizations"]  # English is the command's own text
    prompt = next(o for o in generate["options"] if o["name"] == "prompt")
    assert prompt["name_localizations"]["ja"] and prompt["description_localizations"]["de"]
    menu = next(c for c in put.json if c["name"] == "Remix video")
    assert menu["name_localizations"]["fr"] != "Remix video"
    await bot.stop()
