"""What a member reads, in the member's language (or, in a channel, the server's): a Text
(bot/domain/text.py) is translated through the tree's Translator (the catalogues' "messages", the location
discord.py calls other), then filled with its
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
    """For the member who acted: in their Discord language."""
    return await render(_translator(interaction.client), interaction.locale, text)


async def for_server(client: discord.Client, guild_id: int, text: str) -> str:
    """For a channel's readers: in the server's language (its community's preferred locale)."""
    guild = client.get_guild(guild_id)
    locale = guild.preferred_locale if guild is not None else discord.Locale.american_english
    return await render(_translator(client), locale, text)


async def render(translator: app_commands.Translator | None, locale: discord.Locale, text: str) -> str:
    if not isinstance(text, Text) or translator is None:
        return text
    context: app_commands.TranslationContext[Any, None] = app_commands.TranslationContext(
        app_commands.TranslationContextLocation.other, None
    )
    pattern = await translator.translate(app_commands.locale_str(text.msgid), locale, context)
    if pattern is None:
        return str(text)  # English (or a language with no catalogue): the sentence as written
    language = language_of(locale.value) or "en"
    values = {name: await _value(translator, locale, value, language) for name, value in text.params.items()}
    try:
        return pattern.format(**values) if values else pattern
    except (KeyError, IndexError, ValueError):  # a translation that lost or broke a placeholder
        log.warning("the %s translation of %r breaks its placeholders; English instead", locale, text.msgid)
        return str(text)


async def command_words(
    interaction: discord.Interaction,
    command: app_commands.Command[Any, ..., Any] | app_commands.Group | app_commands.ContextMenu,
) -> tuple[str, str]:
    """A command's qualified name and description as the member's Discord shows them (the commands
    catalogue, asked as discord.py asks it when it registers them); English where there is none."""
    translator = _translator(interaction.client)
    locale = interaction.locale
    where = app_commands.TranslationContextLocation

    async def word(string: str, location: app_commands.TranslationContextLocation, data: Any) -> str:
        if translator is None or not string:
            return string
        make: Any = app_commands.TranslationContext  # its overloads pair each location with its data's type
        return await translator.translate(app_commands.locale_str(string), locale, make(location, data)) or string

    chain: list[Any] = [command]
    while getattr(chain[0], "parent", None) is not None:
        chain.insert(0, chain[0].parent)
    names = [
        await word(part.name, where.group_name if isinstance(part, app_commands.Group) else where.command_name, part)
        for part in chain
    ]
    if isinstance(command, app_commands.Group):
        description = await word(command.description, where.group_description, command)
    elif isinstance(command, app_commands.Command):
        description = await word(command.description, where.command_description, command)
    else:
        description = ""
    return " ".join(names), description


def _translator(client: discord.Client) -> app_commands.Translator | None:
    tree = getattr(client, "tree", None)
    return tree.translator if isinstance(tree, app_commands.CommandTree) else None


async def _value(translator: app_commands.Translator, locale: discord.Locale, value: Any, language: str) -> Any:
    if isinstance(value, Text):
        return await render(translator, locale, value)
    if isinstance(value, Moment):
        day = format_skeleton("MMMEd", value.at, tzinfo=dt.UTC, locale=language, fuzzy=True)
        return f"{day} {format_time(value.at, 'HH:mm', tzinfo=dt.UTC, locale=language)} UTC"
    if isinstance(value, Money):
        return format_currency(value.micros / 1_000_000, "USD", locale=language)
    return value
