"""`python -m bot invite`: the URL that adds the bot to a server with what it needs, and nothing more."""

from __future__ import annotations

import base64
import binascii
import sys

from pydantic import ValidationError

from bot.config import InviteSettings, describe_error

SCOPES = ("bot", "applications.commands")
# What the bot does in a channel: post progress and videos, embed the card, attach the mp4, and read
# recent messages (to find a video it may already have posted before a crash).
PERMISSIONS = {
    "Send Messages": 1 << 11,
    "Embed Links": 1 << 14,
    "Attach Files": 1 << 15,
    "Read Message History": 1 << 16,
}


def permissions_value() -> int:
    return sum(PERMISSIONS.values())


def application_id(token: str) -> int | None:
    """A bot token's first part is the bot's user id in base64, and a bot's user id is its application's."""
    first = token.strip().split(".")[0]
    try:
        decoded = base64.urlsafe_b64decode(first + "=" * (-len(first) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return int(decoded) if decoded.isdigit() and len(decoded) >= 15 else None


def invite_url(app_id: int) -> str:
    return (
        f"https://discord.com/oauth2/authorize?client_id={app_id}"
        f"&scope={'+'.join(SCOPES)}&permissions={permissions_value()}"
    )


def main() -> int:
    try:
        settings = InviteSettings()
    except ValidationError as exc:
        print(describe_error(exc), file=sys.stderr)
        return 2
    app_id = settings.discord_application_id
    if app_id is None and settings.discord_token is not None:
        app_id = application_id(settings.discord_token.get_secret_value())
    if app_id is None:
        print(
            "configuration error: set DISCORD_TOKEN (or DISCORD_APPLICATION_ID, from the Developer Portal's "
            "General Information page) to make the invite link",
            file=sys.stderr,
        )
        return 2
    print(invite_url(app_id))
    print(f"scopes: {' '.join(SCOPES)}; permissions: {', '.join(PERMISSIONS)} ({permissions_value()})")
    return 0
