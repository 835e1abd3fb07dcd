"""Plain data: the Sora request, the fal result, jobs and their states."""

from __future__ import annotations

import enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Model = Literal["sora-2", "sora-2-pro"]
Kind = Literal["text_to_video", "image_to_video", "remix"]
DURATIONS: tuple[int, ...] = (4, 8, 12, 16, 20)
PROMPT_MAX = 5000


class Refused(Exception):
    """A request refused before anything was spent; the message is shown to the member."""

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


class JobState(enum.StrEnum):
    WAITING = "waiting"  # accepted and its cost reserved; waits for a slot (the limits of videos in progress)
    PENDING = "pending"  # row written, nothing sent to fal yet: safe to submit
    SUBMITTING = "submitting"  # submit in flight or its answer lost: looked up at fal, never sent again
    QUEUED = "queued"  # request id stored; waiting in fal's queue
    RUNNING = "running"  # fal is generating
    COMPLETED = "completed"  # fal's result fetched and stored
    UPLOADING = "uploading"  # posting the video to Discord
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.DELIVERED, JobState.FAILED, JobState.CANCELLED)

    @property
    def in_progress(self) -> bool:
        """Counted against the limits of videos in progress: started and not finished."""
        return not self.finished and self is not JobState.WAITING


class VideoSpec(BaseModel):
    """What a video is, as asked: the facts a job, the video it leaves and the card under that video share.
    The storage maps it to the columns of the jobs and videos tables (the videos table takes `kind` from
    the video's job)."""

    model_config = ConfigDict(frozen=True)

    kind: Kind
    prompt: str
    model: Model
    duration: int
    aspect_ratio: str
    resolution: str
    parent_video_id: str | None = None  # a remix: the fal video_id it started from


class VideoRequest(BaseModel):
    """What a member asked for, already validated (sora.py makes these)."""

    model_config = ConfigDict(frozen=True)

    kind: Kind = "text_to_video"
    prompt: str = Field(min_length=1, max_length=PROMPT_MAX)
    duration: int = 4
    aspect_ratio: str = "16:9"  # image-to-video also "auto"
    model: Model = "sora-2"
    resolution: str = "720p"  # image-to-video also "auto", and for Pro "1080p", "true_1080p"
    image_url: str | None = None  # image-to-video: the first frame
    source_video_id: str | None = None  # remix: the fal video_id it starts from
    character_ids: tuple[str, ...] = ()

    @property
    def spec(self) -> VideoSpec:
        """What the job made from this request records (image and characters go in its fal arguments)."""
        return VideoSpec(
            kind=self.kind,
            prompt=self.prompt,
            model=self.model,
            duration=self.duration,
            aspect_ratio=self.aspect_ratio,
            resolution=self.resolution,
            parent_video_id=self.source_video_id,
        )

    @classmethod
    def from_job(cls, job: Job) -> VideoRequest:
        """The same request again (a re-roll)."""
        spec = job.spec
        return cls(
            kind=spec.kind,
            prompt=spec.prompt,
            duration=spec.duration,
            aspect_ratio=spec.aspect_ratio,
            model=spec.model,
            resolution=spec.resolution,
            image_url=job.arguments.get("image_url"),
            source_video_id=job.arguments.get("video_id"),
            character_ids=tuple(job.arguments.get("character_ids") or ()),
        )


class Job(BaseModel):
    id: int
    spec: VideoSpec
    state: JobState
    guild_id: int
    channel_id: int
    user_id: int
    endpoint: str
    arguments: dict[str, Any]
    cost_usd: float
    request_id: str | None = None
    progress_message_id: int | None = None
    reply_to_message_id: int | None = None
    result: dict[str, Any] | None = None
    video_message_id: int | None = None
    error: str | None = None
    created_at: float
    updated_at: float
    submitted_at: float | None = None  # when the submit to fal began
    started_at: float | None = None  # when it left the waiting line (or was created pending); None: waiting
    final_text: str | None = None  # the progress message's last text, owed to the member until shown
    final_shown_at: float | None = None

    @property
    def since(self) -> float:
        """When the job began to be made: its waiting time does not count against fal's deadline."""
        return self.started_at if self.started_at is not None else self.created_at

    @property
    def remixable(self) -> bool:
        """fal remixes only text- and image-to-video results that it was told not to delete."""
        return self.spec.kind != "remix" and self.arguments.get("delete_video") is False


class VideoFile(BaseModel):
    url: str
    content_type: str | None = None
    file_name: str | None = None
    file_size: int | None = None


class FalResult(BaseModel):
    model_config = ConfigDict(extra="ignore")

    video: VideoFile
    video_id: str


class Video(BaseModel):
    video_id: str
    job_id: int
    guild_id: int
    channel_id: int
    message_id: int
    user_id: int
    spec: VideoSpec
    remixable: bool
    created_at: float
    deleted_at: float | None = None  # deleted with its message (the Delete button): never remixed again

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None

    @classmethod
    def of(cls, job: Job, video_id: str, message_id: int, created_at: float) -> Video:
        """The video a delivered job leaves: its request's facts, where it was posted, fal's id."""
        return cls(
            video_id=video_id,
            job_id=job.id,
            guild_id=job.guild_id,
            channel_id=job.channel_id,
            message_id=message_id,
            user_id=job.user_id,
            spec=job.spec,
            remixable=job.remixable,
            created_at=created_at,
        )


class Character(BaseModel):
    """A Sora character made in a server (fal's id, the name members pick it by)."""

    id: int
    guild_id: int
    name: str
    fal_id: str
    created_by: int
    created_at: float
