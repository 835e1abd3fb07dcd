import pytest

from bot.domain.models import JobState, Video, VideoSpec
from bot.storage.jobs import JobAlreadyFinished, JobStore
from bot.storage.videos import VideoStore
from tests.pg import integrity_errors

SPEC = VideoSpec(kind="text_to_video", prompt="p", model="sora-2", duration=4, aspect_ratio="16:9", resolution="720p")


@pytest.fixture
def store(database):
    return JobStore(database)


async def _job(store: JobStore, spec: VideoSpec = SPEC, **overrides):
    values = dict(
        guild_id=1,
        channel_id=2,
        user_id=3,
        endpoint="fal-ai/sora-2/text-to-video",
        arguments={"prompt": "p", "delete_video": False},
        cost_usd=0.4,
    )
    values.update(overrides)
    return await store.create_job(spec, **values)


def _video(job, message_id: int = 99) -> Video:
    return Video.of(job, f"video_{job.id}", message_id, 1.0)


async def test_job_lifecycle_is_persisted(store, database):
    job = await _job(store)
    assert job.state == JobState.PENDING and job.arguments["delete_video"] is False and job.spec == SPEC
    job = await store.update_job(job.id, JobState.QUEUED, request_id="req-1")
    assert job.request_id == "req-1"
    assert [j.id for j in await store.unfinished_jobs()] == [job.id]
    assert (await store.job_with_request("req-1")).id == job.id
    done = await store.mark_delivered(job, _video(job), final_text="done")
    assert done.state == JobState.DELIVERED and done.video_message_id == 99 and done.final_text == "done"
    assert await store.unfinished_jobs() == []
    assert [j.id for j in await store.unshown_finals()] == [job.id]
    assert await store.get_job(job.id) == done
    videos = VideoStore(database)
    assert (await videos.get_video(f"video_{job.id}")).message_id == 99
    assert (await videos.get_video_by_message(99)).spec == SPEC


async def test_a_remix_keeps_its_parent_in_its_spec(store):
    remix = SPEC.model_copy(update={"kind": "remix", "parent_video_id": "video_src"})
    job = await _job(store, remix, arguments={"video_id": "video_src", "prompt": "p"})
    assert (await store.get_job(job.id)).spec == remix and job.spec == remix


async def test_a_finished_job_s_state_never_changes(store):
    job = await _job(store)
    await store.mark_delivered(job, _video(job))
    late = await store.update_job(job.id, JobState.FAILED, error="late")
    assert late.state == JobState.DELIVERED and late.error is None
    shown = await store.update_job(job.id, final_shown_at=5.0)  # its other facts may change
    assert shown.state == JobState.DELIVERED and shown.final_shown_at == 5.0
    with pytest.raises(JobAlreadyFinished):
        await store.mark_delivered(job, _video(job, message_id=100))


async def test_a_request_id_belongs_to_one_job(store):
    first = await _job(store)
    second = await _job(store)
    await store.update_job(first.id, request_id="same")
    with pytest.raises(integrity_errors()):
        await store.update_job(second.id, request_id="same")


async def test_update_refuses_unknown_columns(store):
    job = await _job(store)
    with pytest.raises(ValueError):
        await store.update_job(job.id, state_sneaky="x")
