"""The `video` option of /remix and /show: its autocomplete, kept in one place so the cogs that offer it
need not import each other."""

from __future__ import annotations

from discord import app_commands

from bot.domain.models import Video
from bot.storage.videos import VideoStore


async def video_choices(
    store: VideoStore, guild_id: int | None, current: str, *, remixable_only: bool
) -> list[app_commands.Choice[str]]:
    """This server's recent videos whose prompt or id contains what was typed (at most 25)."""
    if guild_id is None:
        return []
    needle = current.strip().lower()
    recent = await store.recent_videos(guild_id, limit=100, remixable_only=remixable_only)
    found = [v for v in recent if needle in v.spec.prompt.lower() or needle in v.video_id.lower()]
    return [app_commands.Choice(name=_label(v), value=v.video_id) for v in found[:25]]


def _label(video: Video) -> str:
    prompt = " ".join(video.spec.prompt.split())
    label = f"{prompt[:80]}{'…' if len(prompt) > 80 else ''} ({video.spec.duration} s)"
    return label[:100]
