"""The command line: parse the subcommand, call it. Every start-up failure is one line and exit status 2.

python -m bot            run the bot
python -m bot migrate    apply database migrations and exit
python -m bot sync       register the slash commands with Discord now and exit
python -m bot check      check the settings, database and ffmpeg: one line per check, non-zero on failure
python -m bot copy-db postgresql://…   copy the SQLite database of DATABASE_PATH into an empty PostgreSQL one
python -m bot invite     print the URL that adds the bot to a server with the permissions it needs
python -m bot health     exit 0 while Discord's gateway answers heartbeats (Docker's HEALTHCHECK)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any

import aiohttp
import discord
from pydantic import ValidationError

from bot.app import App, sync
from bot.config import ConfigurationError, DiscordSettings, Settings, StorageSettings, describe_error
from bot.ops import checks, health, invite, logs
from bot.storage.copy import CopyRefused, copy_database
from bot.storage.engines import database_secrets, describe, open_database
from bot.storage.postgres import SCHEMES, PostgresDatabase, redact
from bot.storage.postgres import secrets as url_secrets
from bot.storage.sqlite import SqliteDatabase

log = logging.getLogger("bot")

COMMANDS = {
    "run": "start the bot (what runs without a command): applies the migrations, registers the slash commands "
    "if they changed since the last start, resumes unfinished jobs",
    "migrate": "apply the database migrations (migrations/NNNN_*.sql, or migrations/postgresql/ when DATABASE_URL "
    "is set) and exit",
    "sync": "register the slash commands now (globally, or in DEV_GUILD_ID when set) and exit",
    "check": "check the settings, the database, ffmpeg and the tokens' format: one line per check, exit 1 on any ✗",
    "copy-db": "copy the SQLite database of DATABASE_PATH (jobs, videos, ledger, settings, characters, audit) into "
    "the empty PostgreSQL database of the URL given, then compare row counts and ledger sums; a target that is not "
    "empty is refused",
    "invite": "print the link that adds the bot to a server, with the permissions it needs",
    "health": "exit 0 while Discord's gateway answers the bot's heartbeats, 1 otherwise (Docker's HEALTHCHECK)",
}


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        usage="%(prog)s [-h] [command]",
        description="A Discord bot that makes Sora 2 videos through fal.ai.",
        epilog="Settings come from the environment or from .env in the current folder (see .env.example). "
        "A missing or malformed setting stops run, migrate and sync with one line naming it and exit status 2; "
        "check lists every problem.",
    )
    commands = parser.add_subparsers(dest="command", title="commands", metavar="command")
    for name, text in COMMANDS.items():
        command = commands.add_parser(name, help=text, description=text)
        if name == "copy-db":
            command.add_argument("url", help="the target: postgresql://USER:PASSWORD@HOST:PORT/DATABASE")
    return parser


def main(argv: list[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    command = arguments.command or "run"
    if command == "check":
        return checks.main()
    if command == "invite":
        return invite.main()
    if command == "health":
        return health.main()
    try:
        settings = SETTINGS[command]()
    except ValidationError as exc:
        print(describe_error(exc), file=sys.stderr)
        return 2
    secrets = [getattr(settings, name, None) for name in ("discord_token", "fal_key")]
    hidden = [s.get_secret_value() for s in secrets if s is not None] + database_secrets(settings)
    if command == "copy-db":
        hidden += url_secrets(arguments.url)
    logs.configure(settings.log_level, hidden)
    try:
        if command == "copy-db":
            return asyncio.run(copy_db(settings, arguments.url))
        return asyncio.run(_action(command)(settings))
    except ConfigurationError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except discord.LoginFailure:
        print(
            "configuration error: DISCORD_TOKEN was refused by Discord: copy it again from the Bot page of your "
            "application in Discord's Developer Portal (reset it there if needed)",
            file=sys.stderr,
        )
        return 2
    except discord.PrivilegedIntentsRequired:
        print(
            "configuration error: MESSAGE_CONTENT_INTENT is true but the Message Content intent is not enabled "
            "for this application in Discord's Developer Portal: enable it there, or set MESSAGE_CONTENT_INTENT=false",
            file=sys.stderr,
        )
        return 2
    except aiohttp.ClientConnectionError as exc:
        print(f"cannot reach Discord: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


async def migrate_only(settings: StorageSettings) -> int:
    database = await open_database(settings)
    await database.close()
    applied = ", ".join(f"{v:04d}" for v in database.applied) or "none: already up to date"
    print(f"database {describe(settings)}: applied {len(database.applied)} migration(s) ({applied})")
    return 0


async def copy_db(settings: StorageSettings, url: str) -> int:
    """`python -m bot copy-db URL`: the SQLite file of DATABASE_PATH into the empty PostgreSQL database of URL."""
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in SCHEMES:
        raise ConfigurationError(
            "copy-db needs the target as a PostgreSQL URL, postgresql://USER:PASSWORD@HOST:PORT/DATABASE "
            f"(given: {scheme + '://…' if scheme else 'no URL scheme'})"
        )
    if not settings.database_path.is_file():
        raise ConfigurationError(
            f"DATABASE_PATH {settings.database_path} does not exist: nothing to copy (set DATABASE_PATH to the "
            "bot's SQLite file)"
        )
    # The target first: one that cannot be used stops the copy before the source is even opened.
    target = await PostgresDatabase.open(url, pool_size=2, named="copy-db's target")
    try:
        source = await SqliteDatabase.open(settings.database_path)
        try:
            report = await copy_database(source, target)
        except CopyRefused as exc:
            raise ConfigurationError(f"copy-db into {redact(url)} refused: {exc}") from None
        finally:
            await source.close()
    finally:
        await target.close()
    print(f"{report.summary()}; from SQLite {settings.database_path} to PostgreSQL {redact(url)}")
    return 0


async def run(settings: Settings) -> int:
    app = await App.create(settings)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await app.run(stopping)
    return 0


async def sync_commands(settings: DiscordSettings) -> int:
    print(*await sync(settings))
    return 0


SETTINGS: dict[str, type[StorageSettings]] = {
    "run": Settings,
    "migrate": StorageSettings,
    "sync": DiscordSettings,
    "copy-db": StorageSettings,
}


def _action(command: str) -> Callable[[Any], Coroutine[Any, Any, int]]:
    # Looked up when called, not at import: the benchmark (tests/bench/botproc.py) wraps `run`.
    return {"run": run, "migrate": migrate_only, "sync": sync_commands}[command]


if __name__ == "__main__":
    raise SystemExit(main())
