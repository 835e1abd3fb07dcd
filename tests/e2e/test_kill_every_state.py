"""kill -9 of the real bot process at every state a job passes through, then a restart: each time the job
ends delivered once (or failed, explained and refunded), fal saw one submission, the ledger is exact and
the progress message shows the final state.

Each moment is reached by holding the fakes' answer (fal's submit or file, Discord's post or edit) and
reading the job's row, so nothing in the bot knows it is being tested. "pending" cannot be held from
outside (nothing leaves the process between the two writes), so it is made the way a crash makes it:
killed mid-submit before fal had the request, and the row rewound to the write before."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.e2e.conftest import bot_process, kill9
from tests.e2e.helpers import db_execute, eventually, job_messages, options
from tests.e2e.helpers import db_row as row
from tests.e2e.helpers import ledger_of as ledger
from tests.fakes.fal import JobScript

PRICE = 400_000  # a 4 s Sora 2 video, in millionths of a dollar


def state(world) -> str | None:
    return (row(world) or {}).get("state")


@dataclass
class Moment:
    """How to stop the job at one state: what to hold, and when the bot is there."""

    name: str
    script: dict[str, Any] = field(default_factory=dict)
    ends: str = "delivered"
    downloads: int = 1  # fal file downloads over both runs: a kept file is never fetched again


MOMENTS = [
    Moment("pending", {"submit_answer": "hang_before"}),
    Moment("submitting, fal never got it", {"submit_answer": "hang_before"}, ends="failed", downloads=0),
    Moment("submitting, fal has it", {"submit_answer": "hang"}),
    Moment("queued", {"queue_seconds": 8.0}),
    Moment("running", {"queue_seconds": 0.2, "run_seconds": 8.0}),
    Moment("completed", {}, downloads=2),
    Moment("uploading"),
    Moment("posted, not yet recorded"),
    Moment("delivered, done not yet shown"),
]


async def reach(world, moment: Moment) -> None:
    """Hold the fakes so the job stops at `moment`, and wait until the bot is there."""
    channel_posts = f"/channels/{world.channel_id}/messages"
    name = moment.name
    if name.startswith("submitting") or name == "pending":
        await eventually(lambda: state(world) == "submitting" and world.fal.submissions, timeout=30)
    elif name in ("queued", "running"):
        await eventually(lambda: state(world) == name, timeout=30)
    elif name == "completed":
        world.fal.files_open.clear()
        await eventually(lambda: state(world) == "completed" and world.fal.downloads_started >= 1, timeout=30)
    elif name == "uploading":
        held = world.discord.fault("POST", channel_posts, "hold")
        await eventually(lambda: state(world) == "uploading" and held.hits >= 1, timeout=30)
    elif name == "posted, not yet recorded":
        held = world.discord.fault("POST", channel_posts, "hold_after")
        await eventually(lambda: held.hits >= 1 and job_messages(world), timeout=30)
        assert state(world) == "uploading"
    elif name == "delivered, done not yet shown":
        held = world.discord.fault("PATCH", r"/webhooks/\d+/[^/]+/messages/@original", "hold", contains="Done")
        await eventually(lambda: state(world) == "delivered" and held.hits >= 1, timeout=30)
        assert (row(world) or {})["final_shown_at"] is None


@pytest.mark.parametrize("moment", MOMENTS, ids=[m.name for m in MOMENTS])
async def test_kill_9_then_restart(world, moment: Moment):
    world.fal.default_script = JobScript(**{"queue_seconds": 0.3, "run_seconds": 0.5, **moment.script})
    env = {"FAL_JOB_TIMEOUT_SECONDS": "20"}  # how long a lost submit is looked for at fal
    first = bot_process(world, **env)
    try:
        await world.discord.wait_ready(timeout=20)
        await world.discord.send_slash_command(
            world.guild_id, world.channel_id, world.user_id, name="generate", options=options("survive this")
        )
        await reach(world, moment)
        kill9(first)
    finally:
        if first.poll() is None:
            kill9(first)
    if moment.name == "pending":
        db_execute(world, "UPDATE jobs SET state = 'pending', submitted_at = NULL WHERE id = 1")
    # The next process meets a healthy world.
    world.discord.faults.clear()
    world.fal.files_open.set()
    world.fal.default_script = JobScript(queue_seconds=0.3, run_seconds=0.5)

    second = bot_process(world, **env)
    try:
        await eventually(lambda: state(world) in ("delivered", "failed"), timeout=60)
        await eventually(lambda: (row(world) or {}).get("final_shown_at") is not None, timeout=20)
    finally:
        second.terminate()
        second.wait(10)

    job = row(world)
    assert job is not None and job["state"] == moment.ends
    accepted = [s for s in world.fal.submissions if s.accepted]
    progress = world.discord.message(job["progress_message_id"])["content"]
    if moment.ends == "delivered":
        assert len(accepted) == 1 and job["request_id"] == accepted[0].request_id
        assert [int(m["id"]) for m in job_messages(world)] == [job["video_message_id"]]
        assert ledger(world) == [("reserve", PRICE), ("commit", PRICE)]
        assert "Done" in progress
    else:
        assert accepted == [] and job_messages(world) == []
        assert ledger(world) == [("reserve", PRICE), ("refund", -PRICE)]
        assert "fal never confirmed" in progress
    assert world.fal.downloads_started == moment.downloads
