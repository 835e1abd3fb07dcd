"""What a member reads, in the member's language: a Text (bot/domain/text.py) is translated through the
tree's Translator (discord.py's `Interaction.translate`, the catalogues' "messages"), then filled with its
values: a Text among them translated too, a time (Moment) and an amount (Money) written the way the
member's language writes them (Babel's CLDR data). Anything else, or a sentence with no translation,
stays English."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import discord
from babel.dates import format_skeleton, format_time
from babel.numbers import format_currency
from discord import app_commands

from bot.domain.text import Moment, Money, Text
from bot.i18n.catalogues import language_of

log = logging.getLogger(__name__)


async def localized(interaction: discord.Interaction, text: str) -> str:
    if not isinstance(text, Text):
        return text
    pattern = await interaction.translate(app_commands.locale_str(text.msgid))
    if pattern is None:
        return str(text)  # English (or a language with no catalogue): the sentence as written
    language = language_of(interaction.locale.value) or "en"
    values = {name: await _value(interaction, value, language) for name, value in text.params.items()}
    try:
        return pattern.format(**values) if values else pattern
    except (KeyError, IndexError, ValueError):  # a translation that lost or broke a placeholder
        log.warning("the %s translation of %r breaks its placeholders; English instead", interaction.locale, text.msgid)
        return str(text)


async def _value(interaction: discord.Interaction, value: Any, language: str) -> Any:
    if isinstance(value, Text):
        return await localized(interaction, value)
    if isinstance(value, Moment):
        day = format_skeleton("MMMEd", value.at, tzinfo=dt.UTC, locale=language, fuzzy=True)
        return f"{day} {format_time(value.at, 'HH:mm', tzinfo=dt.UTC, locale=language)} UTC"
    if isinstance(value, Money):
        return format_currency(value.micros / 1_000_000, "USD", locale=language)
    return value
