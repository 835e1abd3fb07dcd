"""Who may use the admin commands (/quota, /settings): members with Manage Server, checked here as well
as hidden by default_permissions."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.discord.localize import localized
from bot.domain.text import Text

ADMIN = discord.Permissions(manage_guild=True)  # the default_permissions of the admin command groups
NOT_ADMIN = Text("Only members with the Manage Server permission can change or see the server's settings and quotas.")


def is_admin(interaction: discord.Interaction) -> bool:
    return interaction.permissions.manage_guild or interaction.permissions.administrator


def admin_only(interaction: discord.Interaction) -> bool:
    """default_permissions only hides the commands, and admins can change who sees them: check here too."""
    if is_admin(interaction):
        return True
    raise app_commands.CheckFailure(NOT_ADMIN)


async def say(interaction: discord.Interaction, text: str, *more: str) -> None:
    """The admin commands' answer: private, the interaction's first, in the admin's language (each line a
    Text, rendered before they are joined: a Text joined to a str is English)."""
    lines = [await localized(interaction, line) for line in (text, *more)]
    await interaction.response.send_message("\n".join(lines), ephemeral=True)
