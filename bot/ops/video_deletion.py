"""Deleting a delivered video: who may, the message removed from Discord, then the video marked deleted.
Only then marked: a message Discord would not delete leaves a video that is still there, still offered
for remix. The ledger is never touched: the member paid for the video, deleting it refunds nothing."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from bot.domain import deletion
from bot.domain.messenger import DeleteFailed, VideoMessages
from bot.domain.models import Refused, Video
from bot.storage.videos import VideoStore

log = logging.getLogger(__name__)


class VideoDeletion:
    def __init__(self, videos: VideoStore, messages: VideoMessages, clock: Callable[[], float] = time.time) -> None:
        self._videos = videos
        self._messages = messages
        self._clock = clock

    async def check(self, job_id: int, guild_id: int | None, actor_id: int, manages_messages: bool) -> Video | None:
        """The video the job delivered in this server, if the actor may delete it; None when there is no
        such video here (a job of another server looks the same as none). Raises Refused otherwise."""
        video = await self._videos.get_video_of_job(job_id)
        if video is None or video.guild_id != guild_id:
            return None
        if not deletion.may_delete(video.user_id, actor_id, manages_messages):
            raise Refused(deletion.not_allowed())
        if video.deleted:
            raise Refused(deletion.already_deleted())
        return video

    async def delete(self, job_id: int, guild_id: int | None, actor_id: int, manages_messages: bool) -> str | None:
        """Delete the video (checked again: the confirmation is clicked later, maybe by then by someone
        else's doing); the text for the member, None when there is no such video here."""
        video = await self.check(job_id, guild_id, actor_id, manages_messages)
        if video is None:
            return None
        try:
            await self._messages.delete_message(video.guild_id, video.channel_id, video.message_id)
        except DeleteFailed as exc:
            log.warning("job=%s guild=%s user=%s video message not deleted: %s", job_id, guild_id, actor_id, exc)
            return deletion.delete_failed()
        if not await self._videos.mark_deleted(video.video_id, actor_id, self._clock()):
            return deletion.already_deleted()  # deleted meanwhile, by another click
        log.info("job=%s guild=%s user=%s video %s deleted", job_id, guild_id, actor_id, video.video_id)
        return deletion.deleted()
