"""The Discord fake's shards, driven by the real discord.py clients (AutoShardedClient, Client(shard_id=))."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import discord
import pytest
import yarl

from tests.fakes.discord import FakeDiscord, FakeGuild

OPENAPI = Path(__file__).resolve().parents[2] / "fakes" / "discord" / "discord-openapi.json"


def _intents() -> discord.Intents:
    intents = discord.Intents.default()
    intents.members = False
    intents.presences = False
    return intents


class Recorder:
    """What a client was told: shard readies, messages and interactions, as (shard of the guild, id)."""

    def __init__(self, client: discord.Client) -> None:
        self.shards_ready: set[int] = set()
        self.messages: list[discord.Message] = []
        self.interactions: list[discord.Interaction] = []
        self.changed = asyncio.Event()

        async def on_shard_ready(shard_id: int) -> None:
            self.shards_ready.add(shard_id)
            self._bump()

        async def on_message(message: discord.Message) -> None:
            self.messages.append(message)
            self._bump()

        async def on_interaction(interaction: discord.Interaction) -> None:
            self.interactions.append(interaction)
            self._bump()

        for handler in (on_shard_ready, on_message, on_interaction):
            client.event(handler)

    def _bump(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()

    async def until(self, probe: Callable[[], bool], timeout: float = 10.0) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while not probe():
                await self.changed.wait()


class QuickShards(discord.AutoShardedClient):
    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """No 5 s pause between the shards' IDENTIFYs (max_concurrency is 1, but the fake does not care)."""


class QuickClient(discord.Client):
    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """No 5 s pause before a re-IDENTIFY."""


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
async def run() -> AsyncIterator[Callable[[discord.Client, FakeDiscord], asyncio.Task[None]]]:
    """Start clients (client.start in a task); every one is closed at the end of the test."""
    started: list[tuple[discord.Client, asyncio.Task[None]]] = []

    def start(client: discord.Client, fake: FakeDiscord) -> asyncio.Task[None]:
        task = asyncio.create_task(client.start(fake.bot_token))
        started.append((client, task))
        return task

    yield start
    for client, task in started:
        await client.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 5)


def _world(fake: FakeDiscord, count: int) -> tuple[FakeGuild, FakeGuild, int]:
    """A guild on shard 0 and one on shard 1 (of `count`), and a member, alice."""
    first = fake.add_guild(guild_id=fake.guild_id_for_shard(0, count), name="zero")
    second = fake.add_guild(guild_id=fake.guild_id_for_shard(1, count), name="one")
    alice = fake.add_user(username="alice")
    return first, second, alice.id


def _ids(payloads: list[dict[str, Any]]) -> set[int]:
    return {int(p["id"]) for p in payloads}


def test_guild_id_for_shard_lands_on_that_shard() -> None:
    fake = FakeDiscord()
    made = []
    for count in (1, 2, 3, 16):
        for shard in range(count):
            guild_id = fake.guild_id_for_shard(shard, count)
            assert (guild_id >> 22) % count == shard == fake.shard_of(guild_id, count)
            made.append(guild_id)
    assert made == sorted(made) and len(set(made)) == len(made)  # still fresh, increasing snowflakes
    assert fake.ids.next() > made[-1]
    with pytest.raises(ValueError):
        fake.guild_id_for_shard(2, 2)


async def test_auto_sharded_client_gets_each_guild_on_its_own_shard(fake, run):
    zero, one, alice = _world(fake, 2)
    client = QuickShards(intents=_intents(), shard_count=2, guild_ready_timeout=0.05)
    seen = Recorder(client)
    run(client, fake)
    await seen.until(lambda: seen.shards_ready == {0, 1})
    await asyncio.wait_for(client.wait_until_ready(), 10)
    assert len(client.shards) == 2
    shard0, shard1 = fake.shard_session(0, 2), fake.shard_session(1, 2)
    assert shard0 is not None and shard1 is not None and shard0.connected and shard1.connected
    assert shard0 is not shard1

    # READY of each shard lists only its guild and names the shard; GUILD_CREATE follows on that shard only.
    (ready0,), (ready1,) = shard0.events("READY"), shard1.events("READY")
    assert ready0["shard"] == [0, 2] and _ids(ready0["guilds"]) == {zero.id}
    assert ready1["shard"] == [1, 2] and _ids(ready1["guilds"]) == {one.id}
    assert _ids(shard0.events("GUILD_CREATE")) == {zero.id}
    assert _ids(shard1.events("GUILD_CREATE")) == {one.id}
    cached_one = client.get_guild(one.id)
    cached_zero = client.get_guild(zero.id)
    assert cached_one is not None and cached_one.shard_id == 1 and cached_one.name == "one"
    assert cached_zero is not None and cached_zero.shard_id == 0

    # A member types and clicks in the guild of shard 1: both arrive on shard 1's socket, never shard 0's.
    message = await fake.send_message_create(one.id, one.channel("general").id, alice, "hello")
    inter = await fake.send_slash_command(one.id, one.channel("general").id, alice, name="anything")
    await seen.until(lambda: bool(seen.messages) and bool(seen.interactions))
    assert seen.messages[0].id == int(message["id"]) and seen.messages[0].guild is not None
    assert seen.messages[0].guild.shard_id == 1
    assert seen.interactions[0].id == inter.id and seen.interactions[0].guild is not None
    assert seen.interactions[0].guild.shard_id == 1
    assert _ids(shard1.events("MESSAGE_CREATE")) == {int(message["id"])}
    assert _ids(shard1.events("INTERACTION_CREATE")) == {inter.id}
    assert shard0.events("MESSAGE_CREATE") == [] and shard0.events("INTERACTION_CREATE") == []

    # And the guild of shard 0 stays on shard 0.
    inter0 = await fake.send_slash_command(zero.id, zero.channel("general").id, alice, name="anything")
    await seen.until(lambda: len(seen.interactions) == 2)
    assert seen.interactions[1].id == inter0.id and seen.interactions[1].guild is not None
    assert seen.interactions[1].guild.shard_id == 0
    assert _ids(shard0.events("INTERACTION_CREATE")) == {inter0.id}
    assert _ids(shard1.events("INTERACTION_CREATE")) == {inter.id}


async def test_auto_sharded_client_takes_the_shard_count_from_gateway_bot(fake, run):
    fake.shards = 3
    guilds = [fake.add_guild(guild_id=fake.guild_id_for_shard(shard, 3)) for shard in range(3)]
    client = QuickShards(intents=_intents(), guild_ready_timeout=0.05)
    seen = Recorder(client)
    run(client, fake)
    await seen.until(lambda: seen.shards_ready == {0, 1, 2})
    assert client.shard_count == 3
    gateway_bot = next(r for r in fake.requests if r.path == "/gateway/bot")
    assert gateway_bot.status == 200
    for shard, guild in enumerate(guilds):
        session = fake.shard_session(shard, 3)
        assert session is not None and session.shard == (shard, 3)
        assert _ids(session.events("GUILD_CREATE")) == {guild.id}
        cached = client.get_guild(guild.id)
        assert cached is not None and cached.shard_id == shard


async def test_two_processes_each_get_only_their_guilds(fake, run):
    zero, one, alice = _world(fake, 2)
    clients = [QuickClient(intents=_intents(), shard_id=n, shard_count=2, guild_ready_timeout=0.05) for n in (0, 1)]
    seen = [Recorder(c) for c in clients]
    for shard, client in enumerate(clients):
        run(client, fake)
        await fake.wait_ready(shard=shard, shard_count=2)
        await asyncio.wait_for(client.wait_until_ready(), 10)
    assert [c.get_guild(zero.id) is not None for c in clients] == [True, False]
    assert [c.get_guild(one.id) is not None for c in clients] == [False, True]

    m0 = await fake.send_message_create(zero.id, zero.channel("general").id, alice, "to zero")
    m1 = await fake.send_message_create(one.id, one.channel("general").id, alice, "to one")
    i1 = await fake.send_slash_command(one.id, one.channel("general").id, alice, name="anything")
    i0 = await fake.send_slash_command(zero.id, zero.channel("general").id, alice, name="anything")
    for recorder in seen:
        await recorder.until(lambda r=recorder: len(r.messages) == 1 and len(r.interactions) == 1)
    await asyncio.sleep(0.2)  # anything misrouted would have arrived by now
    assert [m.id for m in seen[0].messages] == [int(m0["id"])]
    assert [m.id for m in seen[1].messages] == [int(m1["id"])]
    assert [i.id for i in seen[0].interactions] == [i0.id]
    assert [i.id for i in seen[1].interactions] == [i1.id]

    # A guild-less event (a DM, the bot's own user) goes to shard 0 only, as on Discord.
    await fake.dispatch("USER_UPDATE", fake.bot_user.to_json() | {"global_name": "Renamed"})
    shard0, shard1 = fake.shard_session(0), fake.shard_session(1)
    assert shard0 is not None and shard1 is not None
    assert len(shard0.events("USER_UPDATE")) == 1 and shard1.events("USER_UPDATE") == []

    # A guild created while both run reaches only its shard's process.
    late_id = fake.guild_id_for_shard(1, 2)
    available = clients[1].wait_for("guild_available", check=lambda g: g.id == late_id, timeout=10)
    late = fake.add_guild(guild_id=late_id, name="late")
    assert (await available).name == "late"
    await asyncio.sleep(0.2)
    assert clients[0].get_guild(late.id) is None
    assert late.id not in _ids(shard0.events("GUILD_CREATE"))


async def _raw_identify(fake: FakeDiscord, http: aiohttp.ClientSession, shard: list[Any] | None) -> Any:
    ws = await http.ws_connect(fake.gateway_url + "?v=10&encoding=json")
    hello = await ws.receive_json()
    assert hello["op"] == 10
    data: dict[str, Any] = {"token": fake.bot_token, "intents": 513, "properties": {}}
    if shard is not None:
        data["shard"] = shard
    await ws.send_json({"op": 2, "d": data})
    return ws


async def test_a_dead_shards_events_wait_for_its_resume_and_never_go_elsewhere(fake):
    zero, one, alice = _world(fake, 2)
    async with aiohttp.ClientSession() as http:
        ws0 = await _raw_identify(fake, http, [0, 2])
        await fake.wait_ready(shard=0, shard_count=2)
        ws1 = await _raw_identify(fake, http, [1, 2])
        shard1 = await fake.wait_ready(shard=1, shard_count=2)
        ready = await ws1.receive_json()
        assert ready["t"] == "READY" and ready["d"]["shard"] == [1, 2]
        assert _ids(ready["d"]["guilds"]) == {one.id}
        resume_from = ready["s"]

        # Shard 1 dies without a close handshake (kill -9); its guild's click waits for it.
        ws1._response.connection.transport.abort()
        await fake._wait_until(lambda: True if not shard1.connected else None, 5, "shard 1's socket to go")
        inter = await fake.send_slash_command(one.id, one.channel("general").id, alice, name="anything")
        assert _ids(shard1.events("INTERACTION_CREATE")) == {inter.id}
        shard0 = fake.shard_session(0, 2)
        assert shard0 is not None and shard0.events("INTERACTION_CREATE") == []
        frames0 = []
        with contextlib.suppress(TimeoutError):
            while True:
                frames0.append(await asyncio.wait_for(ws0.receive_json(), 0.3))
        assert "INTERACTION_CREATE" not in [f.get("t") for f in frames0]

        # Its RESUME replays what it missed (its GUILD_CREATE and the click), then RESUMED.
        ws1b = await http.ws_connect(fake.gateway_url + "?v=10&encoding=json")
        await ws1b.receive_json()  # HELLO
        await ws1b.send_json(
            {"op": 6, "d": {"token": fake.bot_token, "session_id": shard1.session_id, "seq": resume_from}}
        )
        replay = [await asyncio.wait_for(ws1b.receive_json(), 5) for _ in range(3)]
        assert [f["t"] for f in replay] == ["GUILD_CREATE", "INTERACTION_CREATE", "RESUMED"]
        assert int(replay[1]["d"]["id"]) == inter.id
        await ws0.close()
        await ws1b.close()


async def test_invalid_shard_is_closed_with_4010(fake, run):
    fake.add_guild()
    client = QuickClient(intents=_intents(), shard_id=2, shard_count=2)
    with pytest.raises(discord.ConnectionClosed) as caught:
        await asyncio.wait_for(run(client, fake), 10)
    assert caught.value.code == 4010
    assert fake.gateway.sessions == {}

    async with aiohttp.ClientSession() as http:
        for bad in ([1, 1], [-1, 2], [0, 0], [0], "0,1", [0.0, 1]):
            ws = await _raw_identify(fake, http, bad)  # type: ignore[arg-type]
            closing = await asyncio.wait_for(ws.receive(), 5)
            assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == 4010, bad
            await ws.close()
    assert fake.gateway.sessions == {}


async def test_unsharded_client_sees_every_guild_as_before(fake, run):
    zero, one, alice = _world(fake, 2)
    client = QuickClient(intents=_intents(), guild_ready_timeout=0.05)
    seen = Recorder(client)
    run(client, fake)
    session = await fake.wait_ready()
    await asyncio.wait_for(client.wait_until_ready(), 10)
    assert session.shard is None and (session.shard_id, session.shard_count) == (0, 1)
    (ready,) = session.events("READY")
    assert "shard" not in ready and _ids(ready["guilds"]) == {zero.id, one.id}
    assert client.get_guild(zero.id) is not None and client.get_guild(one.id) is not None

    m0 = await fake.send_message_create(zero.id, zero.channel("general").id, alice, "to zero")
    m1 = await fake.send_message_create(one.id, one.channel("general").id, alice, "to one")
    i1 = await fake.send_slash_command(one.id, one.channel("general").id, alice, name="anything")
    await seen.until(lambda: len(seen.messages) == 2 and len(seen.interactions) == 1)
    assert [m.id for m in seen.messages] == [int(m0["id"]), int(m1["id"])]
    assert seen.interactions[0].id == i1.id
    assert fake.shard_session(0) is session and fake.gateway.shard_count == 1
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{fake.api_base}/gateway/bot", headers={"Authorization": f"Bot {fake.bot_token}"}) as r:
            body = await r.json()
    assert body["shards"] == 1 and body["session_start_limit"]["max_concurrency"] == 1
