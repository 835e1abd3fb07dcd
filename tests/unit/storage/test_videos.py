from bot.domain.models import Video, VideoSpec
from bot.storage.jobs import JobStore
from bot.storage.videos import VideoStore


async def _delivered(jobs: JobStore, kind: str, prompt: str, message_id: int, at: float, user_id: int = 3) -> Video:
    spec = VideoSpec(kind=kind, prompt=prompt, model="sora-2", duration=8, aspect_ratio="9:16", resolution="720p")
    arguments = {"delete_video": False} if kind != "remix" else {}
    job = await jobs.create_job(
        spec, guild_id=1, channel_id=2, user_id=user_id, endpoint="e", arguments=arguments, cost_usd=0.8
    )
    video = Video.of(job, f"video_{message_id}", message_id, at)
    await jobs.mark_delivered(job, video)
    return video


async def test_videos_come_back_with_their_job_s_kind(database):
    jobs, videos = JobStore(database), VideoStore(database)
    made = await _delivered(jobs, "image_to_video", "a wave", 10, 1.0)
    remix = await _delivered(jobs, "remix", "at night", 11, 2.0, user_id=4)
    assert await videos.get_video("video_10") == made and made.spec.kind == "image_to_video" and made.remixable
    assert await videos.get_video_by_message(11) == remix and not remix.remixable
    assert [v.video_id for v in await videos.recent_videos(1)] == ["video_11", "video_10"]
    assert [v.video_id for v in await videos.recent_videos(1, user_id=3)] == ["video_10"]
    assert [v.video_id for v in await videos.recent_videos(1, remixable_only=True)] == ["video_10"]
    assert await videos.recent_videos(2) == [] and await videos.get_video("nope") is None


async def test_a_deleted_video_is_marked_once_and_left_out_of_lists(database):
    jobs, videos = JobStore(database), VideoStore(database)
    kept = await _delivered(jobs, "text_to_video", "a kite", 20, 1.0)
    gone = await _delivered(jobs, "text_to_video", "a boat", 21, 2.0)
    assert await videos.mark_deleted(gone.video_id, 7, 5.0) is True
    assert await videos.mark_deleted(gone.video_id, 8, 6.0) is False  # the first deletion is kept

    found = await videos.get_video(gone.video_id)
    assert found is not None and found.deleted and found.deleted_at == 5.0
    assert (await videos.get_video_by_message(21)).deleted and (await videos.get_video_of_job(gone.job_id)).deleted
    assert await videos.deleted_by(gone.video_id) == 7 and await videos.deleted_by(kept.video_id) is None
    assert [v.video_id for v in await videos.recent_videos(1)] == [kept.video_id]
    assert [v.video_id for v in await videos.recent_videos(1, user_id=3, remixable_only=True)] == [kept.video_id]
    assert not (await videos.get_video_of_job(kept.job_id)).deleted
    assert await videos.get_video_of_job(999) is None
    assert (await jobs.get_job(gone.job_id)).state == "delivered"  # the job, and so its ledger, untouched
