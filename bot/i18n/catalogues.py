"""gettext catalogues, read with Babel: `locales/<language>/LC_MESSAGES/<domain>.po`, one per language
the bot speaks besides English (English is the msgid itself). Read once at start; a missing or fuzzy
entry falls back to English."""

from __future__ import annotations

from pathlib import Path

from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).parent / "locales"
# The catalogues' languages, as gettext names them. Discord's locales map onto them (language_of).
LANGUAGES = ("de", "es", "fr", "ja", "pt_BR")


def language_of(discord_locale: str) -> str | None:
    """The catalogue language for one of Discord's locales ("pt-BR" -> "pt_BR", "es-419" -> "es"); None
    for English and for a language the bot has no catalogue of (then it speaks English)."""
    tag = discord_locale.replace("-", "_")
    if tag in LANGUAGES:
        return tag
    base = tag.split("_", 1)[0]
    return base if base in LANGUAGES else None


class Catalogues:
    """One gettext domain ("commands", "messages") in every language: (context, msgid) -> translation."""

    def __init__(self, domain: str, directory: Path = LOCALES_DIR) -> None:
        self.domain = domain
        self._entries: dict[str, dict[tuple[str | None, str], str]] = {}
        for language in LANGUAGES:
            path = directory / language / "LC_MESSAGES" / f"{domain}.po"
            entries: dict[tuple[str | None, str], str] = {}
            if path.exists():
                with path.open("rb") as file:
                    catalog = read_po(file, locale=language, domain=domain)
                for message in catalog:
                    if message.id and isinstance(message.id, str) and isinstance(message.string, str):
                        if message.string and not message.fuzzy:
                            entries[(message.context, message.id)] = message.string
            self._entries[language] = entries

    def translate(self, discord_locale: str, msgid: str, context: str | None = None) -> str | None:
        """The translation for this Discord locale, or None (English: the msgid stands)."""
        language = language_of(discord_locale)
        if language is None:
            return None
        return self._entries[language].get((context, msgid))

    def languages_missing(self, msgid: str, context: str | None = None) -> list[str]:
        """The languages with no translation of this entry (for the catalogue tests and the extractor)."""
        return [lang for lang in LANGUAGES if (context, msgid) not in self._entries[lang]]
