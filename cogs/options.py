"""The option choices several commands offer (/generate, /animate-attachment, /settings defaults), kept
in one place so the cogs that show them need not import each other."""

from __future__ import annotations

from discord import app_commands

DURATION_CHOICES = [app_commands.Choice(name=f"{s} seconds", value=s) for s in (4, 8, 12, 16, 20)]
ASPECT_CHOICES = [
    app_commands.Choice(name="16:9 landscape", value="16:9"),
    app_commands.Choice(name="9:16 portrait", value="9:16"),
]
MODEL_CHOICES = [
    app_commands.Choice(name="Sora 2", value="sora-2"),
    app_commands.Choice(name="Sora 2 Pro", value="sora-2-pro"),
]
RESOLUTION_CHOICES = [
    app_commands.Choice(name="720p", value="720p"),
    app_commands.Choice(name="1080p (Pro only)", value="1080p"),
]
