"""discord.py's Translator over the catalogues: every command, option and choice name and description
("commands", sent with the commands when they are registered: discord.py calls it for each string of the
tree), and what members read ("messages": `Interaction.translate`, the location discord.py calls other)."""

from __future__ import annotations

from discord import Locale, app_commands

from bot.i18n.catalogues import Catalogues


def context_of(context: app_commands.TranslationContextTypes) -> str:
    """The catalogue's msgctxt for a string of the tree: where it stands (a word may be a name in one
    place and a description in another). A context menu's name may hold spaces and capitals, so it has
    its own context."""
    location = context.location
    if location is app_commands.TranslationContextLocation.command_name and isinstance(
        context.data, app_commands.ContextMenu
    ):
        return "context_menu_name"
    return location.name


class CatalogueTranslator(app_commands.Translator):
    def __init__(self, commands: Catalogues, messages: Catalogues | None = None) -> None:
        self._commands = commands
        self._messages = messages

    async def translate(
        self, string: app_commands.locale_str, locale: Locale, context: app_commands.TranslationContextTypes
    ) -> str | None:
        if context.location is app_commands.TranslationContextLocation.other:
            messages = self._messages
            return None if messages is None else messages.translate(locale.value, string.message)
        return self._commands.translate(locale.value, string.message, context_of(context))
