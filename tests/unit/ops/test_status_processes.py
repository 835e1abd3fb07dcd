"""/status's processes: which shards a process serves, the short id, the list cut within Discord's
limit, and the live processes read from the database (both engines), this one first."""

from __future__ import annotations

from bot.domain import sora
from bot.ops.status_report import Processes, ProcessStatus, StatusService, ago, processes_text, shards_label
from bot.storage.jobs import JobStore


def test_shards_label():
    assert shards_label(None, None) == "all"
    assert shards_label((0, 1), 4) == "0-1 of 4"
    assert shards_label((0, 2), 4) == "0,2 of 4"
    assert shards_label((0, 1, 4), 8) == "0-1,4 of 8"
    assert shards_label((3,), 4) == "3 of 4"
    assert shards_label(None, 2) == "0-1 of 2"  # SHARD_IDS unset: every shard


def test_the_short_id_is_host_and_pid():
    assert ProcessStatus("bot-1:42:beefcafe", "all", 0, 1.0).short_id == "bot-1:42"
    long = ProcessStatus("a-very-long-hostname.of.some.cluster:7:00", "all", 0, 1.0).short_id
    assert long == "a-very-long-hostnam…:7" and len(long.split(":")[0]) == 20


def test_a_long_list_is_cut_within_the_limit_saying_how_many_more():
    processes = [ProcessStatus(f"host-{n:03d}.example.org:{n}:ff", "0 of 1", n, 2.0, this=n == 0) for n in range(100)]
    text = processes_text(processes)
    lines = text.split("\n")
    assert len(text) <= 1024
    assert lines[0].startswith("`host-000.example.org:0` (this one) · shards 0 of 1 · 0 jobs · 2 s ago")
    assert lines[-1] == f"… and {100 - (len(lines) - 1)} more"
    assert processes_text(processes[:3]).count("\n") == 2  # short: every one, nothing cut
    assert len(processes_text(processes, limit=200)) <= 200
    assert ago(None) == "no heartbeat yet" and ago(75) == "1 min 15 s ago"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_live_processes_this_one_first_the_stopped_and_silent_left_out(database):  # both engines
    clock = Clock()
    store = JobStore(database, clock=clock)
    spec = sora.text_to_video("a cat", duration=4).spec
    for owner in ("b:2:x", "b:2:x", "a:1:x"):
        await store.create_job(
            spec, guild_id=1, channel_id=2, user_id=3, endpoint="e", arguments={}, cost_usd=0.4, owner=owner
        )
    await store.renew("z:9:x", 10.0, "0 of 2")  # this process
    await store.renew("b:2:x", 10.0, "1 of 2")
    await store.renew("a:1:x", 10.0, "1 of 2")
    await store.release("a:1:x")  # stopped cleanly
    await store.renew("old:3:x", 10.0, "1 of 2")
    clock.now += 15
    await store.renew("b:2:x", 10.0, "1 of 2")  # "old" beat 15 s ago: more than two leases (2 x 5 s)
    clock.now += 3
    service = StatusService(
        None,  # type: ignore[arg-type]  # only the processes are asked for
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        backend="fal",
        active_jobs=lambda: 0,
        gateway_latency=lambda: None,
        started_at=0.0,
        processes=Processes(store, "z:9:x", "0 of 2", lease_seconds=5.0),
        clock=clock,
    )
    assert await service.live_processes() == [
        ProcessStatus("z:9:x", "0 of 2", 0, None, this=True),  # no beat within two leases: listed anyway
        ProcessStatus("b:2:x", "1 of 2", 2, 3.0),
    ]
    await store.renew("z:9:x", 5.0, "0 of 2")
    assert [(p.id, p.jobs, p.heartbeat_age, p.this) for p in await service.live_processes()] == [
        ("z:9:x", 0, 0.0, True),
        ("b:2:x", 2, 3.0, False),
    ]


async def test_without_a_database_no_processes_are_listed():
    service = StatusService(
        None, None, None, backend="fal", active_jobs=lambda: 0, gateway_latency=lambda: None, started_at=0.0
    )  # type: ignore[arg-type]
    assert await service.live_processes() == []
