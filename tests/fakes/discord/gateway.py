"""Gateway side of the Discord fake: plain-text JSON websocket with HELLO/IDENTIFY/RESUME/heartbeats.

Shards, as Discord has them: an IDENTIFY with ``shard: [id, count]`` opens a session for that shard
(no ``shard`` is shard ``[0, 1]``); ``id >= count`` (or a malformed pair) is closed with 4010. The
newest IDENTIFY of a shard owns it (as the newest unsharded IDENTIFY always did here): an older
session of the same shard, even one whose socket is still open, gets nothing more; it may RESUME
for what was queued for it before. (Discord would send to both; closing either would make
discord.py re-identify in a tight loop.) A guild belongs to shard ``(guild_id >> 22) % count``, with
``count`` that of the newest IDENTIFY; DMs and other guild-less events go to shard 0. Its READY,
GUILD_CREATEs and every dispatch of the guild go to the owning session only; while that session's
socket is gone they wait in its log for a RESUME, never going to another shard.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from .models import INTENT_MESSAGE_CONTENT, JSON, PRIVILEGED_INTENTS

if TYPE_CHECKING:
    from .models import FakeGuild
    from .server import FakeDiscord

OP_DISPATCH = 0
OP_HEARTBEAT = 1
OP_IDENTIFY = 2
OP_RESUME = 6
OP_INVALID_SESSION = 9
OP_HELLO = 10
OP_HEARTBEAT_ACK = 11
OP_REQUEST_GUILD_MEMBERS = 8

CLOSE_NOT_AUTHENTICATED = 4003
CLOSE_AUTH_FAILED = 4004
CLOSE_ALREADY_AUTHENTICATED = 4005
CLOSE_INVALID_SHARD = 4010
CLOSE_INVALID_INTENTS = 4013
CLOSE_DISALLOWED_INTENTS = 4014

Outgoing = tuple[JSON, "asyncio.Future[None] | None"]
Shard = tuple[int, int]  # (shard_id, shard_count)
UNSHARDED: Shard = (0, 1)
GUILD_OBJECT_EVENTS = frozenset({"GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE"})


def shard_of(guild_id: int | None, shard_count: int) -> int:
    """The shard that owns a guild, as Discord computes it; guild-less events (DMs) belong to shard 0."""
    return 0 if guild_id is None else (guild_id >> 22) % shard_count


def event_guild_id(event: str, data: JSON) -> int | None:
    """The guild a dispatch is about: its guild_id, or the id of a GUILD_CREATE/UPDATE/DELETE; None for DMs."""
    raw = data.get("id") if event in GUILD_OBJECT_EVENTS else data.get("guild_id")
    return None if raw is None else int(raw)


@dataclass
class GatewayConnection:
    ws: web.WebSocketResponse
    opened_at: float
    query: dict[str, str]
    outbox: asyncio.Queue[Outgoing] = field(default_factory=asyncio.Queue)
    session: GatewaySession | None = None
    closed: bool = False
    last_heartbeat: float | None = None


@dataclass
class GatewaySession:
    session_id: str
    intents: int
    seq: int = 0
    log: list[JSON] = field(default_factory=list)
    connection: GatewayConnection | None = None
    ready_at: float | None = None
    invalidated: bool = False
    shard: Shard | None = None  # as the IDENTIFY sent it; None: an unsharded bot (shard [0, 1])

    @property
    def connected(self) -> bool:
        return self.connection is not None and not self.connection.closed

    @property
    def shard_id(self) -> int:
        return (self.shard or UNSHARDED)[0]

    @property
    def shard_count(self) -> int:
        return (self.shard or UNSHARDED)[1]

    def events(self, name: str | None = None) -> list[JSON]:
        """The data of every dispatch sent (or queued) to this session, oldest first; only `name` if given."""
        return [p["d"] for p in self.log if name is None or p["t"] == name]


class FakeGateway:
    def __init__(self, fake: FakeDiscord) -> None:
        self._fake = fake
        self.sessions: dict[str, GatewaySession] = {}
        self.current: GatewaySession | None = None  # the newest identified session
        self.owners: dict[Shard, GatewaySession] = {}  # the newest identified session of each shard
        self.connections: list[GatewayConnection] = []

    # -- public helpers used by FakeDiscord ---------------------------------------------

    @property
    def shard_count(self) -> int:
        """The shard count in use: that of the newest IDENTIFY (1 before any, and for unsharded bots)."""
        return self.current.shard_count if self.current is not None else 1

    def session_for(self, guild_id: int | None) -> GatewaySession | None:
        """The session of the shard that owns the guild (shard 0 for None), if that shard ever identified."""
        count = self.shard_count
        return self.owners.get((shard_of(guild_id, count), count))

    def route(self, event: str, data: JSON) -> GatewaySession | None:
        return self.session_for(event_guild_id(event, data))

    def dispatch(self, event: str, data: JSON, *, session: GatewaySession | None = None) -> asyncio.Future[None]:
        """Send a dispatch to a session (default: that of the shard owning the event's guild, see route).

        Events for a session whose socket is gone are kept in its log and replayed on RESUME.
        The returned future resolves once the frame was written (or immediately if buffered).
        """
        target = session or self.route(event, data)
        if target is None:
            if self.current is None:
                raise RuntimeError("no bot has identified on the fake gateway")
            shard = shard_of(event_guild_id(event, data), self.shard_count)
            raise RuntimeError(f"no bot has identified as shard {shard} of {self.shard_count} on the fake gateway")
        target.seq += 1
        payload: JSON = {"op": OP_DISPATCH, "t": event, "s": target.seq, "d": data}
        target.log.append(payload)
        if target.connection is not None and not target.connection.closed:
            return self._send(target.connection, payload)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    def wants(self, intent: int, guild_id: int | None = None) -> bool:
        """Whether the session that would get the guild's events (shard 0's for None) asked for the intent."""
        session = self.session_for(guild_id)
        return session is not None and bool(session.intents & intent)

    def message_for_bot(self, message: JSON, *, mentions_bot: bool) -> JSON:
        """Blank message contents like Discord does for bots without the MESSAGE_CONTENT intent."""
        own = int(message["author"]["id"]) == self._fake.bot_user_id
        guild_id = message.get("guild_id")
        if own or mentions_bot or self.wants(INTENT_MESSAGE_CONTENT, None if guild_id is None else int(guild_id)):
            return message
        blanked = dict(message)
        blanked.update({"content": "", "embeds": [], "attachments": [], "components": []})
        return blanked

    async def disconnect(self, code: int, *, resumable: bool, shard: int | None = None) -> None:
        """Close every open socket, or only those of sessions of shard `shard` (of the count in use)."""
        for conn in list(self.connections):
            if conn.closed:
                continue
            if shard is not None and (conn.session is None or conn.session.shard_id != shard):
                continue
            if not resumable and conn.session is not None:
                conn.session.invalidated = True
            conn.closed = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.ws.close(code=code, message=b"fake server disconnect"), 5.0)

    async def close_all(self) -> None:
        await self.disconnect(1001, resumable=False)

    # -- websocket handler --------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, heartbeat=None, max_msg_size=0)
        await ws.prepare(request)
        conn = GatewayConnection(ws=ws, opened_at=time.monotonic(), query=dict(request.query))
        self.connections.append(conn)
        writer = asyncio.create_task(self._writer(conn), name="fake-gateway-writer")
        self._send(
            conn,
            {
                "op": OP_HELLO,
                "s": None,
                "t": None,
                "d": {"heartbeat_interval": self._fake.heartbeat_interval_ms, "_trace": ["fake"]},
            },
        )
        try:
            async for msg in ws:
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    continue
                try:
                    raw = msg.data if isinstance(msg.data, str) else msg.data.decode()
                    frame = json.loads(raw)
                except (ValueError, UnicodeDecodeError):
                    await ws.close(code=4002, message=b"Error while decoding payload.")
                    break
                self._fake._record_gateway("in", frame)
                await self._on_frame(conn, frame)
        finally:
            conn.closed = True
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            if conn.session is not None and conn.session.connection is conn:
                conn.session.connection = None
            self._fake._notify()
        return ws

    def _send(self, conn: GatewayConnection, payload: JSON) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        conn.outbox.put_nowait((payload, future))
        return future

    async def _writer(self, conn: GatewayConnection) -> None:
        while True:
            payload, future = await conn.outbox.get()
            try:
                if not conn.closed:
                    await conn.ws.send_str(json.dumps(payload))
                    self._fake._record_gateway("out", payload)
            except (ConnectionError, RuntimeError):
                conn.closed = True
            finally:
                if future is not None and not future.done():
                    future.set_result(None)

    async def _close(self, conn: GatewayConnection, code: int, reason: str) -> None:
        conn.closed = True
        await conn.ws.close(code=code, message=reason.encode())

    async def _on_frame(self, conn: GatewayConnection, frame: dict[str, Any]) -> None:
        op = frame.get("op")
        data = frame.get("d")
        if op == OP_HEARTBEAT:
            conn.last_heartbeat = time.monotonic()
            self._send(conn, {"op": OP_HEARTBEAT_ACK, "s": None, "t": None, "d": None})
        elif op == OP_IDENTIFY:
            await self._identify(conn, data or {})
        elif op == OP_RESUME:
            await self._resume(conn, data or {})
        elif conn.session is None:
            await self._close(conn, CLOSE_NOT_AUTHENTICATED, "Not authenticated.")
        elif op == OP_REQUEST_GUILD_MEMBERS:
            self._send_member_chunk(conn.session, data or {})
        # presence (3), voice state (4) and anything else: recorded, otherwise ignored

    async def _identify(self, conn: GatewayConnection, data: JSON) -> None:
        if conn.session is not None:
            await self._close(conn, CLOSE_ALREADY_AUTHENTICATED, "Already authenticated.")
            return
        if data.get("token") != self._fake.bot_token:
            await self._close(conn, CLOSE_AUTH_FAILED, "Authentication failed.")
            return
        intents = data.get("intents")
        if not isinstance(intents, int):
            await self._close(conn, CLOSE_INVALID_INTENTS, "Invalid intent(s).")
            return
        shard: Shard | None = None
        if data.get("shard") is not None:
            raw = data["shard"]
            valid = (
                isinstance(raw, list)
                and len(raw) == 2
                and all(isinstance(n, int) and not isinstance(n, bool) for n in raw)
                and 0 <= raw[0] < raw[1]
            )
            if not valid:
                await self._close(conn, CLOSE_INVALID_SHARD, "Invalid shard.")
                return
            shard = (raw[0], raw[1])
        if intents & PRIVILEGED_INTENTS & ~self._fake.allowed_privileged_intents:
            await self._close(conn, CLOSE_DISALLOWED_INTENTS, "Disallowed intent(s).")
            return
        session = GatewaySession(session_id=secrets.token_hex(16), intents=intents, connection=conn, shard=shard)
        self.sessions[session.session_id] = session
        conn.session = session
        self.current = session
        self.owners[shard or UNSHARDED] = session
        sent = [self.dispatch("READY", self._ready_payload(session), session=session)]
        for guild in self._owned_guilds(session):
            sent.append(self.dispatch("GUILD_CREATE", guild.to_gateway_json(self._fake.bot_user_id), session=session))
        await asyncio.gather(*sent)
        session.ready_at = time.monotonic()
        self._fake._notify()

    async def _resume(self, conn: GatewayConnection, data: JSON) -> None:
        if data.get("token") != self._fake.bot_token:
            await self._close(conn, CLOSE_AUTH_FAILED, "Authentication failed.")
            return
        session = self.sessions.get(str(data.get("session_id")))
        if session is None or session.invalidated:
            self._send(conn, {"op": OP_INVALID_SESSION, "s": None, "t": None, "d": False})
            return
        old = session.connection
        if old is not None and old is not conn and not old.closed:
            old.closed = True
            with contextlib.suppress(Exception):
                await old.ws.close(code=4009, message=b"Session resumed elsewhere.")
        session.connection = conn
        conn.session = session
        if self.current is None:
            self.current = session
        self.owners.setdefault(session.shard or UNSHARDED, session)
        last_seen = int(data.get("seq") or 0)
        replay = [p for p in session.log if p["s"] > last_seen]
        sent = [self._send(conn, p) for p in replay]
        sent.append(self.dispatch("RESUMED", {"_trace": ["fake"]}, session=session))
        await asyncio.gather(*sent)
        self._fake._notify()

    def _owned_guilds(self, session: GatewaySession) -> list[FakeGuild]:
        return [g for g in self._fake.guilds.values() if shard_of(g.id, session.shard_count) == session.shard_id]

    def _ready_payload(self, session: GatewaySession) -> JSON:
        fake = self._fake
        ready: JSON = {
            "v": 10,
            "user": fake.bot_user.to_json() | {"verified": True, "mfa_enabled": False},
            "user_settings": {},
            "guilds": [{"id": str(g.id), "unavailable": True} for g in self._owned_guilds(session)],
            "relationships": [],
            "private_channels": [],
            "presences": [],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": fake.gateway_url,
            "application": {"id": str(fake.application_id), "flags": fake.application_flags},
            "geo_ordered_rtc_regions": ["local"],
            "auth": {},
            "_trace": ["fake-gateway"],
        }
        if session.shard is not None:
            ready["shard"] = list(session.shard)
        return ready

    def _send_member_chunk(self, session: GatewaySession, data: JSON) -> None:
        guild = self._fake.guilds.get(int(data.get("guild_id") or 0))
        if guild is None:
            return
        members = list(guild.members.values())
        if data.get("user_ids"):
            wanted = {int(u) for u in data["user_ids"]}
            members = [m for m in members if m.user.id in wanted]
        elif data.get("query"):
            members = [m for m in members if m.user.username.startswith(data["query"])]
        if data.get("limit"):
            members = members[: int(data["limit"])]
        chunk: JSON = {
            "guild_id": str(guild.id),
            "members": [m.to_json() for m in members],
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        self.dispatch("GUILD_MEMBERS_CHUNK", chunk, session=session)
