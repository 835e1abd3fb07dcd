"""The inputs fal's Sora 2 endpoints accept, checked the way fal checks them (a pydantic-style 422
`detail` list), so simulated mode refuses exactly what fal would refuse."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

TEXT = "fal-ai/sora-2/text-to-video"
TEXT_PRO = "fal-ai/sora-2/text-to-video/pro"
IMAGE = "fal-ai/sora-2/image-to-video"
IMAGE_PRO = "fal-ai/sora-2/image-to-video/pro"
REMIX = "fal-ai/sora-2/video-to-video/remix"
CHARACTERS = "fal-ai/sora-2/characters"

DURATIONS = (4, 8, 12, 16, 20)
MAX_CHARACTERS = 2

Detail = dict[str, Any]
Check = Callable[[str, Any], Detail | None]


def error(name: str, msg: str, kind: str) -> Detail:
    return {"loc": ["body", name], "msg": msg, "type": kind}


def _string(max_len: int | None = None) -> Check:
    def check(name: str, value: Any) -> Detail | None:
        if not isinstance(value, str):
            return error(name, "Input should be a valid string", "string_type")
        if not value:
            return error(name, "String should have at least 1 character", "string_too_short")
        if max_len is not None and len(value) > max_len:
            return error(name, f"String should have at most {max_len} characters", "string_too_long")
        return None

    return check


def _one_of(*options: str) -> Check:
    def check(name: str, value: Any) -> Detail | None:
        if value not in options:
            return error(name, "Input should be " + " or ".join(repr(o) for o in options), "literal_error")
        return None

    return check


def _duration(name: str, value: Any) -> Detail | None:
    # fal takes the duration as a number or as its string ("8").
    if isinstance(value, bool) or str(value) not in {str(d) for d in DURATIONS}:
        return error(name, "Input should be " + ", ".join(map(str, DURATIONS)), "literal_error")
    return None


def _boolean(name: str, value: Any) -> Detail | None:
    return None if isinstance(value, bool) else error(name, "Input should be a valid boolean", "bool_type")


def _character_ids(name: str, value: Any) -> Detail | None:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        return error(name, "Input should be a valid list of strings", "list_type")
    if len(value) > MAX_CHARACTERS:
        return error(name, f"List should have at most {MAX_CHARACTERS} items", "too_long")
    return None


@dataclass(frozen=True)
class Spec:
    fields: dict[str, Check]
    required: tuple[str, ...]


def _video(aspects: tuple[str, ...], resolutions: tuple[str, ...], *required: str) -> Spec:
    fields: dict[str, Check] = {
        "prompt": _string(5000),
        "duration": _duration,
        "aspect_ratio": _one_of(*aspects),
        "resolution": _one_of(*resolutions),
        "delete_video": _boolean,
        "detect_and_block_ip": _boolean,
        "character_ids": _character_ids,
    }
    fields.update({name: _string() for name in required})  # URLs, data: URIs included
    return Spec(fields, ("prompt", *required))


SPECS: dict[str, Spec] = {
    TEXT: _video(("16:9", "9:16"), ("720p",)),
    TEXT_PRO: _video(("16:9", "9:16"), ("720p", "1080p")),
    IMAGE: _video(("auto", "16:9", "9:16"), ("auto", "720p"), "image_url"),
    IMAGE_PRO: _video(("auto", "16:9", "9:16"), ("auto", "720p", "1080p", "true_1080p"), "image_url"),
    REMIX: Spec(
        {"prompt": _string(5000), "video_id": _string(200), "delete_video": _boolean},
        ("prompt", "video_id"),
    ),
    CHARACTERS: Spec({"name": _string(100), "video_url": _string()}, ("name", "video_url")),
}


def problems(endpoint: str, arguments: Any) -> list[Detail]:
    """fal's 422 detail list for these arguments (empty when fal would take them)."""
    spec = SPECS[endpoint]
    if not isinstance(arguments, dict):
        return [{"loc": ["body"], "msg": "Input should be a valid dictionary", "type": "model_attributes_type"}]
    found = []
    for name, check in spec.fields.items():
        if name not in arguments:
            if name in spec.required:
                found.append(error(name, "Field required", "missing"))
            continue
        problem = check(name, arguments[name])
        if problem is not None:
            found.append(problem)
    return found


@dataclass(frozen=True)
class Shape:
    """What the simulated video looks like."""

    width: int
    height: int
    seconds: int


def shape(aspect_ratio: str, resolution: str, duration: Any) -> Shape:
    """Frame size and length for fal's aspect ratio / resolution / duration values ("auto" -> 16:9, 720p)."""
    short = 1080 if resolution in ("1080p", "true_1080p") else 720
    long = short * 16 // 9
    portrait = aspect_ratio == "9:16"
    return Shape(short if portrait else long, long if portrait else short, int(duration))
