"""Payload validation of the fake fal endpoints: pydantic-style 422 ``detail`` lists."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

# A field check: (field name, value) -> an error entry, or None when the value is fine.
Check = Callable[[str, Any], dict[str, Any] | None]


@dataclass(frozen=True)
class EndpointSpec:
    kind: Literal["video", "character"]
    fields: dict[str, Check]
    required: frozenset[str]


def _err(field_name: str, msg: str, type_: str, value: Any = None, **ctx: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"loc": ["body", field_name], "msg": msg, "type": type_}
    if type_ != "missing":
        out["input"] = value
    if ctx:
        out["ctx"] = ctx
    return out


def _literal_text(options: tuple[Any, ...]) -> str:
    shown = [repr(o) if isinstance(o, str) else str(o) for o in options]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]


def _string(min_len: int = 1, max_len: int | None = None) -> Check:
    def check(name: str, value: Any) -> dict[str, Any] | None:
        if not isinstance(value, str):
            return _err(name, "Input should be a valid string", "string_type", value)
        if len(value) < min_len:
            suffix = "" if min_len == 1 else "s"
            return _err(
                name,
                f"String should have at least {min_len} character{suffix}",
                "string_too_short",
                value,
                min_length=min_len,
            )
        if max_len is not None and len(value) > max_len:
            return _err(
                name,
                f"String should have at most {max_len} characters",
                "string_too_long",
                value,
                max_length=max_len,
            )
        return None

    return check


def _literal(options: tuple[str, ...]) -> Check:
    def check(name: str, value: Any) -> dict[str, Any] | None:
        if value not in options:
            text = _literal_text(options)
            return _err(name, f"Input should be {text}", "literal_error", value, expected=text)
        return None

    return check


def _duration() -> Check:
    allowed = (4, 8, 12, 16, 20)

    def check(name: str, value: Any) -> dict[str, Any] | None:
        ok = (isinstance(value, int) and not isinstance(value, bool) and value in allowed) or (
            isinstance(value, str) and value in {str(a) for a in allowed}
        )
        if not ok:
            text = _literal_text(allowed)
            return _err(name, f"Input should be {text}", "literal_error", value, expected=text)
        return None

    return check


def _boolean() -> Check:
    def check(name: str, value: Any) -> dict[str, Any] | None:
        if not isinstance(value, bool):
            return _err(name, "Input should be a valid boolean", "bool_type", value)
        return None

    return check


_T2V_ASPECT = ("16:9", "9:16")
_I2V_ASPECT = ("auto", "16:9", "9:16")


def _video_spec(
    aspect: tuple[str, ...] | None,
    resolution: tuple[str, ...] | None,
    extra_required: tuple[str, ...] = (),
    duration: bool = True,
) -> EndpointSpec:
    fields: dict[str, Check] = {
        "prompt": _string(1, 5000),
        "delete_video": _boolean(),
    }
    if duration:
        fields["duration"] = _duration()
    if aspect is not None:
        fields["aspect_ratio"] = _literal(aspect)
    if resolution is not None:
        fields["resolution"] = _literal(resolution)
    for name in extra_required:
        fields[name] = _string(1)
    return EndpointSpec("video", fields, frozenset(("prompt", *extra_required)))


ENDPOINTS: dict[str, EndpointSpec] = {
    "fal-ai/sora-2/text-to-video": _video_spec(_T2V_ASPECT, ("720p",)),
    "fal-ai/sora-2/text-to-video/pro": _video_spec(_T2V_ASPECT, ("720p", "1080p")),
    "fal-ai/sora-2/image-to-video": _video_spec(_I2V_ASPECT, ("auto", "720p"), ("image_url",)),
    "fal-ai/sora-2/image-to-video/pro": _video_spec(
        _I2V_ASPECT, ("auto", "720p", "1080p", "true_1080p"), ("image_url",)
    ),
    "fal-ai/sora-2/video-to-video/remix": _video_spec(None, None, ("video_id",), duration=False),
    "fal-ai/sora-2/characters": EndpointSpec(
        "character",
        {"name": _string(1, 100), "video_url": _string(1)},
        frozenset(("name", "video_url")),
    ),
}


def validate_payload(endpoint: str, payload: Any, *, reject_unknown: bool = False) -> list[dict[str, Any]]:
    """The fal-style 422 ``detail`` list for ``payload`` at ``endpoint`` (empty: valid)."""
    spec = ENDPOINTS[endpoint]
    if not isinstance(payload, dict):
        return [
            {
                "loc": ["body"],
                "msg": "Input should be a valid dictionary or object to extract fields from",
                "type": "model_attributes_type",
                "input": payload,
            }
        ]
    errors: list[dict[str, Any]] = []
    for name, check in spec.fields.items():
        if name not in payload:
            if name in spec.required:
                errors.append(_err(name, "Field required", "missing"))
            continue
        problem = check(name, payload[name])
        if problem is not None:
            errors.append(problem)
    if reject_unknown:
        for name in payload:
            if name not in spec.fields:
                errors.append(_err(name, "Extra inputs are not permitted", "extra_forbidden", payload[name]))
    return errors
