"""`python -m bot`, with discord.py pointed at the test's fake Discord (its REST base and gateway URL
are library constants, not settings), for tests that need the bot as a real process."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import discord  # noqa: E402
import yarl  # noqa: E402

discord.http.Route.BASE = os.environ["TEST_DISCORD_API"]
discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(os.environ["TEST_DISCORD_GATEWAY"])

from bot.__main__ import main  # noqa: E402

raise SystemExit(main())
