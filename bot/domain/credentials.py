"""What a Discord bot token and a fal key look like, so a pasted value that cannot work is refused at
start-up (by `run`, `sync` and `check` alike) rather than at login or at the first job."""

from __future__ import annotations

import base64
import binascii
import re

# fal's dashboard shows a key as KEY_ID:KEY_SECRET.
_FAL_KEY = re.compile(r"[A-Za-z0-9_-]{8,}:[A-Za-z0-9_-]{8,}")


def application_id(token: str) -> int | None:
    """A bot token's first part is the bot's user id in base64, and a bot's user id is its application's."""
    first = token.strip().split(".")[0]
    try:
        decoded = base64.urlsafe_b64decode(first + "=" * (-len(first) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return int(decoded) if decoded.isdigit() and len(decoded) >= 15 else None


def looks_like_bot_token(token: str) -> bool:
    """Three parts joined by dots, the first of them an application id."""
    return token == token.strip() and token.count(".") == 2 and application_id(token) is not None


def looks_like_fal_key(key: str) -> bool:
    return _FAL_KEY.fullmatch(key) is not None
