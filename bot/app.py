"""The one wiring point: every service and the Discord client are built here, from the settings, so
`python -m bot` and the tests wire the bot the same way."""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import time
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp
import fal_client

from bot.config import ConfigurationError, DiscordSettings, Settings
from bot.discord.alerts import DiscordAlertPoster
from bot.discord.client import SoraBot, make_bot
from bot.discord.commands import register as register_commands
from bot.discord.commands import register_at_start
from bot.discord.messenger import DiscordMessenger
from bot.discord.translator import CatalogueTranslator
from bot.domain import quota_texts
from bot.domain.quota import Limits, Period, to_micros
from bot.domain.sora import PriceTable
from bot.domain.text import Text
from bot.fal.backend import FalBackend
from bot.fal.queue import FalQueue
from bot.fal.simulated.queue import SimulatedFal
from bot.fal.webhook_receiver import WebhookReceiver
from bot.fal.webhooks import JwksCache, WebhookVerifier
from bot.i18n.catalogues import Catalogues
from bot.jobs.characters import CharacterService
from bot.jobs.config import RunnerConfig
from bot.jobs.runner import JobRunner
from bot.jobs.transcode import find_ffmpeg
from bot.jobs.webhook_inbox import JobWebhooks
from bot.ops.fal_timing import timed
from bot.ops.help_page import HelpService
from bot.ops.metrics import Metrics, discord_trace
from bot.ops.operations import Operations
from bot.ops.quota import QuotaService
from bot.ops.spend_alerts import SpendAlerts
from bot.ops.status_report import Processes, StatusService, shards_label, version
from bot.ops.video_deletion import VideoDeletion
from bot.ops.video_history import VideoHistory
from bot.storage.characters import CharacterStore
from bot.storage.command_registry import CommandRegistry
from bot.storage.database import Database
from bot.storage.engines import open_database
from bot.storage.job_stats import JobStats
from bot.storage.jobs import JobStore
from bot.storage.settings import SettingsStore
from bot.storage.single_process import ProcessLock, hold_for_engine
from bot.storage.spend_alerts import SpendAlertStore
from bot.storage.videos import VideoStore
from bot.storage.webhooks import WebhookStore

if TYPE_CHECKING:
    from discord.app_commands import CommandTree

log = logging.getLogger(__name__)


def price_table(settings: Settings) -> PriceTable:
    return PriceTable(
        sora_2=settings.price_sora_2,
        pro_720p=settings.price_sora_2_pro_720p,
        pro_1080p=settings.price_sora_2_pro_1080p,
        remix=settings.price_remix,
        unknown=settings.price_unknown,
    )


def quota_defaults(settings: Settings) -> Limits:
    return Limits(
        member_limit_micros=None
        if settings.quota_member_limit_usd is None
        else to_micros(settings.quota_member_limit_usd),
        period=Period(settings.quota_period),
        budget_micros=None if settings.quota_budget_usd is None else to_micros(settings.quota_budget_usd),
        max_jobs_per_member=settings.quota_max_jobs_per_member,
        max_jobs_per_guild=settings.quota_max_jobs_per_guild,
        max_waiting_per_member=settings.quota_max_waiting_per_member,
    )


async def fal_backend(settings: Settings, http: aiohttp.ClientSession) -> tuple[FalBackend, SimulatedFal | None]:
    """fal's queue, or (FAL_BACKEND=simulated) the simulation, started; the simulation is returned twice, as
    the backend and as itself, so it can be closed at the end."""
    if settings.fal_backend == "simulated":
        simulated = SimulatedFal(
            settings.database_path.parent / "simulated",
            find_ffmpeg(),
            queue_seconds=settings.simulated_queue_seconds,
            run_seconds=settings.simulated_run_seconds,
        )
        await simulated.start()
        log.warning("FAL_BACKEND=simulated: videos are test patterns made locally; fal is never called")
        return simulated, simulated
    assert settings.fal_key is not None  # Settings requires it unless simulated
    queue = FalQueue(
        fal_client.AsyncClient(key=settings.fal_key.get_secret_value()),
        http=http,
        platform_url=settings.fal_platform_url,
    )
    return queue, None


@dataclass
class App:
    settings: Settings
    db: Database
    jobs: JobStore
    videos: VideoStore
    http: aiohttp.ClientSession
    bot: SoraBot
    messenger: DiscordMessenger
    runner: JobRunner
    ops: Operations
    process_lock: ProcessLock | None = None  # SQLite: this process's hold on the file (single_process.py)
    receiver: WebhookReceiver | None = None  # FAL_UPDATES=webhook: where fal posts
    alerts: SpendAlerts | None = None  # the spend alerts' sender

    @classmethod
    async def create(cls, settings: Settings) -> App:
        # On SQLite a second bot process on the same file stops here, with one line naming the first.
        lock = hold_for_engine(settings)
        try:
            app = await cls._open(settings)
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        app.process_lock = lock
        return app

    @classmethod
    async def _open(cls, settings: Settings) -> App:
        database = await open_database(settings)  # DATABASE_URL: PostgreSQL; else the SQLite file
        # A context made now honours SSL_CERT_FILE as httpx (fal_client) does; aiohttp's own is fixed at import.
        # No pool limit (aiohttp's default is 100 connections): each job's status stream holds one for the
        # job's whole life, and a full pool would stall every submit, poll and download behind them. FalQueue
        # bounds its own requests (MAX_IN_FLIGHT) and its streams (MAX_STREAMS).
        http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl.create_default_context(), limit=0))
        try:
            return await cls._assemble(settings, database, http)
        except BaseException:
            await http.close()
            await database.close()  # its worker thread would otherwise keep the process alive
            raise

    @classmethod
    async def _assemble(cls, settings: Settings, database: Database, http: aiohttp.ClientSession) -> App:
        started_at = time.time()
        metrics = Metrics()
        metrics.info.info({"version": version(), "backend": settings.fal_backend})
        backend, simulated = await fal_backend(settings, http)
        fal = timed(backend, metrics)  # keeps the status stream of a backend that has one
        # A reservation that crosses a budget threshold has its alert posted at once (alerts: built below).
        jobs = JobStore(database, on_spend_alert=lambda: alerts.kick())
        videos = VideoStore(database)
        ffmpeg = find_ffmpeg()
        if ffmpeg is None:
            log.warning("ffmpeg not found: videos over a server's upload limit will be posted as links")
        # A local folder whatever the engine (beside DATABASE_PATH, data/tmp by default): the files kept
        # for posting belong to this host, not to the database.
        work_dir = settings.database_path.parent / "tmp"
        work_dir.mkdir(parents=True, exist_ok=True)
        updates = settings.fal_updates
        if updates == "webhook" and simulated is not None:
            log.warning("FAL_UPDATES=webhook: the simulation posts no webhooks; its jobs are followed by stream")
            updates = "stream"
        config = RunnerConfig(
            poll_min=settings.fal_poll_min_seconds,
            poll_max=settings.fal_poll_max_seconds,
            updates=updates,
            webhook_url=settings.fal_webhook_url,
            webhook_sweep=settings.fal_webhook_sweep_seconds,
            job_timeout=settings.fal_job_timeout_seconds,
            progress_interval=settings.progress_min_interval_seconds,
            max_download_bytes=settings.max_download_mib * 2**20,
            ffmpeg=ffmpeg,
            work_dir=work_dir,
            quota_defaults=quota_defaults(settings),
            lease_seconds=settings.job_lease_seconds,
        )
        quotas = QuotaService(database, videos, quota_defaults(settings))
        characters = CharacterStore(database)
        settings_store = SettingsStore(database)
        character_service = CharacterService(
            fal, characters, poll_min=settings.fal_poll_min_seconds, poll_max=settings.fal_poll_max_seconds
        )

        # The closures run once everything below exists (setup_hook, first READY).
        async def install(bot: SoraBot) -> None:
            from cogs import CogDeps, install

            deps = CogDeps(
                runner=runner,
                messenger=messenger,
                quotas=quotas,
                jobs=jobs,
                videos=videos,
                characters=characters,
                character_service=character_service,
                http=http,
                settings=settings_store,
                help=help_service,
                status=status_service,
                history=VideoHistory(videos, jobs),
                deletion=deletion,
            )
            await install(bot, deps)

        async def resume() -> None:
            log.info("resumed %d unfinished job(s)", await runner.resume_all())

        registry = CommandRegistry(database)

        async def register(tree: CommandTree) -> None:
            await register_at_start(tree, registry, settings.dev_guild_id)

        bot = make_bot(
            shard_count=settings.shard_count,
            shard_ids=settings.shard_ids,
            identify_interval=settings.shard_identify_interval_seconds,
            message_content=settings.message_content_intent,
            install=install,
            register=register,
            on_first_ready=resume,
            http_trace=discord_trace(metrics.count_rate_limit),
            translator=CatalogueTranslator(Catalogues("commands"), Catalogues("messages")),
        )
        messenger = DiscordMessenger(bot)
        deletion = VideoDeletion(videos, messenger)
        shards = shards_label(settings.shard_ids, settings.shard_count)  # "0-1 of 4", or "all": for /status
        runner = JobRunner(
            jobs,
            videos,
            fal,
            messenger,
            http,
            price_table(settings),
            config,
            settings=settings_store,
            on_spend=metrics.record_spend,
            shards=shards,
            webhooks=WebhookStore(database) if updates == "webhook" else None,
            on_beat=lambda: alerts.sweep(),
        )
        alerts = SpendAlerts(SpendAlertStore(database), DiscordAlertPoster(bot), runner.owner)
        receiver = None
        if updates == "webhook":
            assert settings.fal_webhook_url is not None  # Settings requires it with FAL_UPDATES=webhook
            receiver = WebhookReceiver(
                WebhookVerifier(JwksCache(http, settings.fal_jwks_url)),
                JobWebhooks(WebhookStore(database), runner.webhook_arrived),
                host=settings.webhook_host,
                port=settings.webhook_port,
                path=urlsplit(settings.fal_webhook_url).path,
            )
        ops = Operations(settings, metrics, simulated, JobStats(database), bot)

        async def quota_lines(guild_id: int, user_id: int) -> list[Text]:
            return quota_texts.help_lines(await quotas.usage(guild_id, user_id))

        help_service = HelpService(simulated=simulated is not None, quota_lines=quota_lines)
        status_service = StatusService(
            ops.stats,
            fal,
            metrics,
            backend=settings.fal_backend,
            active_jobs=lambda: runner.active,
            gateway_latency=ops.gateway_latency,
            started_at=started_at,
            processes=Processes(jobs, runner.owner, shards, settings.job_lease_seconds),
        )
        return cls(
            settings, database, jobs, videos, http, bot, messenger, runner, ops, receiver=receiver, alerts=alerts
        )

    async def run(self, stopping: asyncio.Event) -> None:
        """Run until `stopping` is set or the gateway connection ends for good. Whatever fails, everything
        is closed again, so the process can exit (a busy METRICS_PORT fails in ops.start)."""
        tasks: list[asyncio.Task[Any]] = []
        try:
            await self.ops.start()
            await self._receive_webhooks()
            bot_task = asyncio.create_task(self.bot.start(self.settings.discord_token.get_secret_value()))
            tasks += [bot_task, asyncio.create_task(stopping.wait())]
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if bot_task in done:
                bot_task.result()  # a login failure, or a ConfigurationError from setup_hook, surfaces here
            log.info("stopping: unfinished jobs keep their state; this process's are released to be carried on")
        finally:
            await self.close()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _receive_webhooks(self) -> None:
        if self.receiver is None:
            return
        try:
            await self.receiver.start()
        except OSError as exc:
            host, port = self.settings.webhook_host, self.settings.webhook_port
            raise ConfigurationError(
                f"WEBHOOK_PORT {port} cannot be opened on {host} ({os.strerror(exc.errno) if exc.errno else exc}): "
                "choose a free port (and point FAL_WEBHOOK_URL's proxy at it), or set FAL_UPDATES=stream"
            ) from None
        log.info("fal webhooks are received on %s:%s", self.settings.webhook_host, self.receiver.port)

    async def close(self) -> None:
        self.bot.stop_taking_commands()  # first: no job may start while the others are put away
        kept = await self.runner.stop()  # this process's unfinished jobs, released (a resume in flight stopped)
        if self.alerts is not None:
            await self.alerts.close()  # an alert being posted is claimed: it is posted again after its claim
        if self.receiver is not None:
            await self.receiver.stop()  # fal retries what comes now; the next owner reads what was recorded
        await self.bot.close()
        await self.ops.close(kept, shared=not self.jobs.exclusive)
        await self.http.close()
        await self.db.close()
        if self.process_lock is not None:
            self.process_lock.release()


async def sync(settings: DiscordSettings) -> list[str]:
    """`python -m bot sync`: log in, install the cogs (their shapes only) and register them, whatever the
    database says; returns what was done, per scope."""
    database = await open_database(settings)  # it records what was registered
    registry = CommandRegistry(database)
    done: list[str] = []

    async def register(tree: CommandTree) -> None:
        done.append(await register_commands(tree, registry, settings.dev_guild_id, force=True))

    async def nothing() -> None:
        return None

    bot = SoraBot(
        message_content=False,
        install=install_shapes,
        register=register,
        on_first_ready=nothing,
        translator=CatalogueTranslator(Catalogues("commands")),
    )
    try:
        async with bot:
            await bot.login(settings.discord_token.get_secret_value())  # runs setup_hook: install, register
    finally:
        await database.close()
    return done


async def install_shapes(bot: SoraBot) -> None:
    """Every cog, for `python -m bot sync`: only the commands' shapes matter there, the cogs are never
    called, so None stands for every service."""
    from cogs import CogDeps, install

    # As many Nones as CogDeps has services: a service added there needs no change here.
    await install(bot, CogDeps(*[None] * len(fields(CogDeps))))  # type: ignore[arg-type]  # no services (above)
