"""How a member may point at a video: a fal video_id, or a link to one of the bot's video messages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from bot.domain.models import Video
from bot.domain.text import Text

_LINK = re.compile(
    r"^<?https?://(?:(?:ptb|canary)\.)?discord(?:app)?\.com/channels/(\d{15,21})/(\d{15,21})/(\d{15,21})/?>?$"
)
_VIDEO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-.:]{0,199}$")


@dataclass(frozen=True)
class MessageLink:
    guild_id: int
    channel_id: int
    message_id: int


@dataclass(frozen=True)
class VideoId:
    value: str


def parse(text: str) -> MessageLink | VideoId | None:
    """A message link or a plausible video id; None for anything else (then: 'unknown video')."""
    text = text.strip().strip("`")
    link = _LINK.match(text)
    if link:
        return MessageLink(int(link.group(1)), int(link.group(2)), int(link.group(3)))
    if _VIDEO_ID.match(text):
        return VideoId(text)
    return None


def message_link(guild_id: int, channel_id: int, message_id: int) -> str:
    return f"https://discord.com/channels/{guild_id}/{channel_id}/{message_id}"


class UnknownVideo(LookupError):
    """The message is shown to the member; it never reveals that a video exists in another server."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text  # a Text: in the member's language


class StoredVideos(Protocol):
    """Where resolve() looks videos up (bot/storage/videos.py VideoStore)."""

    async def get_video(self, video_id: str) -> Video | None: ...

    async def get_video_by_message(self, message_id: int) -> Video | None: ...


async def resolve(store: StoredVideos, guild_id: int, text: str) -> Video:
    ref = parse(text)
    video: Video | None = None
    if isinstance(ref, MessageLink):
        video = await store.get_video_by_message(ref.message_id) if ref.guild_id == guild_id else None
    elif isinstance(ref, VideoId):
        video = await store.get_video(ref.value)
    if video is None or video.guild_id != guild_id:
        raise UnknownVideo(unknown_video())
    return video


def unknown_video() -> str:
    return Text(
        "I don't know that video in this server: give a video ID from one of my video messages, "
        "a link to the message, or pick one from the list."
    )
