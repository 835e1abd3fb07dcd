"""Settings from the environment or a .env file. A class, never a module-level instance."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.domain.credentials import looks_like_bot_token, looks_like_fal_key

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
ENV_FILE = ".env"  # read from the folder the bot is started in
_SOURCES = SettingsConfigDict(env_file=ENV_FILE, env_file_encoding="utf-8", extra="ignore")
# What to do about a setting that is not set, in the one line that names it.
HINTS = {
    "DISCORD_TOKEN": "copy it from the Bot page of your application in Discord's Developer Portal into .env",
    "FAL_KEY": "create one at https://fal.ai/dashboard/keys, or set FAL_BACKEND=simulated to try the bot for free",
}


class ConfigurationError(Exception):
    """A setting that passed validation but cannot work on this machine or with Discord (an unusable
    DATABASE_PATH, a busy METRICS_PORT, a DEV_GUILD_ID the bot is not in): the message names the setting
    and what to do, and the CLI prints it as one line with exit status 2."""


class StorageSettings(BaseSettings):
    """What `python -m bot migrate` needs: no tokens."""

    model_config = _SOURCES

    database_path: Path = Path("data/sora-bot.sqlite3")
    # PostgreSQL instead of the SQLite file of DATABASE_PATH (several bot processes on one database):
    # postgresql://USER:PASSWORD@HOST:PORT/DATABASE. A secret: it may carry the password.
    database_url: SecretStr | None = None
    database_pool_size: int = Field(5, ge=1, le=100)  # connections per process (PostgreSQL only)
    log_level: LogLevel = "INFO"
    # `python -m bot health`: the gateway must have acknowledged a heartbeat this recently (Discord beats
    # about every 41 s, so the default allows two missed beats).
    health_max_age_seconds: float = Field(120.0, gt=0)

    @field_validator("database_url")
    @classmethod
    def _postgresql_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None  # DATABASE_URL= left blank: the SQLite file
        url = value.get_secret_value().strip()
        scheme, sep, rest = url.partition("://")
        if not sep or scheme.lower() not in ("postgresql", "postgres") or not rest:
            # Never the value: it may hold a password.
            raise PydanticCustomError(
                "url",
                "must be a PostgreSQL URL, like postgresql://USER:PASSWORD@HOST:5432/DATABASE (unset it to use "
                "the SQLite file of DATABASE_PATH)",
            )
        return SecretStr(url)

    @property
    def database_engine(self) -> Literal["sqlite", "postgresql"]:
        """Which engine the settings select: PostgreSQL when DATABASE_URL is set, else SQLite."""
        return "sqlite" if self.database_url is None else "postgresql"


class InviteSettings(BaseSettings):
    """What `python -m bot invite` needs: which application to invite (by default, the token's)."""

    model_config = _SOURCES

    discord_token: SecretStr | None = None
    discord_application_id: int | None = None


class DiscordSettings(StorageSettings):
    """What `python -m bot sync` needs: Discord, no fal."""

    discord_token: SecretStr
    dev_guild_id: int | None = None  # register the commands in this server instead of globally
    message_content_intent: bool = False

    @field_validator("discord_token")
    @classmethod
    def _looks_like_a_bot_token(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise PydanticCustomError("missing", "Field required")  # DISCORD_TOKEN= as in .env.example
        if not looks_like_bot_token(value.get_secret_value()):
            raise PydanticCustomError(
                "looks_wrong",
                "does not look like a bot token (three parts joined by dots): copy it again from the Bot page "
                "of your application in Discord's Developer Portal",
            )
        return value

    @field_validator("dev_guild_id", mode="before")
    @classmethod
    def _blank_guild_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value


class Settings(DiscordSettings):
    # "simulated": try every command with locally made test videos, no fal key and no cost.
    fal_backend: Literal["fal", "simulated"] = "fal"
    fal_key: SecretStr | None = Field(None, validate_default=True)  # required unless simulated

    # USD per second of video; an operator can correct them when fal changes its prices.
    price_sora_2: float = Field(0.10, ge=0)
    price_sora_2_pro_720p: float = Field(0.30, ge=0)
    price_sora_2_pro_1080p: float = Field(0.50, ge=0)
    price_remix: float = Field(0.10, ge=0)
    price_unknown: float = Field(0.50, ge=0)  # a combination the table lacks (e.g. Pro true_1080p)

    # Quota defaults for servers whose admins have not set their own. "unlimited" (or empty) = no limit.
    quota_member_limit_usd: float | None = Field(2.00, ge=0)
    quota_period: Literal["daily", "weekly", "monthly"] = "daily"
    quota_budget_usd: float | None = Field(None, ge=0)
    quota_max_jobs_per_member: int = Field(2, ge=1)
    quota_max_jobs_per_guild: int = Field(10, ge=1)
    # Beyond those, a video waits its turn (cost reserved); this many at most per member, then refused.
    quota_max_waiting_per_member: int = Field(3, ge=0)

    # How the bot hears of a job's progress at fal: "stream" (one status stream per job; polling while
    # it fails), "poll" (status requests every FAL_POLL_MIN_SECONDS to FAL_POLL_MAX_SECONDS) or "webhook"
    # (fal posts each finished job to FAL_WEBHOOK_URL; the stream shows progress meanwhile).
    fal_updates: Literal["stream", "poll", "webhook"] = "stream"
    # The public URL fal posts webhooks to (https; plain http only to this machine, for tests). The bot's
    # receiver listens on WEBHOOK_HOST:WEBHOOK_PORT at that URL's path; a proxy carries it there.
    fal_webhook_url: str | None = Field(None, validate_default=True)
    webhook_host: str = "127.0.0.1"
    webhook_port: int = Field(8080, ge=1, le=65535)
    fal_jwks_url: str = "https://rest.fal.ai/.well-known/jwks.json"  # fal's webhook signing keys
    fal_webhook_sweep_seconds: float = Field(30.0, gt=0)  # no webhook yet: ask fal about the job this often
    fal_poll_min_seconds: float = Field(2.0, gt=0)
    fal_poll_max_seconds: float = Field(5.0, gt=0)
    fal_job_timeout_seconds: float = Field(3600.0, gt=0)
    job_lease_seconds: float = Field(30.0, ge=5)  # a dead process's jobs move to a live one after this
    # fal's platform API, where a submit whose answer was lost is found again (tests point it at a fake).
    fal_platform_url: str = "https://api.fal.ai/v1"
    progress_min_interval_seconds: float = Field(3.0, ge=0)
    max_download_mib: int = Field(512, gt=0)

    # Simulated mode: seconds a job waits in the "queue", then "generates".
    simulated_queue_seconds: float = Field(2.0, ge=0)
    simulated_run_seconds: float = Field(8.0, gt=0)

    # Prometheus metrics on http://METRICS_HOST:METRICS_PORT/metrics, off unless a port is set.
    metrics_port: int | None = Field(None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"

    # Sharding (several processes, or a bot in 2,500+ servers): SHARD_COUNT shards in all, this process
    # serving SHARD_IDS of them ("0-3", "0,2", "0-1,4"; all of them when unset). Unset: one unsharded client.
    shard_count: int | None = Field(None, ge=1)
    shard_ids: Annotated[tuple[int, ...] | None, NoDecode] = None
    # Seconds between the IDENTIFYs of this process's shards: Discord requires 5 with max_concurrency 1
    # (discord.py's own pause); only the tests lower it.
    shard_identify_interval_seconds: float = Field(5.0, ge=0)

    @field_validator("fal_platform_url", "fal_jwks_url")
    @classmethod
    def _https_url(cls, value: str, info: ValidationInfo) -> str:
        if not value.startswith("https://") or len(value) <= len("https://"):
            example = cls.model_fields[str(info.field_name)].default
            raise PydanticCustomError("url", "must be an https:// URL, like {example}", {"example": example})
        return value

    @field_validator("fal_webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        value = (value or "").strip() or None
        if value is None:
            if info.data.get("fal_updates") == "webhook":
                raise PydanticCustomError(
                    "missing_for_webhook",
                    "is needed with FAL_UPDATES=webhook: the public https URL fal posts to, which reaches this "
                    "bot's receiver (WEBHOOK_HOST:WEBHOOK_PORT); or set FAL_UPDATES=stream",
                )
            return None
        url = urlsplit(value)
        loopback = url.hostname in ("127.0.0.1", "::1", "localhost")
        if url.scheme not in ("https", "http") or not url.hostname or (url.scheme == "http" and not loopback):
            raise PydanticCustomError(
                "url", "must be an https:// URL that reaches this bot, like https://bot.example.org/fal/webhook"
            )
        return value

    @field_validator("metrics_port", mode="before")
    @classmethod
    def _blank_port_is_off(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("shard_count", mode="before")
    @classmethod
    def _blank_shard_count_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("shard_ids", mode="before")
    @classmethod
    def _shard_ranges(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_shard_ids(value) if value.strip() else None
        return value

    @field_validator("shard_ids")
    @classmethod
    def _shards_of_the_count(cls, value: tuple[int, ...] | None, info: ValidationInfo) -> tuple[int, ...] | None:
        if value is None or "shard_count" not in info.data:  # an invalid SHARD_COUNT is reported alone
            return value
        count = info.data["shard_count"]
        if count is None:
            raise PydanticCustomError(
                "shards", "needs SHARD_COUNT, the number of shards of all the bot's processes together"
            )
        too_big = [shard for shard in value if shard >= count]
        if too_big:
            raise PydanticCustomError(
                "shards",
                "shard {shard} is out of range: SHARD_COUNT {count} numbers the shards 0 to {last}",
                {"shard": too_big[0], "count": count, "last": count - 1},
            )
        return value

    @field_validator("fal_key")
    @classmethod
    def _fal_key_unless_simulated(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            value = None  # FAL_KEY= left blank, as in .env.example
        if info.data.get("fal_backend") != "fal":  # simulated (an invalid FAL_BACKEND is reported alone)
            return value
        if value is None:
            raise PydanticCustomError("missing", "Field required")
        if not looks_like_fal_key(value.get_secret_value()):
            raise PydanticCustomError(
                "looks_wrong",
                "does not look like a fal key (KEY_ID:KEY_SECRET): copy it again from https://fal.ai/dashboard/keys",
            )
        return value

    @field_validator("quota_member_limit_usd", "quota_budget_usd", mode="before")
    @classmethod
    def _unlimited(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in ("", "none", "unlimited"):
            return None
        return value


SHARD_IDS_FORMAT = "must be shard numbers from 0: a range like 0-3, a list like 0,2, or both, like 0-1,4"


def parse_shard_ids(text: str) -> tuple[int, ...]:
    """ "0-3" -> (0, 1, 2, 3); "0,2" -> (0, 2); "0-1,4" -> (0, 1, 4): sorted, each once. Raises the
    PydanticCustomError that names the format."""
    shards: set[int] = set()
    for part in text.split(","):
        first, dash, last = part.strip().partition("-")
        if not (first.strip().isdecimal() and (not dash or last.strip().isdecimal())):
            raise PydanticCustomError("shards", SHARD_IDS_FORMAT)
        low, high = int(first), int(last) if dash else int(first)
        if high < low:
            raise PydanticCustomError(
                "shards",
                "the range {part} runs backwards: write it {high}-{low}",
                {"part": part.strip(), "high": high, "low": low},
            )
        shards.update(range(low, high + 1))
    return tuple(sorted(shards))


def setting_problems(error: ValidationError) -> list[str]:
    """One phrase per broken setting, naming it and what to do, without its value (it may be a secret)."""
    parts = []
    for item in error.errors():
        name = str(item["loc"][0]).upper() if item["loc"] else "settings"
        if item["type"] == "missing":
            parts.append(f"{name} is not set" + (f": {HINTS[name]}" if name in HINTS else ""))
        elif item["type"] in ("looks_wrong", "missing_for_webhook"):
            parts.append(f"{name} {item['msg']}")
        else:
            parts.append(f"{name} is invalid ({item['msg']})")
    return parts


def describe_error(error: ValidationError) -> str:
    """One line naming the broken setting(s) and what to do, with no values (they may be secrets)."""
    missing = {str(item["loc"][0]).upper() for item in error.errors() if item["type"] == "missing" and item["loc"]}
    if "DISCORD_TOKEN" in missing and not Path(ENV_FILE).exists():
        # The first start: point at the two-line set-up rather than at each setting.
        others = [p for p in setting_problems(error) if p.split(" ", 1)[0] not in ("DISCORD_TOKEN", "FAL_KEY")]
        return "; ".join(
            [
                f"configuration error: no {ENV_FILE} file here and DISCORD_TOKEN is not set: copy .env.example to "
                f"{ENV_FILE} and put your bot token in it (it starts in simulated mode: free test videos, "
                "no FAL_KEY needed)",
                *others,
            ]
        )
    return "configuration error: " + "; ".join(setting_problems(error))
