import asyncio

from bot.domain.models import Job, JobState, VideoSpec
from bot.domain.waiting_line import Place
from bot.jobs import progress
from bot.jobs.progress import ProgressReporter


def _job(**overrides) -> Job:
    values = dict(
        id=1,
        spec=VideoSpec(
            kind="text_to_video", prompt="p", model="sora-2-pro", duration=8, aspect_ratio="9:16", resolution="1080p"
        ),
        state=JobState.QUEUED,
        guild_id=1,
        channel_id=2,
        user_id=3,
        endpoint="e",
        arguments={},
        cost_usd=4.0,
        created_at=0.0,
        updated_at=0.0,
    )
    values.update(overrides)
    return Job(**values)


def test_texts_name_the_state_position_and_elapsed_time():
    job = _job()
    assert progress.headline(job) == "🎥 Sora 2 Pro · 8 s · 9:16 · 1080p · $4.00"
    assert "position 3 in fal's queue · 1:05" in progress.queued(job, 2, 65)
    text = progress.generating(job, 125, "Generating video... 40%")
    assert "2:05 elapsed" in text and "Generating video... 40%" in text
    assert "10 MiB" in progress.compressing(job, 10 * 2**20)
    assert progress.failed(job, "No.").endswith("❌ No.")


def test_a_waiting_job_says_whose_limit_holds_it_and_how_many_go_first():
    job = _job(state=JobState.WAITING)
    waiting = progress.waiting
    assert waiting(job, Place(2, 5, True, 0)).endswith("⏳ Waiting: 2 of your videos are being made; yours is next")
    assert waiting(job, Place(1, 5, True, 2)).endswith(
        "⏳ Waiting: 1 of your videos is being made; 2 more of yours before it"
    )
    assert waiting(job, Place(0, 10, False, 3)).endswith(
        "⏳ Waiting: this server has 10 videos in the making; 3 ahead of yours"
    )
    assert waiting(job, Place(0, 10, False, 0)).endswith("this server has 10 videos in the making; yours is next")
    assert waiting(job, Place(0, 10, False, 0)).startswith(progress.headline(job))


async def test_edits_are_throttled_and_overtaken_texts_are_dropped():
    sent: list[tuple[float, str]] = []
    loop = asyncio.get_running_loop()

    async def send(text: str) -> None:
        sent.append((loop.time(), text))

    reporter = ProgressReporter(send, lambda: 0.3, clock=loop.time)
    reporter.update("a")
    await asyncio.sleep(0.05)
    for text in ("b", "c", "d"):  # within the interval: only the newest may be sent
        reporter.update(text)
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.5)
    assert [t for _, t in sent] == ["a", "d"]
    assert sent[1][0] - sent[0][0] >= 0.29
    reporter.update("d")  # unchanged text costs no edit
    await asyncio.sleep(0.4)
    assert len(sent) == 2
    await reporter.final("done")
    assert sent[-1][1] == "done" and reporter.edits == 3


async def test_a_failed_edit_does_not_break_the_reporter():
    calls = []

    async def send(text: str) -> None:
        calls.append(text)
        if text == "boom":
            raise RuntimeError("discord said no")

    reporter = ProgressReporter(send, lambda: 0.0)
    reporter.update("boom")
    await asyncio.sleep(0.01)
    await reporter.final("ok")
    assert calls == ["boom", "ok"] and reporter.edits == 1


def test_edit_cadence_stretches_with_load():
    assert progress.edit_interval(3.0, 1) == 3.0
    assert progress.edit_interval(3.0, 75) == 3.0
    assert progress.edit_interval(3.0, 1000) == 40.0  # 1,000 jobs x 1/40 s = 25 edits a second


def test_each_live_process_takes_its_share_of_the_edit_budget():
    """The bot token's budget is shared: with N live processes each stretches its edits N times, so
    together they still send at most PROGRESS_EDITS_PER_SECOND."""
    assert progress.edit_interval(3.0, 1000, processes=1) == 40.0
    assert progress.edit_interval(3.0, 1000, processes=2) == 80.0  # 12.5 edits a second each
    assert progress.edit_interval(3.0, 500, processes=4) == 80.0
    assert progress.edit_interval(3.0, 30, processes=2) == 3.0  # light load: the minimum still rules
    assert progress.edit_interval(3.0, 1000, processes=0) == 40.0  # not known yet: counted as one
    for processes in (1, 2, 3, 7):
        jobs = 600
        total = processes * jobs / progress.edit_interval(0.0, jobs, processes)
        assert total == progress.PROGRESS_EDITS_PER_SECOND


async def test_a_final_text_waits_out_the_minimum_interval_and_is_sent():
    loop = asyncio.get_running_loop()
    sent: list[tuple[float, str]] = []

    async def send(text: str) -> None:
        sent.append((loop.time(), text))

    reporter = ProgressReporter(send, lambda: 60.0, clock=loop.time, final_interval=0.2)
    reporter.update("working")
    await asyncio.sleep(0.01)
    reporter.update("overtaken")  # would wait 60 s (load); the final text replaces it
    await reporter.final("done")
    assert [t for _, t in sent] == ["working", "done"]
    assert 0.19 <= sent[1][0] - sent[0][0] < 1.0
