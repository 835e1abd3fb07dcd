"""/videos and /show: a member's videos, a page at a time, and an old video's card again."""

from __future__ import annotations

from bot.domain import deletion, video_refs
from bot.domain.messenger import VideoCard
from bot.domain.video_history import PAGE_SIZE, Cursor, Direction, HistoryPage, Scope
from bot.domain.video_refs import message_link
from bot.storage.jobs import JobStore
from bot.storage.videos import VideoStore


class VideoHistory:
    def __init__(self, videos: VideoStore, jobs: JobStore) -> None:
        self._videos = videos
        self._jobs = jobs

    async def page(
        self,
        guild_id: int,
        user_id: int,
        scope: Scope,
        edge: Cursor | None = None,
        direction: Direction = "older",
    ) -> HistoryPage:
        """The page next to `edge` that way (the newest page without one). One more row than a page is
        read to know whether there is anything beyond it."""
        member = user_id if scope == "mine" else None
        found = await self._videos.history(guild_id, member, PAGE_SIZE + 1, edge=edge, direction=direction)
        if edge is not None and not found:
            return await self.page(guild_id, user_id, scope)  # nothing left that way: back to the newest
        if direction == "newer" and edge is not None:
            entries = found[-PAGE_SIZE:]  # the ones next to the edge
            more_newer = len(found) > PAGE_SIZE
            more_older = True  # the edge itself is older
        else:
            entries = found[:PAGE_SIZE]
            more_newer = edge is not None  # the edge itself is newer
            more_older = len(found) > PAGE_SIZE
        return HistoryPage(
            scope=scope,
            user_id=user_id,
            entries=entries,
            newer=entries[0].cursor if more_newer and entries else None,
            older=entries[-1].cursor if more_older and entries else None,
        )

    async def card(self, guild_id: int, reference: str) -> VideoCard:
        """The card of a video of this server, as it was posted (raises video_refs.UnknownVideo)."""
        video = await video_refs.resolve(self._videos, guild_id, reference)
        if video.deleted:
            raise video_refs.UnknownVideo(deletion.no_show_of_deleted())
        job = await self._jobs.get_job(video.job_id)
        if job is None:
            raise video_refs.UnknownVideo(video_refs.unknown_video())
        parent = await self._videos.get_video(video.spec.parent_video_id) if video.spec.parent_video_id else None
        parent_link = message_link(parent.guild_id, parent.channel_id, parent.message_id) if parent else None
        return VideoCard.for_job(job, video.video_id, parent_link=parent_link)
