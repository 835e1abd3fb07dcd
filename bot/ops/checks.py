"""`python -m bot check`: is this installation ready to run? One line per check, ✓ or ✗, exit 1 when any
failed. Nothing here talks to Discord or fal's queue: it checks what can be checked on this machine (and,
with FAL_UPDATES=webhook, reads fal's public webhook keys)."""

from __future__ import annotations

import asyncio
import socket
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
from pydantic import ValidationError

from bot.config import ConfigurationError, Settings, StorageSettings, setting_problems
from bot.domain.credentials import application_id
from bot.fal.simulated.inputs import Shape
from bot.fal.simulated.render import RenderFailed, caption, render
from bot.fal.webhook_receiver import RECEIVER_HEADER, Recorded, WebhookReceiver
from bot.fal.webhooks import JwksCache, JwksUnavailable, Webhook, WebhookVerifier
from bot.jobs.transcode import find_ffmpeg
from bot.storage.engines import describe, open_database


@dataclass(frozen=True)
class Check:
    ok: bool
    text: str

    def line(self) -> str:
        return f"{'✓' if self.ok else '✗'} {self.text}"


def settings_checks(error: ValidationError | None) -> list[Check]:
    """The same validation as `run`: a token or key `check` would reject stops the bot too."""
    if error is None:
        return [Check(True, "settings: every setting is valid")]
    return [Check(False, problem) for problem in setting_problems(error)]


def credential_checks(settings: Settings) -> list[Check]:
    """What the validated tokens are (their format was checked with the settings)."""
    app_id = application_id(settings.discord_token.get_secret_value())
    fal = (
        "FAL_KEY not needed: FAL_BACKEND=simulated (test videos made locally, nothing is paid)"
        if settings.fal_backend == "simulated"
        else "FAL_KEY looks like a fal key"
    )
    return [Check(True, f"DISCORD_TOKEN looks like a bot token (application {app_id})"), Check(True, fal)]


async def database_check(settings: StorageSettings) -> Check:
    """Which engine, whether it can be reached and opened, and the schema's version once migrated."""
    where = describe(settings)
    try:
        database = await open_database(settings)
        try:
            async with database.reading() as session:
                version = await session.fetch_value("SELECT MAX(version) AS version FROM schema_migrations")
        finally:
            await database.close()
    except ConfigurationError as exc:
        return Check(False, str(exc))  # it names DATABASE_PATH or DATABASE_URL (no password), and why
    applied = len(database.applied)
    return Check(
        True, f"database {where}: reachable, migrated: schema at version {version} ({applied} migration(s) applied now)"
    )


async def ffmpeg_check(ffmpeg: str | None) -> Check:
    if ffmpeg is None:
        return Check(False, "ffmpeg not found: install Debian's ffmpeg (apt-get install ffmpeg) or imageio-ffmpeg")
    try:
        process = await asyncio.create_subprocess_exec(
            ffmpeg, "-version", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
        )
        out, _ = await asyncio.wait_for(process.communicate(), 30)
    except (OSError, TimeoutError) as exc:
        return Check(False, f"ffmpeg at {ffmpeg} does not run ({type(exc).__name__})")
    words = out.decode(errors="replace").split()
    if process.returncode != 0 or len(words) < 3:
        return Check(False, f"ffmpeg at {ffmpeg} does not run (exit {process.returncode})")
    return Check(True, f"ffmpeg {words[2]} at {ffmpeg}")


async def simulated_check(ffmpeg: str | None) -> Check:
    """Make a one-second simulated clip, as simulated mode will."""
    if ffmpeg is None:
        return Check(False, "simulated videos cannot be made without ffmpeg")
    with tempfile.TemporaryDirectory(prefix="sora-check-") as tmp:
        target = Path(tmp) / "check.mp4"
        try:
            await render(ffmpeg, target, Shape(320, 180, 1), caption("a lighthouse in a storm"))
            return Check(True, "simulated videos: a test clip with its caption was rendered")
        except RenderFailed:
            pass
        try:
            await render(ffmpeg, target, Shape(320, 180, 1), None)
        except RenderFailed as exc:
            return Check(False, f"simulated videos: ffmpeg could not render a test clip ({exc})")
    return Check(True, "simulated videos: rendered, but without captions (this ffmpeg cannot draw text)")


def metrics_port_check(host: str, port: int) -> Check:
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
    except OSError as exc:
        return Check(
            False, f"METRICS_PORT {port} cannot be opened on {host} ({exc.strerror}): choose a free port, or unset it"
        )
    return Check(True, f"metrics will be served on http://{host}:{port}/metrics")


class _NoInbox:
    """check's own receiver keeps nothing: it is only asked whether it answers."""

    async def record(self, webhook: Webhook) -> Recorded:
        return "unknown"


async def webhook_checks(settings: Settings) -> list[Check]:
    """FAL_UPDATES=webhook: does a receiver answer at WEBHOOK_HOST:WEBHOOK_PORT (the running bot's, or one
    started here for the check), and can fal's keys (FAL_JWKS_URL) be read?"""
    assert settings.fal_webhook_url is not None  # Settings requires it with FAL_UPDATES=webhook
    host, port = settings.webhook_host, settings.webhook_port
    path = urlsplit(settings.fal_webhook_url).path or "/"
    local = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host
    url = f"http://{'[' + local + ']' if ':' in local else local}:{port}{path}"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        verifier = WebhookVerifier(JwksCache(http, settings.fal_jwks_url))
        receiver = WebhookReceiver(verifier, _NoInbox(), host=host, port=port, path=path)
        try:
            await receiver.start()
            started = True
        except OSError:
            started = False  # in use: the running bot's receiver, or another program
        try:
            answered = await _answers_as_receiver(http, url)
        finally:
            await receiver.stop()
        if answered and started:
            receiver_check = Check(
                True,
                f"webhook receiver: can listen on {host}:{port} and answers at {path} "
                f"({settings.fal_webhook_url} must lead there from the internet)",
            )
        elif answered:
            receiver_check = Check(True, f"webhook receiver: the running bot answers on {host}:{port} at {path}")
        else:
            receiver_check = Check(
                False,
                f"WEBHOOK_PORT {port} on {host} is in use by another program, or does not answer at {path}: "
                "choose a free port",
            )
        try:
            keys = await verifier.check()
            keys_check = Check(True, f"fal's webhook keys: {keys} read from {settings.fal_jwks_url}")
        except JwksUnavailable as exc:
            keys_check = Check(False, f"fal's webhook keys cannot be read from {settings.fal_jwks_url} ({exc})")
    return [receiver_check, keys_check]


async def _answers_as_receiver(http: aiohttp.ClientSession, url: str) -> bool:
    try:
        async with http.get(url) as response:
            return RECEIVER_HEADER in response.headers
    except (aiohttp.ClientError, TimeoutError, OSError):
        return False


async def run_checks() -> list[Check]:
    try:
        settings: Settings | None = Settings()
        error = None
    except ValidationError as exc:
        settings, error = None, exc
    checks = settings_checks(error)
    try:
        storage: StorageSettings | None = settings or StorageSettings()
    except ValidationError:
        storage = None  # already reported above
    if storage is not None:
        checks.append(await database_check(storage))
    ffmpeg = find_ffmpeg()
    checks.append(await ffmpeg_check(ffmpeg))
    if settings is not None:
        checks += credential_checks(settings)
        if settings.fal_backend == "simulated":
            checks.append(await simulated_check(ffmpeg))
        if settings.metrics_port is not None:
            checks.append(metrics_port_check(settings.metrics_host, settings.metrics_port))
        if settings.fal_updates == "webhook" and settings.fal_backend == "fal":
            checks += await webhook_checks(settings)
    return checks


def main() -> int:
    checks = asyncio.run(run_checks())
    for check in checks:
        print(check.line())
    failed = sum(not c.ok for c in checks)
    print(f"{len(checks) - failed} of {len(checks)} checks passed" + ("" if not failed else "; fix the ✗ lines above"))
    sys.stdout.flush()
    return 1 if failed else 0
