"""A protocol-level fake of Discord (REST API v10 + gateway) for end-to-end tests of the bot.

One aiohttp server on 127.0.0.1 serves ``/api/v10/...`` (REST), ``/gateway`` (websocket) and
``/attachments/...`` (the "CDN" for uploaded files). Point discord.py at it with::

    discord.http.Route.BASE = fake.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)

The pieces live in sibling modules: models (data + JSON shapes), messages (message state),
rest/routes (HTTP), ratelimit, gateway and openapi (spec checks).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import json
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from aiohttp import web

from .faults import Action, Fault, Faults
from .gateway import FakeGateway, GatewaySession, event_guild_id, shard_of
from .messages import MessageStore, Origin
from .models import (
    ALL_PERMISSIONS,
    APP_FLAG_GATEWAY_GUILD_MEMBERS,
    APP_FLAG_GATEWAY_MESSAGE_CONTENT,
    APP_FLAG_GATEWAY_PRESENCE,
    BOT_ROLE_PERMISSIONS,
    EVERYONE_PERMISSIONS,
    FLAG_EPHEMERAL,
    INTENT_GUILD_MEMBERS,
    INTENT_GUILD_MESSAGES,
    INTENT_GUILD_PRESENCES,
    INTENT_MESSAGE_CONTENT,
    JSON,
    PRIVILEGED_INTENTS,
    FakeChannel,
    FakeGuild,
    FakeInteraction,
    FakeMember,
    FakeUser,
    FileSink,
    RecordedFile,
    RecordedRequest,
    SnowflakeFactory,
)
from .openapi import check_requests
from .ratelimit import RateLimiter
from .rest import RestDispatcher
from .routes import Routes

__all__ = [
    "FakeChannel",
    "FakeDiscord",
    "FakeGuild",
    "FakeInteraction",
    "FakeMember",
    "FakeUser",
    "RecordedFile",
    "RecordedRequest",
]

T = TypeVar("T")
CALLBACK_ROUTE = "/interactions/{interaction_id}/{interaction_token}/callback"
GatewayEvent = tuple[float, str, JSON]


class FakeDiscord:
    """In-process fake Discord. All state is inspectable; see the module docstring for wiring."""

    def __init__(
        self,
        openapi_path: Path | None = None,
        *,
        bot_token: str | None = None,
        bot_username: str = "SoraBot",
        heartbeat_interval_ms: int = 41250,
        shards: int = 1,
    ) -> None:
        self.openapi_path = openapi_path
        # The shard count GET /gateway/bot recommends (what AutoShardedClient uses without shard_count).
        self.shards = shards
        self.heartbeat_interval_ms = heartbeat_interval_ms
        # Interaction tokens (webhook routes) are valid this long after dispatch.
        self.token_lifetime: float = 15 * 60.0
        # The initial callback must come this soon after dispatch (Discord: 3 s); None disables.
        self.callback_deadline: float | None = 3.0
        # Privileged intents "enabled in the developer portal"; others close the gateway with 4014.
        self.allowed_privileged_intents: int = PRIVILEGED_INTENTS

        self.ids = SnowflakeFactory()
        self.application_id: int = self.ids.next()
        self.bot_user_id: int = self.application_id  # as for every modern Discord app
        # Shaped like a real token (the application id in base64, a timestamp, an HMAC), as the bot checks.
        self.bot_token = bot_token or ".".join(
            [base64.urlsafe_b64encode(str(self.application_id).encode()).decode().rstrip("="), "GfAkEd", "x" * 38]
        )
        self.bot_user = FakeUser(self.bot_user_id, bot_username, None, bot=True)
        self.owner_user = FakeUser(self.ids.next(), "guild-owner", "Guild Owner")
        self.users: dict[int, FakeUser] = {u.id: u for u in (self.bot_user, self.owner_user)}
        self.guilds: dict[int, FakeGuild] = {}
        self.channels: dict[int, FakeChannel] = {}
        self.interactions: dict[int, FakeInteraction] = {}
        self.interactions_by_token: dict[str, FakeInteraction] = {}
        self.commands: dict[int | None, list[JSON]] = {}  # None = global commands
        self.requests: list[RecordedRequest] = []
        self.gateway_events: list[GatewayEvent] = []
        self.internal_errors: list[str] = []  # handler crashes (answered 500): bugs of the fake

        self.store = MessageStore(self.ids, lambda: self.http_base, self.users.get)
        self.gateway = FakeGateway(self)
        self._limiter = RateLimiter()
        self.faults = Faults()
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._upload_dir: Path | None = None
        self._verify_key = secrets.token_hex(32)

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        self._upload_dir = Path(tempfile.mkdtemp(prefix="fake-discord-"))
        dispatcher = RestDispatcher(self, self._limiter, self._upload_dir)
        Routes(self).register(dispatcher)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self.gateway.handle)
        app.router.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", self._serve_attachment)
        app.router.add_route("*", "/{tail:.*}", dispatcher.handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        await self.gateway.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._upload_dir is not None:
            shutil.rmtree(self._upload_dir, ignore_errors=True)
            self._upload_dir = None

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeDiscord is not started")
        return self._port

    @property
    def http_base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return f"{self.http_base}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    @property
    def count_429(self) -> int:
        return self._limiter.count_429

    @property
    def application_flags(self) -> int:
        allowed = self.allowed_privileged_intents
        flags = 0
        if allowed & INTENT_GUILD_PRESENCES:
            flags |= APP_FLAG_GATEWAY_PRESENCE
        if allowed & INTENT_GUILD_MEMBERS:
            flags |= APP_FLAG_GATEWAY_GUILD_MEMBERS
        if allowed & INTENT_MESSAGE_CONTENT:
            flags |= APP_FLAG_GATEWAY_MESSAGE_CONTENT
        return flags

    # -- world building -------------------------------------------------------------------

    def add_guild(
        self,
        guild_id: int | None = None,
        premium_tier: int = 0,
        name: str = "Test Guild",
        preferred_locale: str = "en-US",
    ) -> FakeGuild:
        """A guild with @everyone, a bot role, the bot and every known user, and a #general channel."""
        guild = FakeGuild(
            id=guild_id or self.ids.next(),
            name=name,
            premium_tier=premium_tier,
            owner_id=self.owner_user.id,
            bot_role_id=self.ids.next(),
            preferred_locale=preferred_locale,
        )
        self.guilds[guild.id] = guild
        for user in self.users.values():
            if user.bot:
                perms = BOT_ROLE_PERMISSIONS | EVERYONE_PERMISSIONS
                guild.members[user.id] = FakeMember(user, guild.id, perms, [guild.bot_role_id])
            else:
                perms = ALL_PERMISSIONS if user.id == guild.owner_id else EVERYONE_PERMISSIONS
                guild.members[user.id] = FakeMember(user, guild.id, perms)
        self._new_channel(guild, "general", bot_can_send=True)
        self._dispatch_if_connected("GUILD_CREATE", lambda: guild.to_gateway_json(self.bot_user_id))
        return guild

    def add_channel(
        self, guild_id: int, name: str = "channel", bot_can_send: bool = True, topic: str | None = None
    ) -> FakeChannel:
        """A text channel; with bot_can_send=False the bot is denied SEND_MESSAGES and ATTACH_FILES."""
        channel = self._new_channel(self.guilds[guild_id], name, bot_can_send=bot_can_send, topic=topic)
        self._dispatch_if_connected("CHANNEL_CREATE", lambda: channel.to_json(self.bot_user_id))
        return channel

    def add_user(self, username: str = "alice", global_name: str | None = None) -> FakeUser:
        """A human user, made a member of every guild."""
        user = FakeUser(self.ids.next(), username, global_name or username.title())
        self.users[user.id] = user
        for guild in self.guilds.values():
            self.add_member(guild.id, user.id)
        return user

    def add_role(self, guild_id: int, name: str) -> int:
        """A plain role (no permissions), known to the bot from GUILD_CREATE: add it before the bot starts."""
        role_id = self.ids.next()
        self.guilds[guild_id].extra_roles[role_id] = name
        return role_id

    def add_member(
        self, guild_id: int, user_id: int, permissions: int | str | None = None, roles: Sequence[int] = ()
    ) -> FakeMember:
        guild = self.guilds[guild_id]
        perms = EVERYONE_PERMISSIONS if permissions is None else int(permissions)
        member = FakeMember(self.users[user_id], guild_id, perms, list(roles))
        guild.members[user_id] = member
        if self.gateway.wants(INTENT_GUILD_MEMBERS, guild_id):
            self._dispatch_if_connected("GUILD_MEMBER_ADD", lambda: member.to_json() | {"guild_id": str(guild_id)})
        return member

    def guild_id_for_shard(self, shard_id: int, shard_count: int) -> int:
        """A fresh guild id (a snowflake) that shard `shard_id` of `shard_count` owns: pass it to add_guild."""
        if not 0 <= shard_id < shard_count:
            raise ValueError(f"no shard {shard_id} among {shard_count}")
        return self.ids.next_on_shard(shard_id, shard_count)

    def shard_of(self, guild_id: int | None, shard_count: int | None = None) -> int:
        """The shard owning a guild (0 for DMs), of `shard_count` or else the count of the newest IDENTIFY."""
        return shard_of(guild_id, shard_count or self.gateway.shard_count)

    def shard_session(self, shard_id: int, shard_count: int | None = None) -> GatewaySession | None:
        """The session that owns shard `shard_id` (of `shard_count`, else the count in use): the newest to
        identify as it. Its ``log``/``events()`` show what that shard was sent; None if it never identified."""
        return self.gateway.owners.get((shard_id, shard_count or self.gateway.shard_count))

    def _new_channel(self, guild: FakeGuild, name: str, *, bot_can_send: bool, topic: str | None = None) -> FakeChannel:
        channel = FakeChannel(self.ids.next(), guild.id, name, len(guild.channels), bot_can_send, topic=topic)
        guild.channels.append(channel)
        self.channels[channel.id] = channel
        return channel

    # -- gateway driving ------------------------------------------------------------------

    async def wait_ready(
        self,
        timeout: float = 10.0,  # noqa: ASYNC109 - the tests' API asks for a plain timeout argument
        *,
        since: float | None = None,
        shard: int | None = None,
        shard_count: int | None = None,
    ) -> GatewaySession:
        """Wait until a connected bot identified and got READY + GUILD_CREATEs (after `since`, if given).

        With `shard`, wait for the session owning that shard (of `shard_count`, else the count in use)."""

        def ready() -> GatewaySession | None:
            session = self.gateway.current if shard is None else self.shard_session(shard, shard_count)
            if session is None or session.ready_at is None or not session.connected:
                return None
            return session if since is None or session.ready_at >= since else None

        return await self._wait_until(ready, timeout, "the bot to identify and become ready")

    async def send_slash_command(
        self,
        guild_id: int,
        channel_id: int,
        user_id: int,
        name: str,
        options: Sequence[JSON] | None = None,
        member_permissions: int | str | None = None,
        *,
        locale: str = "en-US",
        age: float = 0.0,
    ) -> FakeInteraction:
        """Dispatch INTERACTION_CREATE for a chat-input command.

        ``age`` makes the interaction as old as that many seconds (its snowflake and its token's
        15-minute lifetime both count from then), to reach token expiry without waiting.

        Options are Discord option objects; an attachment option (type 11) may give a local file
        path as value, which the fake serves and puts in ``data.resolved.attachments``.
        ``member_permissions`` defaults to the member's permissions (add_member).
        """
        guild = self.guilds[guild_id]
        channel = self.channels[channel_id]
        resolved: JSON = {}
        data: JSON = {"id": "", "name": name, "type": 1}
        data["options"] = self._resolve_options(guild, channel, list(options or []), resolved)
        self._command_ids(guild_id, name, data)
        if resolved:
            data["resolved"] = resolved
        return await self._send_interaction(
            guild_id, channel_id, user_id, 2, data, name, member_permissions, locale=locale, age=age
        )

    async def send_autocomplete(
        self,
        guild_id: int,
        channel_id: int,
        user_id: int,
        name: str,
        options: Sequence[JSON],
        member_permissions: int | str | None = None,
    ) -> FakeInteraction:
        """Dispatch an APPLICATION_COMMAND_AUTOCOMPLETE interaction (type 4); mark one option "focused"."""
        data: JSON = {"id": "", "name": name, "type": 1, "options": [dict(o) for o in options]}
        self._command_ids(guild_id, name, data)
        return await self._send_interaction(guild_id, channel_id, user_id, 4, data, name, member_permissions)

    async def send_message_command(
        self,
        guild_id: int,
        channel_id: int,
        user_id: int,
        name: str,
        message_id: int,
        member_permissions: int | str | None = None,
    ) -> FakeInteraction:
        """Dispatch a message context-menu command (type 2, command type 3) on a stored message."""
        message = self.message(message_id)
        data: JSON = {
            "id": "",
            "name": name,
            "type": 3,
            "target_id": str(message_id),
            "resolved": {"messages": {str(message_id): message}},
        }
        self._command_ids(guild_id, name, data)
        return await self._send_interaction(guild_id, channel_id, user_id, 2, data, name, member_permissions)

    async def send_component_click(
        self,
        guild_id: int,
        channel_id: int,
        user_id: int,
        message_id: int,
        custom_id: str,
        member_permissions: int | str | None = None,
        values: Sequence[str] | None = None,
    ) -> FakeInteraction:
        """Dispatch a button click (MESSAGE_COMPONENT, type 3) on a stored message; with `values`, a choice
        in a string select (component type 3) instead."""
        data: JSON = {"custom_id": custom_id, "component_type": 2}
        if values is not None:
            data = {"custom_id": custom_id, "component_type": 3, "values": list(values)}
        return await self._send_interaction(
            guild_id, channel_id, user_id, 3, data, custom_id, member_permissions, message=self.message(message_id)
        )

    async def send_modal_submit(
        self,
        guild_id: int,
        channel_id: int,
        user_id: int,
        custom_id: str,
        values: dict[str, str],
        member_permissions: int | str | None = None,
        message_id: int | None = None,
        *,
        in_rows: bool = False,
    ) -> FakeInteraction:
        """Dispatch a MODAL_SUBMIT (type 5) with one text input per value (custom_id -> value), each in a label
        (type 18) as Discord submits a form built of labels, or in an action row (type 1: `in_rows`, the
        older forms)."""
        inputs = [{"type": 4, "custom_id": key, "value": value} for key, value in values.items()]
        shaped = [{"type": 1, "components": [i]} if in_rows else {"type": 18, "component": i} for i in inputs]
        data: JSON = {"custom_id": custom_id, "components": shaped}
        message = self.message(message_id) if message_id is not None else None
        return await self._send_interaction(
            guild_id, channel_id, user_id, 5, data, custom_id, member_permissions, message=message
        )

    def _command_ids(self, guild_id: int, name: str, data: JSON) -> None:
        command, scope = self._find_command(guild_id, name)
        data["id"] = command["id"] if command else str(self.ids.next())
        if scope is not None:
            data["guild_id"] = str(scope)

    async def _send_interaction(
        self,
        guild_id: int,
        channel_id: int,
        user_id: int,
        kind: int,
        data: JSON,
        name: str,
        member_permissions: int | str | None,
        *,
        locale: str = "en-US",
        age: float = 0.0,
        message: JSON | None = None,
    ) -> FakeInteraction:
        guild = self.guilds[guild_id]
        channel = self.channels[channel_id]
        member = guild.members.get(user_id) or self.add_member(guild_id, user_id)
        perms = member.permissions if member_permissions is None else int(member_permissions)
        interaction_id = self.ids.dated(age) if age else self.ids.next()
        token = base64.urlsafe_b64encode(f"interaction:{interaction_id}:{secrets.token_hex(48)}".encode())
        member_json = member.to_json(with_permissions=True) | {"permissions": str(perms)}
        payload: JSON = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": kind,
            "data": data,
            "guild_id": str(guild.id),
            "guild": {"id": str(guild.id), "locale": guild.preferred_locale, "features": []},
            "channel_id": str(channel.id),
            "channel": channel.to_json(self.bot_user_id) | {"permissions": str(perms)},
            "member": member_json,
            "token": token.decode().rstrip("="),
            "version": 1,
            "app_permissions": str(channel.bot_permissions()),
            "locale": locale,
            "guild_locale": guild.preferred_locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "authorizing_integration_owners": {"0": str(guild.id)},
            "context": 0,
            "attachment_size_limit": guild.upload_limit,
        }
        if message is not None:
            payload["message"] = message
        inter = FakeInteraction(
            id=interaction_id,
            token=payload["token"],
            application_id=self.application_id,
            guild_id=guild.id,
            channel_id=channel.id,
            user_id=user_id,
            name=name,
            type=kind,
            payload=payload,
        )
        self.interactions[inter.id] = inter
        self.interactions_by_token[inter.token] = inter
        inter.dispatched_at = time.monotonic()
        await self.gateway.dispatch("INTERACTION_CREATE", payload)
        inter.dispatched_at = time.monotonic()
        inter.created_at = inter.dispatched_at - age
        return inter

    async def send_message_create(
        self,
        guild_id: int,
        channel_id: int,
        user_id: int,
        content: str,
        reply_to: int | None = None,
        mentions_bot: bool = False,
        *,
        attachments: Sequence[Path] = (),
        reply_mention: bool = True,
    ) -> JSON:
        """A user posts a message (stored, then dispatched as MESSAGE_CREATE); returns the message.

        ``mentions_bot`` puts ``<@bot>`` in the content; a reply pings the replied author unless
        ``reply_mention`` is False. Without the MESSAGE_CONTENT intent the bot gets blank content
        unless it is mentioned, as on Discord.
        """
        guild = self.guilds[guild_id]
        if user_id not in guild.members:
            self.add_member(guild_id, user_id)
        if mentions_bot and f"<@{self.bot_user_id}>" not in content:
            content = f"<@{self.bot_user_id}> {content}"
        payload: JSON = {"content": content}
        if reply_to is not None:
            payload["message_reference"] = {"message_id": reply_to, "channel_id": channel_id}
            if not reply_mention:
                payload["allowed_mentions"] = {"parse": ["users", "roles", "everyone"], "replied_user": False}
        files = [self._import_file(Path(p), index) for index, p in enumerate(attachments)]
        message = self.store.create(
            channel_id=channel_id,
            guild_id=guild_id,
            payload=payload,
            files=files,
            origin=Origin(author=self.users[user_id]),
        )
        sent = self._emit_message("MESSAGE_CREATE", message)
        if sent is not None:
            await sent
        return copy.deepcopy(message)

    async def dispatch(self, event: str, data: JSON) -> None:
        """Send any dispatch event to the bot: to the session of the shard owning its guild (see gateway.py)."""
        await self.gateway.dispatch(event, data)

    async def disconnect_bot(self, code: int = 4000, *, resumable: bool = True, shard: int | None = None) -> None:
        """Close the bot's gateway socket(s) from the server side (discord.py then RESUMEs); only shard `shard`'s
        if given."""
        await self.gateway.disconnect(code, resumable=resumable, shard=shard)

    # -- inspection -----------------------------------------------------------------------

    async def wait_for_request(
        self,
        predicate: Callable[[RecordedRequest], bool],
        timeout: float = 10.0,  # noqa: ASYNC109 - the tests' API asks for a plain timeout argument
        *,
        since: float | None = None,
    ) -> RecordedRequest:
        """The first recorded request (at or after `since`) matching predicate, waiting if needed."""

        def find() -> RecordedRequest | None:
            for req in self.requests:
                if (since is None or req.time >= since) and predicate(req):
                    return req
            return None

        return await self._wait_until(find, timeout, "a matching request")

    def messages(self, channel_id: int) -> list[JSON]:
        """The channel's messages, oldest first, including ephemeral interaction responses."""
        return copy.deepcopy(self.store.in_channel(channel_id, include_ephemeral=True))

    def message(self, message_id: int) -> JSON:
        return copy.deepcopy(self.store.by_id[message_id])

    def interaction_callbacks(self, inter_id: int) -> list[RecordedRequest]:
        prefix = f"/interactions/{inter_id}/"
        return [r for r in self.requests if r.route == CALLBACK_ROUTE and r.path.startswith(prefix)]

    def rate_limit(
        self, method: str, path_regex: str, count: int = 1, retry_after: float = 0.5, is_global: bool = False
    ) -> None:
        """The next `count` requests whose path (without /api/v10) fully matches path_regex get a 429."""
        self._limiter.add_forced(method, path_regex, count, retry_after, is_global)

    def set_route_limit(self, method: str, path_regex: str, limit: int, per_seconds: float) -> None:
        """A real bucket for matching requests: `limit` per `per_seconds`, 429 beyond (see count_429)."""
        self._limiter.add_route_limit(method, path_regex, limit, per_seconds)

    def fault(
        self,
        method: str,
        path_regex: str,
        action: Action,
        *,
        status: int = 503,
        count: int = 1,
        contains: str | None = None,
    ) -> Fault:
        """The next `count` requests (negative: all) whose path (without /api/v10) fully matches path_regex
        (and whose JSON body has `contains`) meet `action`: see faults.py. Returns the fault, to
        release a hold or count its hits."""
        return self.faults.add(method, path_regex, action, status=status, count=count, contains=contains)

    def clear_rate_limits(self) -> None:
        self._limiter.clear()

    def check_against_openapi(self) -> list[str]:
        """Problems of all recorded requests (and main answers) against the OpenAPI spec."""
        if self.openapi_path is None:
            raise ValueError("FakeDiscord was created without openapi_path")
        return check_requests(self.openapi_path, list(self.requests))

    # -- internals used by the rest/gateway modules --------------------------------------

    def _record_request(self, record: RecordedRequest) -> None:
        self.requests.append(record)
        self._notify()

    def _record_gateway(self, direction: str, payload: JSON) -> None:
        self.gateway_events.append((time.monotonic(), direction, payload))
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_until(self, probe: Callable[[], T | None], limit_s: float, what: str) -> T:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit_s
        while True:
            changed = self._changed
            found = probe()
            if found is not None:
                return found
            remaining = deadline - loop.time()
            if remaining <= 0:
                recent = ", ".join(f"{r.method} {r.path} -> {r.status}" for r in self.requests[-8:])
                raise TimeoutError(f"timed out after {limit_s}s waiting for {what}; recent requests: {recent}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    def _dispatch_if_connected(self, event: str, build: Callable[[], JSON]) -> None:
        """Dispatch to the shard owning the event's guild, if that shard ever identified."""
        data = build()
        session = self.gateway.route(event, data)
        if session is not None:
            self.gateway.dispatch(event, data, session=session)

    def _emit_message(self, event: str, message: JSON) -> asyncio.Future[None] | None:
        """Tell the bot about a message change over the gateway, as Discord would."""
        guild_id = event_guild_id(event, message)
        if message["flags"] & FLAG_EPHEMERAL or not self.gateway.wants(INTENT_GUILD_MESSAGES, guild_id):
            return None
        if event == "MESSAGE_DELETE":
            data: JSON = {k: message[k] for k in ("id", "channel_id", "guild_id")}
        else:
            data = copy.deepcopy(message)
            if event == "MESSAGE_UPDATE":
                data.pop("nonce", None)
            member = self.guilds[int(message["guild_id"])].members.get(int(message["author"]["id"]))
            if member is not None and message.get("webhook_id") is None:
                data["member"] = member.to_json(with_user=False)
            mentioned = any(m["id"] == str(self.bot_user_id) for m in message["mentions"])
            data = self.gateway.message_for_bot(data, mentions_bot=mentioned)
        return self.gateway.dispatch(event, data)

    def _find_command(self, guild_id: int, name: str) -> tuple[JSON | None, int | None]:
        for command in self.commands.get(guild_id, []):
            if command["name"] == name and command["type"] == 1:
                return command, guild_id
        for command in self.commands.get(None, []):
            if command["name"] == name and command["type"] == 1:
                return command, None
        return None, None

    def _resolve_options(
        self, guild: FakeGuild, channel: FakeChannel, options: list[JSON], resolved: JSON
    ) -> list[JSON]:
        out: list[JSON] = []
        for raw in options:
            option = dict(raw)
            kind = option.get("type")
            if kind in (1, 2):
                option["options"] = self._resolve_options(guild, channel, list(option.get("options", [])), resolved)
            elif kind == 11 and isinstance(option.get("value"), (str, Path)) and Path(option["value"]).is_file():
                recorded = self._import_file(Path(option["value"]), 0)
                attachment = self.store.store_local_file(channel.id, recorded.data, recorded)
                attachment["filename"] = Path(option["value"]).name.replace(" ", "_")
                resolved.setdefault("attachments", {})[attachment["id"]] = attachment
                option["value"] = attachment["id"]
            elif kind == 7:
                target = self.channels[int(option["value"])]
                option["value"] = str(target.id)
                resolved.setdefault("channels", {})[str(target.id)] = target.to_json(self.bot_user_id) | {
                    "permissions": str(target.bot_permissions())
                }
            elif kind == 8:
                option["value"] = str(int(option["value"]))
                resolved.setdefault("roles", {})[option["value"]] = guild.role_json(int(option["value"]))
            elif kind == 6:
                user = self.users[int(option["value"])]
                option["value"] = str(user.id)
                resolved.setdefault("users", {})[str(user.id)] = user.to_json()
                member = guild.members.get(user.id)
                if member is not None:
                    member_json = member.to_json(with_user=False, with_permissions=True)
                    resolved.setdefault("members", {})[str(user.id)] = member_json
            out.append(option)
        return out

    def _import_file(self, path: Path, index: int) -> RecordedFile:
        """Copy a local file into the fake's upload directory (as if a user uploaded it)."""
        if self._upload_dir is None:
            raise RuntimeError("FakeDiscord is not started")
        target = self._upload_dir / f"{secrets.token_hex(8)}{path.suffix}"
        sink = FileSink(target, f"files[{index}]", path.name, "application/octet-stream")
        with path.open("rb") as source:
            while chunk := source.read(1 << 20):
                sink.write(chunk)
        return sink.close()

    def _application_json(self) -> JSON:
        return {
            "id": str(self.application_id),
            "name": self.bot_user.username,
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "bot": self.bot_user.to_json(),
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": self._verify_key,
            "flags": self.application_flags,
            "owner": self.owner_user.to_json(),
            "team": None,
            "hook": True,
            "is_monetized": False,
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "role_connections_verification_url": None,
            "tags": [],
            "approximate_guild_count": len(self.guilds),
            "integration_types_config": {"0": {}},
        }

    async def _serve_attachment(self, request: web.Request) -> web.StreamResponse:
        try:
            path = self.store.attachment_paths.get(int(request.match_info["attachment_id"]))
        except ValueError:
            path = None
        if path is None or not path.is_file():
            body = json.dumps({"message": "404: Not Found", "code": 0}).encode()
            return web.Response(body=body, status=404, headers={"Content-Type": "application/json"})
        return web.FileResponse(path)
