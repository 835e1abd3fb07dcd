"""A protocol-level fake of Discord (REST API v10 + gateway) for end-to-end tests of the bot.

``server`` holds FakeDiscord; the sibling modules are its pieces: models (data + JSON shapes),
messages (message state), rest/routes (HTTP), ratelimit, gateway, faults and openapi (spec checks,
against ``discord-openapi.json`` here).

Only absolute imports reach this package (``tests.fakes.discord``): ``tests/fakes`` is never a
sys.path entry, so a bare ``import discord`` anywhere, this package included, is still discord.py.
"""

from .server import (
    FakeChannel,
    FakeDiscord,
    FakeGuild,
    FakeInteraction,
    FakeMember,
    FakeUser,
    RecordedFile,
    RecordedRequest,
)

__all__ = [
    "FakeChannel",
    "FakeDiscord",
    "FakeGuild",
    "FakeInteraction",
    "FakeMember",
    "FakeUser",
    "RecordedFile",
    "RecordedRequest",
]
