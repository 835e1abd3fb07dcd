"""A finished video is kept on disk only while its job is unfinished: the folders of ended jobs are
removed at the next start, even when the bot died before cleaning up."""

from __future__ import annotations

from bot.domain import sora
from bot.domain.models import JobState
from bot.jobs.config import RunnerConfig
from bot.jobs.runner import JobRunner, Origin
from bot.storage.jobs import JobStore
from bot.storage.videos import VideoStore


async def test_the_next_start_removes_the_folders_of_ended_jobs_only(tmp_path, database):  # both engines
    store = JobStore(database)
    work = tmp_path / "work"
    config = RunnerConfig(work_dir=work)
    runner = JobRunner(store, VideoStore(database), None, None, None, sora.PriceTable(), config)  # type: ignore[arg-type]  # no job runs
    origin = Origin(guild_id=1, channel_id=2, user_id=3)
    ended = await runner.accept(sora.text_to_video("ended"), origin)
    waiting = await runner.accept(sora.text_to_video("waiting"), origin)
    await store.update_job(ended.id, JobState.FAILED, error="x")
    await store.update_job(waiting.id, JobState.UPLOADING)
    for job_id in (ended.id, waiting.id, 999):
        (work / f"job{job_id}").mkdir(parents=True)
        (work / f"job{job_id}" / "ready.mp4").write_bytes(b"video")
    (work / "jobnotes").mkdir()

    runner.start = lambda job, hold_edits=0.0: None  # type: ignore[method-assign]  # no task: no fal, no Discord
    await runner.resume_all()
    await runner.stop()  # a resume after a stop does nothing: the database may be closing

    assert sorted(p.name for p in work.iterdir()) == sorted(["jobnotes", f"job{waiting.id}"])
