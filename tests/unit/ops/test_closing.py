"""Closing up: the last word on each unfinished job names only this process's jobs, and says who
carries them on (another live process, or the next start)."""

from __future__ import annotations

import logging

from bot.domain import sora
from bot.domain.models import Job, JobState
from bot.ops.operations import Operations


def job(job_id: int, state: JobState) -> Job:
    spec = sora.text_to_video("a cat").spec
    return Job(
        id=job_id, spec=spec, state=state, guild_id=1, channel_id=2, user_id=3, endpoint="e", arguments={},
        cost_usd=0.4, created_at=0.0, updated_at=0.0,
    )  # fmt: skip


def operations() -> Operations:
    return Operations(None, None, None, None, None)  # type: ignore[arg-type]  # closing touches none of them


async def test_close_names_each_kept_job_and_who_takes_it_over(caplog):
    caplog.set_level(logging.INFO, logger="bot.ops.operations")
    await operations().close([job(4, JobState.RUNNING), job(7, JobState.QUEUED)], shared=True)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "job=4 guild=1 user=3 state=running kept: taken over by another live process, or at the next start",
        "job=7 guild=1 user=3 state=queued kept: taken over by another live process, or at the next start",
    ]


async def test_close_on_a_database_of_one_process_says_the_next_start(caplog):
    caplog.set_level(logging.INFO, logger="bot.ops.operations")
    await operations().close([job(4, JobState.RUNNING)], shared=False)
    await operations().close([])  # nothing kept: nothing said
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["job=4 guild=1 user=3 state=running kept: resumed at the next start"]
