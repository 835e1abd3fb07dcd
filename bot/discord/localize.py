"""What a member reads, in the member's language: a Text (bot/domain/text.py) is translated through the
tree's Translator (discord.py's `Interaction.translate`, the catalogues' "messages"), then filled with its
values, themselves translated when they are Texts. Anything else, or a sentence with no translation,
stays English."""

from __future__ import annotations

import logging

import discord
from discord import app_commands

from bot.domain.text import Text

log = logging.getLogger(__name__)


async def localized(interaction: discord.Interaction, text: str) -> str:
    if not isinstance(text, Text):
        return text
    pattern = await interaction.translate(app_commands.locale_str(text.msgid))
    values = {name: await localized(interaction, value) if isinstance(value, Text) else value
              for name, value in text.params.items()}  # fmt: skip
    if pattern is None:
        return text.msgid.format(**values) if values else str(text)
    try:
        return pattern.format(**values) if values else pattern
    except (KeyError, IndexError, ValueError):  # a translation that lost or broke a placeholder
        log.warning("the %s translation of %r breaks its placeholders; English instead", interaction.locale, text.msgid)
        return str(text)
