"""Each server's own rules, and the decisions that follow from them (pure; the SQL is in settings_store)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from bot.domain.blocklist import contains_blocked
from bot.domain.models import VideoRequest
from bot.domain.text import Text

SNAPSHOTS = ("sora-2", "sora-2-2025-12-08", "sora-2-2025-10-06")
# Endpoints whose input has fal's `model` (snapshot) field, per fal's reference: the non-Pro ones.
SNAPSHOT_ENDPOINTS = ("fal-ai/sora-2/text-to-video", "fal-ai/sora-2/image-to-video")


class GuildSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    allowed_channels: tuple[int, ...] = ()  # empty: everywhere
    pro_role_id: int | None = None  # None: everyone may use Pro
    default_model: str = "sora-2"
    default_duration: int = 4
    default_aspect: str = "16:9"
    default_resolution: str = "720p"
    snapshot: str | None = None  # None: fal's latest
    ip_block: bool = False
    remixable: bool = True
    blocklist: tuple[str, ...] = ()
    alerts_channel_id: int | None = None  # where spend alerts are posted; None: off


def refusal(settings: GuildSettings, request: VideoRequest, channel_id: int, role_ids: tuple[int, ...]) -> str | None:
    """Why this server's rules refuse the request before anything is spent, or None."""
    if settings.allowed_channels and channel_id not in settings.allowed_channels:
        where = ", ".join(f"<#{c}>" for c in settings.allowed_channels)
        return Text("Videos are made in {channels} in this server.", channels=where)
    if request.kind == "remix" and not settings.remixable:
        return remix_off()
    if request.model == "sora-2-pro" and settings.pro_role_id is not None and settings.pro_role_id not in role_ids:
        role = f"<@&{settings.pro_role_id}>"
        return Text("Sora 2 Pro is for members with the {role} role in this server; use Sora 2.", role=role)
    if settings.blocklist and contains_blocked(request.prompt, list(settings.blocklist)):
        return Text("That prompt uses a term this server doesn't allow. Please rephrase it.")
    return None


def remix_off() -> str:
    return Text("Remix is off in this server: its admins chose to have fal delete videos after making them.")


def shape_arguments(settings: GuildSettings, endpoint: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """fal's input as this server wants it: deletion (privacy), IP blocking, a pinned snapshot."""
    if endpoint.endswith("/remix") or endpoint.endswith("/characters"):
        return arguments  # these endpoints take none of the three
    shaped = dict(arguments)
    shaped["delete_video"] = not settings.remixable
    if settings.ip_block:
        shaped["detect_and_block_ip"] = True
    if settings.snapshot and endpoint in SNAPSHOT_ENDPOINTS:
        shaped["model"] = settings.snapshot
    return shaped
