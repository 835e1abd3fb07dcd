"""Data model of the Discord fake: ids, permissions, entities and their JSON shapes.

Everything here is plain data; the HTTP and gateway behaviour lives in the sibling modules.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from multidict import CIMultiDict

JSON = dict[str, Any]

DISCORD_EPOCH_MS = 1420070400000

# Permission bits (https://discord.com/developers/docs/topics/permissions).
CREATE_INSTANT_INVITE = 1 << 0
ADMINISTRATOR = 1 << 3
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
USE_EXTERNAL_EMOJIS = 1 << 18
CONNECT = 1 << 20
SPEAK = 1 << 21
CHANGE_NICKNAME = 1 << 26
USE_APPLICATION_COMMANDS = 1 << 31
CREATE_PUBLIC_THREADS = 1 << 35
SEND_MESSAGES_IN_THREADS = 1 << 38

ALL_PERMISSIONS = (1 << 49) - 1  # 562949953421311
BOT_ROLE_PERMISSIONS = ALL_PERMISSIONS & ~ADMINISTRATOR
EVERYONE_PERMISSIONS = (
    CREATE_INSTANT_INVITE
    | ADD_REACTIONS
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_EXTERNAL_EMOJIS
    | CONNECT
    | SPEAK
    | CHANGE_NICKNAME
    | USE_APPLICATION_COMMANDS
    | CREATE_PUBLIC_THREADS
    | SEND_MESSAGES_IN_THREADS
)
# What a channel created with bot_can_send=False denies to the bot (as a member overwrite).
NO_SEND_DENY = SEND_MESSAGES | ATTACH_FILES

# Gateway intents.
INTENT_GUILDS = 1 << 0
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_PRESENCES = 1 << 8
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_MESSAGE_CONTENT = 1 << 15
PRIVILEGED_INTENTS = INTENT_GUILD_MEMBERS | INTENT_GUILD_PRESENCES | INTENT_MESSAGE_CONTENT

# Application flags telling which privileged intents the developer portal enabled.
APP_FLAG_GATEWAY_PRESENCE = 1 << 12
APP_FLAG_GATEWAY_GUILD_MEMBERS = 1 << 14
APP_FLAG_GATEWAY_MESSAGE_CONTENT = 1 << 18

# Message flags.
FLAG_SUPPRESS_EMBEDS = 1 << 2
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_SUPPRESS_NOTIFICATIONS = 1 << 12
FLAG_IS_COMPONENTS_V2 = 1 << 15
SETTABLE_MESSAGE_FLAGS = FLAG_SUPPRESS_EMBEDS | FLAG_SUPPRESS_NOTIFICATIONS | FLAG_IS_COMPONENTS_V2

MIB = 1024 * 1024
UPLOAD_LIMITS = {0: 10 * MIB, 1: 10 * MIB, 2: 50 * MIB, 3: 100 * MIB}
BOOSTS_FOR_TIER = {0: 0, 1: 2, 2: 7, 3: 14}


class SnowflakeFactory:
    """Makes strictly increasing, time-based snowflakes like Discord's."""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> int:
        now_ms = int(time.time() * 1000)
        candidate = ((now_ms - DISCORD_EPOCH_MS) << 22) | (1 << 17)
        self._last = max(candidate, self._last + 1)
        return self._last

    def next_on_shard(self, shard_id: int, shard_count: int) -> int:
        """The next snowflake whose shard, ``(id >> 22) % shard_count``, is `shard_id` (up to count-1 ms ahead)."""
        base = self.next()
        stamp = (base >> 22) + (shard_id - (base >> 22)) % shard_count
        self._last = max((stamp << 22) | (1 << 17), self._last + 1)
        return self._last

    def dated(self, seconds_ago: float) -> int:
        """A unique snowflake from the past (for an interaction created before it was dispatched)."""
        then_ms = int((time.time() - seconds_ago) * 1000)
        self._past = getattr(self, "_past", 0) + 1
        return ((then_ms - DISCORD_EPOCH_MS) << 22) | (2 << 17) | (self._past & 0xFFF)


def iso_now() -> str:
    """The current time in Discord's ISO-8601 timestamp format."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def as_int(value: int | str) -> int:
    return int(value)


class DiscordError(Exception):
    """An error answer of the fake REST API: status plus Discord's JSON error body."""

    def __init__(self, status: int, code: int, message: str, errors: JSON | None = None) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> JSON:
        body: JSON = {"message": self.message, "code": self.code}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


def form_error(field_name: str, code: str, message: str) -> DiscordError:
    """The 400 'Invalid Form Body' error Discord gives for a bad field."""
    errors = {field_name: {"_errors": [{"code": code, "message": message}]}}
    return DiscordError(400, 50035, "Invalid Form Body", errors)


@dataclass
class RecordedFile:
    """One uploaded file, streamed to the fake's temp directory."""

    field_name: str
    filename: str
    content_type: str
    data: Path
    sha256: str
    size: int

    @property
    def path(self) -> Path:
        return self.data

    def read(self) -> bytes:
        return self.data.read_bytes()


class FileSink:
    """Writes one upload to disk chunk by chunk while hashing it."""

    def __init__(self, path: Path, field_name: str, filename: str, content_type: str) -> None:
        self._path = path
        self._field_name = field_name
        self._filename = filename
        self._content_type = content_type
        self._hash = hashlib.sha256()
        self._size = 0
        self._fh: BinaryIO = path.open("wb")

    def write(self, chunk: bytes) -> None:
        self._fh.write(chunk)
        self._hash.update(chunk)
        self._size += len(chunk)

    def close(self) -> RecordedFile:
        self._fh.close()
        return RecordedFile(
            field_name=self._field_name,
            filename=self._filename,
            content_type=self._content_type,
            data=self._path,
            sha256=self._hash.hexdigest(),
            size=self._size,
        )


@dataclass
class RecordedRequest:
    """One HTTP request the fake received, with what it answered."""

    time: float
    method: str
    path: str  # without the /api/v10 prefix, percent-decoded
    query: dict[str, str]
    headers: CIMultiDict[str]
    json: Any
    files: list[RecordedFile]
    content_type: str = ""
    status: int = 0
    route: str | None = None  # the fake's route template, None for unknown routes
    response_json: Any = None


@dataclass
class FakeUser:
    id: int
    username: str
    global_name: str | None = None
    bot: bool = False

    def to_json(self) -> JSON:
        data: JSON = {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
            "avatar_decoration_data": None,
            "collectibles": None,
            "primary_guild": None,
            "banner": None,
            "accent_color": None,
            "public_flags": 0,
            "flags": 0,
        }
        if self.bot:
            data["bot"] = True
        return data


@dataclass
class FakeMember:
    user: FakeUser
    guild_id: int
    permissions: int
    roles: list[int] = field(default_factory=list)
    joined_at: str = field(default_factory=iso_now)

    def to_json(self, *, with_user: bool = True, with_permissions: bool = False) -> JSON:
        data: JSON = {
            "roles": [str(r) for r in self.roles],
            "joined_at": self.joined_at,
            "nick": None,
            "avatar": None,
            "banner": None,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
            "unusual_dm_activity_until": None,
        }
        if with_user:
            data["user"] = self.user.to_json()
        if with_permissions:
            data["permissions"] = str(self.permissions)
        return data


@dataclass
class FakeChannel:
    id: int
    guild_id: int
    name: str
    position: int
    bot_can_send: bool = True
    type: int = 0
    topic: str | None = None

    def overwrites(self, bot_user_id: int) -> list[JSON]:
        if self.bot_can_send:
            return []
        return [{"id": str(bot_user_id), "type": 1, "allow": "0", "deny": str(NO_SEND_DENY)}]

    def bot_permissions(self) -> int:
        base = BOT_ROLE_PERMISSIONS | EVERYONE_PERMISSIONS
        return base if self.bot_can_send else base & ~NO_SEND_DENY

    def to_json(self, bot_user_id: int) -> JSON:
        return {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild_id),
            "name": self.name,
            "position": self.position,
            "permission_overwrites": self.overwrites(bot_user_id),
            "topic": self.topic,
            "nsfw": False,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "parent_id": None,
            "flags": 0,
        }


@dataclass
class FakeGuild:
    id: int
    name: str
    premium_tier: int
    owner_id: int
    bot_role_id: int
    channels: list[FakeChannel] = field(default_factory=list)
    members: dict[int, FakeMember] = field(default_factory=dict)
    joined_at: str = field(default_factory=iso_now)
    extra_roles: dict[int, str] = field(default_factory=dict)  # role id -> name, added by tests
    preferred_locale: str = "en-US"  # the community's language (Server Settings > Community)

    @property
    def everyone_role_id(self) -> int:
        return self.id

    @property
    def upload_limit(self) -> int:
        return UPLOAD_LIMITS.get(self.premium_tier, UPLOAD_LIMITS[0])

    def channel(self, name: str) -> FakeChannel:
        for channel in self.channels:
            if channel.name == name:
                return channel
        raise KeyError(name)

    def roles_json(self) -> list[JSON]:
        def role(role_id: int, name: str, permissions: int, position: int, bot_id: int | None) -> JSON:
            data: JSON = {
                "id": str(role_id),
                "name": name,
                "description": None,
                "color": 0,
                "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
                "hoist": False,
                "icon": None,
                "unicode_emoji": None,
                "position": position,
                "permissions": str(permissions),
                "managed": bot_id is not None,
                "mentionable": False,
                "flags": 0,
            }
            if bot_id is not None:
                data["tags"] = {"bot_id": str(bot_id)}
            return data

        bot_ids = [m.user.id for m in self.members.values() if m.user.bot]
        return [
            role(self.id, "@everyone", EVERYONE_PERMISSIONS, 0, None),
            role(self.bot_role_id, "Bot", BOT_ROLE_PERMISSIONS, 1, bot_ids[0] if bot_ids else None),
            *(role(rid, name, 0, 2 + i, None) for i, (rid, name) in enumerate(self.extra_roles.items())),
        ]

    def role_json(self, role_id: int) -> JSON:
        return next(r for r in self.roles_json() if r["id"] == str(role_id))

    def to_gateway_json(self, bot_user_id: int) -> JSON:
        """The GUILD_CREATE payload (guild object plus gateway-only fields)."""
        bot_member = self.members.get(bot_user_id)
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner_id),
            "application_id": None,
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "roles": self.roles_json(),
            "emojis": [],
            "stickers": [],
            "features": [],
            "system_channel_id": str(self.channels[0].id) if self.channels else None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "premium_tier": self.premium_tier,
            "premium_subscription_count": BOOSTS_FOR_TIER.get(self.premium_tier, 0),
            "premium_progress_bar_enabled": False,
            "preferred_locale": self.preferred_locale,
            "max_members": 500000,
            "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50,
            "joined_at": self.joined_at,
            "large": False,
            "unavailable": False,
            "lazy": True,
            "member_count": len(self.members),
            "members": [bot_member.to_json()] if bot_member else [],
            "channels": [c.to_json(bot_user_id) for c in self.channels],
            "threads": [],
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "embedded_activities": [],
            "activity_instances": [],
        }


@dataclass
class FakeInteraction:
    """One interaction the fake dispatched, and what the bot did with it."""

    id: int
    token: str
    application_id: int
    guild_id: int
    channel_id: int
    user_id: int
    name: str
    type: int
    payload: JSON
    dispatched_at: float = 0.0
    created_at: float = 0.0  # when its token's lifetime starts (monotonic); before dispatch when aged
    callback_type: int | None = None
    acknowledged_at: float | None = None
    original_message_id: int | None = None
    followup_message_ids: list[int] = field(default_factory=list)

    @property
    def acknowledged(self) -> bool:
        return self.callback_type is not None

    def owns_message(self, message_id: int) -> bool:
        return message_id == self.original_message_id or message_id in self.followup_message_ids
