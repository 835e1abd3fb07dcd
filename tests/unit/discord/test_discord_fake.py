"""The Discord fake, driven by the real discord.py client (REST + gateway over loopback)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import discord
import pytest
import yarl
from discord import app_commands

from tests.fakes.discord import FakeDiscord, FakeGuild

OPENAPI = Path(__file__).resolve().parents[2] / "fakes" / "discord" / "discord-openapi.json"
FILE_BYTES = b"hello from the fake test\n" * 40


class PingBot(discord.Client):
    """A minimal bot: /ping defers, edits the original response and posts a file; /hold parks the interaction."""

    def __init__(self) -> None:
        intents = discord.Intents.default()
        intents.members = False
        intents.presences = False
        super().__init__(intents=intents, guild_ready_timeout=0.05)
        self.tree = app_commands.CommandTree(self)
        self.held: asyncio.Queue[discord.Interaction] = asyncio.Queue()
        self.errors: list[BaseException] = []
        self.posted: list[discord.Message] = []

        @self.tree.command(name="ping", description="Defer, edit, post a file")
        async def ping(interaction: discord.Interaction, text: str = "pong") -> None:
            await interaction.response.defer(thinking=True)
            await interaction.edit_original_response(content=f"pong: {text}")
            assert interaction.channel is not None
            message = await interaction.channel.send(
                content="here is a file", file=discord.File(io.BytesIO(FILE_BYTES), filename="hello.txt")
            )
            self.posted.append(message)

        @self.tree.command(name="hold", description="Defer and hand the interaction to the test")
        async def hold(interaction: discord.Interaction) -> None:
            await interaction.response.defer(thinking=True, ephemeral=True)
            await self.held.put(interaction)

        @self.tree.error
        async def on_error(interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
            self.errors.append(error)


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord(openapi_path=OPENAPI)
    await fake.start()
    monkeypatch.setattr(discord.http.Route, "BASE", fake.api_base)
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(fake.gateway_url))
    try:
        yield fake
        assert fake.internal_errors == []
    finally:
        await fake.stop()


@pytest.fixture
def guild(fake: FakeDiscord) -> FakeGuild:
    guild = fake.add_guild(premium_tier=0)
    fake.add_channel(guild.id, name="videos")
    fake.add_user(username="alice")
    return guild


@pytest.fixture
async def start_bot(fake: FakeDiscord, guild: FakeGuild) -> AsyncIterator[Callable[[], Awaitable[PingBot]]]:
    started: list[tuple[PingBot, asyncio.Task[None]]] = []

    async def start() -> PingBot:
        client = PingBot()
        since = time.monotonic()
        task = asyncio.create_task(client.start(fake.bot_token))
        started.append((client, task))
        # This client's READY, not an earlier session's: until it logs in, wait_until_ready() raises
        # (on 3.12+ at once, as asyncio.wait_for no longer wraps it in a task that runs later).
        await fake.wait_ready(timeout=10, since=since)
        await asyncio.wait_for(client.wait_until_ready(), 10)
        return client

    yield start
    for client, task in started:
        await client.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 5)


def alice(fake: FakeDiscord) -> int:
    return next(u.id for u in fake.users.values() if u.username == "alice")


def videos(guild: FakeGuild) -> int:
    return guild.channel("videos").id


async def test_ready_puts_guild_and_channels_in_cache(fake, guild, start_bot):
    client = await start_bot()
    assert client.user is not None and client.user.id == fake.bot_user_id and client.user.bot
    assert client.application_id == fake.application_id
    cached = client.get_guild(guild.id)
    assert cached is not None and cached.name == "Test Guild" and cached.premium_tier == 0
    assert {c.name for c in cached.text_channels} == {"general", "videos"}
    assert cached.me is not None and cached.filesize_limit == 10 * 1024 * 1024
    frames = [p for _, direction, p in fake.gateway_events if direction == "out"]
    assert frames[0]["op"] == 10 and frames[0]["d"]["heartbeat_interval"] == 41250
    assert [f["t"] for f in frames if f["op"] == 0] == ["READY", "GUILD_CREATE"]
    assert any(p.get("op") == 2 for _, d, p in fake.gateway_events if d == "in")
    login = fake.requests[0]
    assert (login.method, login.path, login.status) == ("GET", "/users/@me", 200)


async def test_ping_defers_edits_and_uploads(fake, guild, start_bot):
    client = await start_bot()
    synced = await client.tree.sync()
    assert [c.name for c in synced] == ["ping", "hold"]
    channel_id = videos(guild)
    inter = await fake.send_slash_command(
        guild.id, channel_id, alice(fake), name="ping", options=[{"name": "text", "type": 3, "value": "hi"}]
    )
    callback = await fake.wait_for_request(lambda r: r.route is not None and "callback" in r.route)
    assert callback.json == {"type": 5} and callback.status == 200
    assert callback.query == {"with_response": "1"}
    assert callback.response_json["interaction"]["response_message_loading"] is True
    assert fake.interaction_callbacks(inter.id) == [callback]
    assert callback.time - inter.dispatched_at < 3
    edit = await fake.wait_for_request(lambda r: r.method == "PATCH" and r.path.endswith("/messages/@original"))
    assert edit.json["content"] == "pong: hi" and edit.status == 200
    upload = await fake.wait_for_request(lambda r: r.method == "POST" and r.path == f"/channels/{channel_id}/messages")
    assert upload.status == 200 and len(upload.files) == 1
    sent = upload.files[0]
    assert sent.filename == "hello.txt" and sent.size == len(FILE_BYTES)
    assert sent.sha256 == hashlib.sha256(FILE_BYTES).hexdigest() == hashlib.sha256(sent.read()).hexdigest()

    messages = fake.messages(channel_id)
    assert [m["content"] for m in messages] == ["pong: hi", "here is a file"]
    original, posted = messages
    assert original["type"] == 20 and original["flags"] == 0 and original["webhook_id"] == str(fake.application_id)
    assert original["interaction_metadata"]["id"] == str(inter.id)
    attachment = posted["attachments"][0]
    assert attachment["filename"] == "hello.txt" and attachment["content_type"].startswith("text/plain")
    async with aiohttp.ClientSession() as http, http.get(attachment["url"]) as response:
        assert await response.read() == FILE_BYTES
    await asyncio.sleep(0.05)
    assert client.posted and client.posted[0].attachments[0].size == len(FILE_BYTES)
    assert client.errors == []
    assert fake.check_against_openapi() == []


async def test_followups_replies_and_user_messages(fake, guild, start_bot, tmp_path):
    client = await start_bot()
    seen: asyncio.Queue[discord.Message] = asyncio.Queue()

    async def on_message(message: discord.Message) -> None:
        if message.author.id != fake.bot_user_id:
            await seen.put(message)

    client.event(on_message)
    channel_id = videos(guild)
    await fake.send_slash_command(guild.id, channel_id, alice(fake), name="hold")
    interaction = await asyncio.wait_for(client.held.get(), 5)
    first = await interaction.followup.send("done thinking", wait=True)
    second = await interaction.followup.send("and one more", file=discord.File(io.BytesIO(b"x"), "x.bin"), wait=True)
    original = await interaction.original_response()
    assert original.id == first.id and original.content == "done thinking"  # the first followup completes it
    assert second.id != first.id and second.attachments[0].filename == "x.bin"
    assert [m["flags"] for m in fake.messages(channel_id)] == [64, 0]  # thinking was ephemeral, the next is not
    await second.edit(content="edited")
    await interaction.delete_original_response()
    assert [m["content"] for m in fake.messages(channel_id)] == ["edited"]

    channel = client.get_channel(channel_id)
    assert isinstance(channel, discord.TextChannel)
    async with channel.typing():
        anchor = await channel.send("anchor")
    reply = await channel.send("a reply", reference=anchor)
    await reply.add_reaction("👍")
    assert fake.message(reply.id)["type"] == 19 and fake.message(reply.id)["reactions"][0]["me"] is True
    assert [m.id async for m in channel.history(limit=2)] == [reply.id, anchor.id]

    image = tmp_path / "cat.png"
    image.write_bytes(b"\x89PNG fake")
    await fake.send_message_create(guild.id, channel_id, alice(fake), "no intent, no content")
    await fake.send_message_create(
        guild.id, channel_id, alice(fake), "make it blue", reply_to=reply.id, attachments=[image]
    )
    quiet, loud = [await asyncio.wait_for(seen.get(), 5) for _ in range(2)]
    assert quiet.content == "" and not quiet.attachments  # discord.py asked for no message_content intent
    assert loud.content == "make it blue" and loud.reference is not None and loud.reference.message_id == reply.id
    assert loud.attachments[0].filename == "cat.png" and await loud.attachments[0].read() == image.read_bytes()
    assert fake.check_against_openapi() == []


async def test_second_callback_is_rejected(fake, guild, start_bot):
    await start_bot()
    inter = await fake.send_slash_command(guild.id, videos(guild), alice(fake), name="hold")
    await fake.wait_for_request(lambda r: r.route is not None and "callback" in r.route)
    async with aiohttp.ClientSession() as http:
        url = f"{fake.api_base}/interactions/{inter.id}/{inter.token}/callback"
        async with http.post(url, json={"type": 4, "data": {"content": "again"}}) as response:
            assert response.status == 400
            assert (await response.json())["code"] == 40060
    assert len(fake.interaction_callbacks(inter.id)) == 2


async def test_nonce_is_deduplicated(fake, guild, start_bot):
    client = await start_bot()
    channel = client.get_channel(videos(guild))
    assert isinstance(channel, discord.TextChannel)
    first = await channel.send("once", nonce=424242)
    second = await channel.send("once", nonce=424242)
    assert first.id == second.id
    assert [m["content"] for m in fake.messages(channel.id)] == ["once"]
    posts = [r for r in fake.requests if r.method == "POST" and r.path.endswith("/messages")]
    assert [p.json["enforce_nonce"] for p in posts] == [True, True]
    assert fake.check_against_openapi() == []


async def test_429_is_retried_by_discord_py(fake, guild, start_bot):
    client = await start_bot()
    channel = client.get_channel(videos(guild))
    assert isinstance(channel, discord.TextChannel)
    fake.rate_limit("POST", rf"/channels/{channel.id}/messages", count=1, retry_after=0.3)
    started = time.monotonic()
    message = await channel.send("after a 429")
    assert time.monotonic() - started >= 0.3
    attempts = [r for r in fake.requests if r.method == "POST" and r.path == f"/channels/{channel.id}/messages"]
    assert [a.status for a in attempts] == [429, 200]
    assert attempts[0].response_json["retry_after"] == 0.3
    assert fake.count_429 == 1 and message.content == "after a 429"
    assert fake.check_against_openapi() == []


async def test_route_limit_headers_are_honoured(fake, guild, start_bot):
    client = await start_bot()
    channel = client.get_channel(videos(guild))
    assert isinstance(channel, discord.TextChannel)
    fake.set_route_limit("POST", r"/channels/\d+/messages", limit=2, per_seconds=0.5)
    for n in range(4):
        await channel.send(f"burst {n}")
    assert len(fake.messages(channel.id)) == 4
    assert fake.count_429 == 0  # discord.py waited for the bucket to reset instead


async def test_missing_permission_surfaces_as_forbidden(fake, guild, start_bot):
    closed = fake.add_channel(guild.id, name="read-only", bot_can_send=False)
    client = await start_bot()
    channel = client.get_channel(closed.id)
    assert isinstance(channel, discord.TextChannel)
    assert not channel.permissions_for(channel.guild.me).send_messages
    with pytest.raises(discord.Forbidden) as caught:
        await channel.send("nope")
    assert caught.value.code == 50013
    await fake.send_slash_command(guild.id, closed.id, alice(fake), name="hold")
    interaction = await asyncio.wait_for(client.held.get(), 5)
    assert not interaction.app_permissions.send_messages and not interaction.app_permissions.attach_files
    await interaction.edit_original_response(content="answered through the interaction")
    assert fake.messages(closed.id)[0]["content"] == "answered through the interaction"
    assert fake.check_against_openapi() == []


async def test_expired_token_gives_401(fake, guild, start_bot):
    fake.token_lifetime = 0.3
    client = await start_bot()
    inter = await fake.send_slash_command(guild.id, videos(guild), alice(fake), name="hold")
    interaction = await asyncio.wait_for(client.held.get(), 5)
    assert fake.messages(videos(guild))[0]["flags"] == 64 | 128  # ephemeral "thinking"
    await asyncio.sleep(0.4)
    with pytest.raises(discord.HTTPException) as caught:
        await interaction.edit_original_response(content="too late")
    assert caught.value.status == 401 and caught.value.code == 50027
    assert inter.token in fake.requests[-1].path
    assert fake.check_against_openapi() == []


async def test_upload_over_the_guild_limit_is_413(fake, guild, start_bot, tmp_path):
    client = await start_bot()
    channel = client.get_channel(videos(guild))
    assert isinstance(channel, discord.TextChannel)
    big = tmp_path / "big.mp4"
    big.write_bytes(b"\0" * (10 * 1024 * 1024 + 1))
    with pytest.raises(discord.HTTPException) as caught:
        await channel.send(file=discord.File(big))
    assert caught.value.status == 413 and caught.value.code == 40005
    upload = fake.requests[-1]
    assert upload.files[0].size == big.stat().st_size and upload.files[0].path.is_file()


async def test_server_disconnect_resumes_and_keeps_working(fake, guild, start_bot):
    client = await start_bot()
    resumed = asyncio.Event()
    client.event(_set_on("on_resumed", resumed))
    await fake.disconnect_bot()
    await asyncio.wait_for(resumed.wait(), 10)
    assert any(p.get("op") == 6 for _, d, p in fake.gateway_events if d == "in")
    await fake.wait_ready()
    await fake.send_slash_command(guild.id, videos(guild), alice(fake), name="hold")
    await asyncio.wait_for(client.held.get(), 5)


async def test_new_identify_after_dead_socket_gets_the_dispatches(fake, guild, start_bot):
    # A "bot" that identifies and then dies without a close handshake (like kill -9).
    session = aiohttp.ClientSession()
    ws = await session.ws_connect(fake.gateway_url + "?v=10&encoding=json")
    await ws.receive_json()  # HELLO
    await ws.send_json({"op": 2, "d": {"token": fake.bot_token, "intents": 513, "properties": {}}})
    await fake.wait_ready()
    transport = ws._response.connection.transport  # type: ignore[union-attr]
    transport.abort()
    await session.close()

    since = time.monotonic()
    client = await start_bot()
    await fake.wait_ready(since=since)
    await fake.send_slash_command(guild.id, videos(guild), alice(fake), name="hold")
    interaction = await asyncio.wait_for(client.held.get(), 5)
    assert interaction.user.name == "alice"


async def test_unknown_routes_auth_and_openapi_problems(fake, guild):
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{fake.api_base}/users/@me") as response:
            assert response.status == 401
        auth = {"Authorization": f"Bot {fake.bot_token}"}
        async with http.get(f"{fake.api_base}/no/such/route", headers=auth) as response:
            assert response.status == 404 and "message" in await response.json()
        url = f"{fake.api_base}/channels/{videos(guild)}/messages"
        async with http.post(url, json={"content": 5}, headers=auth) as response:
            assert response.status == 400 and (await response.json())["code"] == 50035
    problems = fake.check_against_openapi()
    assert any("/no/such/route" in p for p in problems)
    assert any("request body" in p and "content" in p for p in problems)
    assert [r.status for r in fake.requests][:2] == [401, 404]


def _set_on(name: str, event: asyncio.Event) -> Callable[[], Awaitable[None]]:
    async def handler() -> None:
        event.set()

    handler.__name__ = name
    return handler
