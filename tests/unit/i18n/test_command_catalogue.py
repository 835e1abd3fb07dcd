"""The slash commands in members' languages: every string discord.py registers (read off the real command
tree) has a translation in every catalogue; each translated name keeps Discord's naming rules and stays
unique beside its siblings; English and languages without a catalogue fall back to English."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import pytest
from discord import Locale, app_commands

from bot.discord.translator import CatalogueTranslator
from bot.i18n.catalogues import LANGUAGES, Catalogues, language_of
from tests.catalogue import command_strings
from tests.fakes.discord.routes import _chat_input_name

NAMES = ("command_name", "group_name", "parameter_name")


@pytest.fixture(scope="module")
def strings():
    return asyncio.run(command_strings())


@pytest.fixture(scope="module")
def catalogues():
    return Catalogues("commands")


def test_every_command_string_has_every_language(strings, catalogues):
    missing = {(c, m): catalogues.languages_missing(m, c) for c, m, _ in strings}
    assert {key: langs for key, langs in missing.items() if langs} == {}
    assert len(missing) > 100  # the tree was read: every command, option and choice


@pytest.mark.parametrize("language", LANGUAGES)
def test_translated_names_keep_discords_rules(strings, catalogues, language):
    locale = language.replace("_", "-")
    for context, msgid, _ in strings:
        text = catalogues.translate(locale, msgid, context)
        assert text is not None
        if context in NAMES:
            assert _chat_input_name(text), (context, msgid, text)
        elif context == "context_menu_name":
            assert 1 <= len(text) <= 32, (msgid, text)
        else:
            assert 1 <= len(text) <= 100, (context, msgid, text)


@pytest.mark.parametrize("language", LANGUAGES)
def test_translated_names_stay_unique_beside_their_siblings(strings, catalogues, language):
    locale = language.replace("_", "-")
    siblings: dict[tuple[str, str], set[str]] = defaultdict(set)  # (kind, owner) -> translated names
    for context, msgid, owner in strings:
        if context in NAMES or context == "context_menu_name":
            # An option's siblings are its command's options; a command's, the commands of its group (or
            # the top level, where the context menus are too, in a namespace of their own).
            parent = owner if context == "parameter_name" else owner.rpartition(" ")[0]
            parent = "" if context == "context_menu_name" else parent
            siblings[(context, parent)].add(msgid)
    for (context, parent), names in siblings.items():
        translated = [catalogues.translate(locale, name, context) for name in sorted(names)]
        assert len(set(translated)) == len(translated), (context, parent, translated)


@pytest.mark.parametrize(
    ("discord_locale", "language"),
    [("de", "de"), ("es-ES", "es"), ("es-419", "es"), ("fr", "fr"), ("ja", "ja"), ("pt-BR", "pt_BR"),
     ("en-US", None), ("en-GB", None), ("ko", None), ("zh-TW", None)],
)  # fmt: skip
def test_discords_locales_map_to_the_catalogues(discord_locale, language):
    assert language_of(discord_locale) == language


async def test_english_and_languages_without_a_catalogue_fall_back_to_english(catalogues):
    translator = CatalogueTranslator(catalogues)
    command = app_commands.Command(name="generate", description="d", callback=_generate)
    context = app_commands.TranslationContext(app_commands.TranslationContextLocation.command_name, command)
    name = app_commands.locale_str("generate")
    japanese = await translator.translate(name, Locale.japanese, context)
    assert japanese == catalogues.translate("ja", "generate", "command_name") and japanese not in (None, "generate")
    assert await translator.translate(name, Locale.american_english, context) is None  # English: the name itself
    assert await translator.translate(name, Locale.korean, context) is None  # no catalogue: English


async def _generate(interaction) -> None:  # the callback of a command built only to be translated
    return None
