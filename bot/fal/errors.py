"""fal's failures as our own typed errors, each with a short sentence fit to show a member; both the
fal_client adapter (queue.py) and the simulation raise them."""

from __future__ import annotations

from typing import Any

from bot.domain.text import Text


class FalError(Exception):
    """A fal failure with a short sentence fit to show a member."""

    def __init__(self, user_message: str, *, status: int | None = None) -> None:
        super().__init__(user_message)
        self.user_message = user_message
        self.status = status


class FalRefused(FalError):
    """fal will not make this video (validation or content policy): retrying cannot help."""


class FalUnavailable(FalError):
    """fal or the network failed (5xx, timeout): worth retrying later."""


class FalStreamBroken(FalUnavailable):
    """fal's status stream failed (refused, cut before COMPLETED, garbled, silent past its keep-alives):
    the job is polled instead, and the stream tried again later."""


class FalResultGone(FalError):
    """fal no longer has the result (it keeps results only briefly)."""


class FalAnswerLost(FalUnavailable):
    """A submit whose answer never came (connection lost, timeout, garbage): fal may have taken it."""


class FalLookupRefused(FalError):
    """fal will not list this key's requests (e.g. a key without that scope): a lost submit cannot be found."""


def refusal_sentence(detail: Any, error_type: str | None = None) -> str:
    """Say in plain words why fal refused: content policy, or which input was wrong."""
    items = detail if isinstance(detail, list) else [{"msg": str(detail), "type": error_type or ""}]
    for item in items:
        kind = str(item.get("type", "")) if isinstance(item, dict) else ""
        text = str(item.get("msg", "")).lower() if isinstance(item, dict) else str(item).lower()
        if "intellectual" in text or "ip_" in kind or kind == "ip_detected":
            return Text(
                "fal refused this request: it refers to protected intellectual property (this server blocks "
                "such references). Try another prompt or image."
            )
        if "content_policy" in kind or "policy" in str(error_type or ""):
            return Text("fal refused this request: it was flagged by the content policy. Try rewording the prompt.")
    first = items[0] if items else {}
    if isinstance(first, dict):
        loc = first.get("loc") or []
        where = str(loc[-1]) if loc else "the request"
        message = str(first.get("msg") or "invalid input").rstrip(".")
        return Text("fal refused this request: {field}: {problem}.", field=where[:80], problem=message[:200])
    return Text("fal refused this request: {problem}.", problem=str(first)[:200])
