"""The one wiring point: Settings -> logging -> database + migrations -> services -> bot -> run.

python -m bot            run the bot
python -m bot migrate    apply database migrations and exit
python -m bot sync       register the slash commands with Discord (globally) and exit
python -m bot check      check the settings, database and ffmpeg: one line per check, non-zero on failure
python -m bot invite     print the URL that adds the bot to a server with the permissions it needs
python -m bot health     exit 0 while Discord's gateway answers heartbeats (Docker's HEALTHCHECK)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

import aiohttp
import discord
from pydantic import ValidationError

from bot import checks, db, health, invite, logs
from bot.app import App
from bot.config import ConfigurationError, Settings, StorageSettings, describe_error
from bot.discord_client import SoraBot
from bot.operations import with_operator_cogs

log = logging.getLogger("bot")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Sora 2 videos in Discord, through fal.ai")
    parser.add_argument(
        "command", nargs="?", default="run", choices=["run", "migrate", "sync", "check", "invite", "health"]
    )
    args = parser.parse_args(argv)
    if args.command == "check":
        return checks.main()
    if args.command == "invite":
        return invite.main()
    if args.command == "health":
        return health.main()
    try:
        settings: StorageSettings = StorageSettings() if args.command == "migrate" else Settings()
    except ValidationError as exc:
        print(describe_error(exc), file=sys.stderr)
        return 2
    secrets = [
        s.get_secret_value()
        for s in (getattr(settings, "discord_token", None), getattr(settings, "fal_key", None))
        if s is not None
    ]
    logs.configure(settings.log_level, secrets)
    try:
        if args.command == "migrate":
            return asyncio.run(migrate_only(settings))
        assert isinstance(settings, Settings)
        if args.command == "sync":
            return asyncio.run(sync_commands(settings))
        return asyncio.run(run(settings))
    except ConfigurationError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except discord.LoginFailure:
        print("configuration error: DISCORD_TOKEN was refused by Discord", file=sys.stderr)
        return 2
    except discord.PrivilegedIntentsRequired:
        print(
            "configuration error: MESSAGE_CONTENT_INTENT is true but the Message Content intent is not enabled "
            "for this application in Discord's Developer Portal",
            file=sys.stderr,
        )
        return 2
    except aiohttp.ClientConnectionError as exc:
        print(f"cannot reach Discord: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


async def migrate_only(settings: StorageSettings) -> int:
    conn, applied = await db.open_migrated(settings.database_path)
    await conn.close()
    print(f"database {settings.database_path}: applied {len(applied)} migration(s)")
    return 0


async def run(settings: Settings) -> int:
    app = await App.create(settings)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await app.run(stopping)
    return 0


async def sync_commands(settings: Settings) -> int:
    async def install(bot: SoraBot) -> None:
        from cogs import CogDeps, install

        # Only the commands' shapes matter here: the cogs are never called.
        await install(bot, CogDeps(None, None, None, None, None, None, None, None))  # type: ignore[arg-type]

    async def nothing() -> None:
        return None

    bot = SoraBot(message_content=False, dev_guild_id=None, install=with_operator_cogs(install), on_first_ready=nothing)
    async with bot:
        await bot.login(settings.discord_token.get_secret_value())
        synced = await bot.tree.sync()
        print(f"registered {len(synced)} command(s) globally: " + ", ".join(f"/{c.name}" for c in synced))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
