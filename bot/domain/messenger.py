"""What the job pipeline needs from Discord, as a protocol: the runner never imports discord."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bot.domain.models import Job, VideoSpec


class PostForbidden(Exception):
    """The bot may not post in the job's channel."""


class PostTooLarge(Exception):
    """Discord refused the file as too large."""


class PostUnavailable(Exception):
    """Discord did not answer, or answered 5xx: the post may be tried again (the nonce and a look at the
    channel keep a retry from posting twice)."""


class DeleteFailed(Exception):
    """Discord refused to delete a message (403, 5xx) or did not answer: it may still be there."""


class VideoMessages(Protocol):
    """What deleting a video needs from Discord."""

    async def delete_message(self, guild_id: int, channel_id: int, message_id: int) -> None:
        """Delete one of the bot's messages; one already gone counts as deleted. Raises DeleteFailed."""


@dataclass(frozen=True)
class VideoCard:
    """Everything the embed under a delivered video shows."""

    job_id: int
    spec: VideoSpec
    cost_usd: float
    user_id: int
    video_id: str
    note: str | None = None
    link: str | None = None  # set when the file could not be attached
    simulated: bool = False  # made by simulated mode (FAL_BACKEND=simulated), not by Sora
    remixable: bool = True  # offer the Remix button
    parent_link: str | None = None  # a remix: the message of the video it started from

    @classmethod
    def for_job(
        cls,
        job: Job,
        video_id: str,
        note: str | None = None,
        link: str | None = None,
        parent_link: str | None = None,
    ) -> VideoCard:
        return cls(
            job_id=job.id,
            spec=job.spec,
            cost_usd=job.cost_usd,
            user_id=job.user_id,
            video_id=video_id,
            note=note,
            link=link,
            # The simulated backend marks its results; fal's never carry this key.
            simulated=bool((job.result or {}).get("simulated")),
            remixable=job.remixable,
            parent_link=parent_link,
        )


class Messenger(Protocol):
    async def edit_progress(self, job: Job, text: str) -> int | None:
        """Show `text` in the job's progress message; returns that message's id when known."""

    async def post_video(self, job: Job, card: VideoCard, file: Path | None) -> int:
        """Post the finished video (or, with file None, the card with its link) as an ordinary
        channel message; returns its id. Raises PostForbidden, PostTooLarge or PostUnavailable."""

    async def find_posted_video(self, job: Job) -> int | None:
        """The id of a video message already posted for this job (a crash during upload), if any.
        Raises PostUnavailable when Discord cannot be asked."""

    async def tell_requester(self, job: Job, text: str) -> None:
        """Tell the member privately when that is still possible (a live interaction), else do nothing."""

    def upload_limit(self, job: Job) -> int:
        """Bytes a file posted in the job's channel may have."""

    def forget(self, job_id: int) -> None:
        """The job's task ended: drop what was kept for it."""
