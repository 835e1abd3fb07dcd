"""The one wiring point: Settings -> logging -> database + migrations -> services -> bot -> run.

python -m bot            run the bot
python -m bot migrate    apply database migrations and exit
python -m bot sync       register the slash commands with Discord (globally) and exit
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

import aiohttp
import discord
import fal_client
from pydantic import ValidationError

from bot import db, logs
from bot.config import Settings, StorageSettings, describe_error
from bot.discord_client import SoraBot
from bot.discord_messenger import DiscordMessenger
from bot.fal import FalQueue
from bot.jobs import JobRunner, RunnerConfig
from bot.sora import PriceTable
from bot.store import Store
from bot.transcode import find_ffmpeg

log = logging.getLogger("bot")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Sora 2 videos in Discord, through fal.ai")
    parser.add_argument("command", nargs="?", default="run", choices=["run", "migrate", "sync"])
    args = parser.parse_args(argv)
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
    except discord.LoginFailure:
        print("configuration error: DISCORD_TOKEN was refused by Discord", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


async def migrate_only(settings: StorageSettings) -> int:
    conn = await db.connect(settings.database_path)
    try:
        applied = await db.migrate(conn)
    finally:
        await conn.close()
    print(f"database {settings.database_path}: applied {len(applied)} migration(s)")
    return 0


def prices(settings: Settings) -> PriceTable:
    return PriceTable(
        sora_2=settings.price_sora_2,
        pro_720p=settings.price_sora_2_pro_720p,
        pro_1080p=settings.price_sora_2_pro_1080p,
        remix=settings.price_remix,
    )


async def run(settings: Settings) -> int:
    conn = await db.connect(settings.database_path)
    await db.migrate(conn)
    store = Store(conn)
    fal = FalQueue(fal_client.AsyncClient(key=settings.fal_key.get_secret_value()))
    ffmpeg = find_ffmpeg()
    if ffmpeg is None:
        log.warning("ffmpeg not found: videos over a server's upload limit will be posted as links")
    work_dir = settings.database_path.parent / "tmp"
    work_dir.mkdir(parents=True, exist_ok=True)
    config = RunnerConfig(
        poll_min=settings.fal_poll_min_seconds,
        poll_max=settings.fal_poll_max_seconds,
        job_timeout=settings.fal_job_timeout_seconds,
        progress_interval=settings.progress_min_interval_seconds,
        max_download_bytes=settings.max_download_mib * 2**20,
        ffmpeg=ffmpeg,
        work_dir=work_dir,
    )
    async with aiohttp.ClientSession() as http:
        # The closures run after `runner` and `messenger` below exist (setup_hook, READY).
        async def install(bot: SoraBot) -> None:
            from cogs.generate import GenerateCog

            await bot.add_cog(GenerateCog(runner, messenger))

        async def resume() -> None:
            log.info("resumed %d unfinished job(s)", await runner.resume_all())

        bot = SoraBot(
            message_content=settings.message_content_intent,
            dev_guild_id=settings.dev_guild_id,
            install=install,
            on_first_ready=resume,
        )
        messenger = DiscordMessenger(bot)
        runner = JobRunner(store, fal, messenger, http, prices(settings), config)

        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        bot_task = asyncio.create_task(bot.start(settings.discord_token.get_secret_value()))
        stop_task = asyncio.create_task(stopping.wait())
        try:
            done, _ = await asyncio.wait({bot_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
            if bot_task in done:
                bot_task.result()  # a login failure or crash surfaces here
            log.info("stopping: jobs keep their state and resume on the next start")
        finally:
            stop_task.cancel()
            await runner.stop()
            await bot.close()
            bot_task.cancel()
            await asyncio.gather(bot_task, return_exceptions=True)
            await conn.close()
    return 0


async def sync_commands(settings: Settings) -> int:
    async def install(bot: SoraBot) -> None:
        from cogs.generate import GenerateCog

        await bot.add_cog(GenerateCog(None, None))  # type: ignore[arg-type]  # only the command shapes matter

    async def nothing() -> None:
        return None

    bot = SoraBot(message_content=False, dev_guild_id=None, install=install, on_first_ready=nothing)
    async with bot:
        await bot.login(settings.discord_token.get_secret_value())
        synced = await bot.tree.sync()
        print(f"registered {len(synced)} command(s) globally: " + ", ".join(f"/{c.name}" for c in synced))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
