"""`python -m bot invite`: the URL that adds the bot to a server with what it needs, and nothing more."""

from __future__ import annotations

import sys

from pydantic import ValidationError

from bot.config import HINTS, InviteSettings, describe_error
from bot.domain.credentials import application_id, looks_like_bot_token

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
    token = settings.discord_token.get_secret_value() if settings.discord_token is not None else ""
    if app_id is None and looks_like_bot_token(token):
        app_id = application_id(token)
    if app_id is None:
        print(f"configuration error: {_what_is_wrong(token)}", file=sys.stderr)
        return 2
    print(invite_url(app_id))
    print(f"scopes: {' '.join(SCOPES)}; permissions: {', '.join(PERMISSIONS)} ({permissions_value()})")
    return 0


def _what_is_wrong(token: str) -> str:
    other_way = "or set DISCORD_APPLICATION_ID (the Developer Portal's General Information page)"
    if not token.strip():
        return f"DISCORD_TOKEN is not set: {HINTS['DISCORD_TOKEN']}, {other_way}"
    return f"DISCORD_TOKEN does not look like a bot token (three parts joined by dots): copy it again, {other_way}"
