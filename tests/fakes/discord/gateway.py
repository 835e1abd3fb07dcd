"""Gateway side of the Discord fake: plain-text JSON websocket with HELLO/IDENTIFY/RESUME/heartbeats."""

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
CLOSE_INVALID_INTENTS = 4013
CLOSE_DISALLOWED_INTENTS = 4014

Outgoing = tuple[JSON, "asyncio.Future[None] | None"]


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

    @property
    def connected(self) -> bool:
        return self.connection is not None and not self.connection.closed


class FakeGateway:
    def __init__(self, fake: FakeDiscord) -> None:
        self._fake = fake
        self.sessions: dict[str, GatewaySession] = {}
        self.current: GatewaySession | None = None
        self.connections: list[GatewayConnection] = []

    # -- public helpers used by FakeDiscord ---------------------------------------------

    def dispatch(self, event: str, data: JSON, *, session: GatewaySession | None = None) -> asyncio.Future[None]:
        """Send a dispatch to a session (default: the most recent identified one).

        Events for a session whose socket is gone are kept in its log and replayed on RESUME.
        The returned future resolves once the frame was written (or immediately if buffered).
        """
        target = session or self.current
        if target is None:
            raise RuntimeError("no bot has identified on the fake gateway")
        target.seq += 1
        payload: JSON = {"op": OP_DISPATCH, "t": event, "s": target.seq, "d": data}
        target.log.append(payload)
        if target.connection is not None and not target.connection.closed:
            return self._send(target.connection, payload)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    def wants(self, intent: int) -> bool:
        return self.current is not None and bool(self.current.intents & intent)

    def message_for_bot(self, message: JSON, *, mentions_bot: bool) -> JSON:
        """Blank message contents like Discord does for bots without the MESSAGE_CONTENT intent."""
        own = int(message["author"]["id"]) == self._fake.bot_user_id
        if own or mentions_bot or self.wants(INTENT_MESSAGE_CONTENT):
            return message
        blanked = dict(message)
        blanked.update({"content": "", "embeds": [], "attachments": [], "components": []})
        return blanked

    async def disconnect(self, code: int, *, resumable: bool) -> None:
        for conn in list(self.connections):
            if conn.closed:
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
        if intents & PRIVILEGED_INTENTS & ~self._fake.allowed_privileged_intents:
            await self._close(conn, CLOSE_DISALLOWED_INTENTS, "Disallowed intent(s).")
            return
        session = GatewaySession(session_id=secrets.token_hex(16), intents=intents, connection=conn)
        self.sessions[session.session_id] = session
        conn.session = session
        self.current = session
        sent = [self.dispatch("READY", self._ready_payload(session), session=session)]
        for guild in self._fake.guilds.values():
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
        last_seen = int(data.get("seq") or 0)
        replay = [p for p in session.log if p["s"] > last_seen]
        sent = [self._send(conn, p) for p in replay]
        sent.append(self.dispatch("RESUMED", {"_trace": ["fake"]}, session=session))
        await asyncio.gather(*sent)
        self._fake._notify()

    def _ready_payload(self, session: GatewaySession) -> JSON:
        fake = self._fake
        return {
            "v": 10,
            "user": fake.bot_user.to_json() | {"verified": True, "mfa_enabled": False},
            "user_settings": {},
            "guilds": [{"id": str(g.id), "unavailable": True} for g in fake.guilds.values()],
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
