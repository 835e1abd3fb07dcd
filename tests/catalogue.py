"""The catalogues' templates: `python -m tests.catalogue` writes bot/i18n/locales/commands.pot (read off
the real command tree: every name and description discord.py registers) and messages.pot (every
`Text("…")` literal in bot/ and cogs/, as xgettext would), and adds each new string to every language's
.po (untranslated, for a translator to fill). The catalogue tests use command_strings() and
message_strings() to prove nothing is missing.

`python -m tests.catalogue --translations FILE.json` also fills the .po files from a JSON object
{msgid: {language: translation}} (every entry with that msgid: in messages always, in commands where it
is untranslated): how a
change's translations are carried across a merge of the generated .po files."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po
from discord import Locale, app_commands

from bot.app import install_shapes
from bot.discord.client import SoraBot
from bot.discord.translator import context_of
from bot.i18n.catalogues import LANGUAGES, LOCALES_DIR

ROOT = LOCALES_DIR.parents[2]


class _Recorder(app_commands.Translator):
    """Asked for every string of the tree, as discord.py asks when it registers the commands."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []  # (msgctxt, msgid, the command it belongs to)

    async def translate(
        self, string: app_commands.locale_str, locale: Locale, context: app_commands.TranslationContextTypes
    ) -> str | None:
        data = context.data
        command = getattr(data, "qualified_name", None) or getattr(getattr(data, "command", None), "qualified_name", "")
        self.seen.append((context_of(context), string.message, str(command)))
        return None


async def command_strings() -> list[tuple[str, str, str]]:
    """(msgctxt, msgid, command) of every string the tree's registration translates, in tree order."""

    async def nothing(*_: object) -> None:
        return None

    bot = SoraBot(message_content=False, install=install_shapes, register=nothing, on_first_ready=nothing)
    await install_shapes(bot)
    recorder = _Recorder()
    await bot.tree.set_translator(recorder)
    for command in bot.tree._get_all_commands():
        await command.get_translated_payload(bot.tree, recorder)
    return recorder.seen


def message_strings() -> list[tuple[str, str]]:
    """(msgid, where) of every Text("…") literal in bot/ and cogs/."""
    found = []
    for folder in ("bot", "cogs"):
        for filename, lineno, message, _comments, _context in extract_from_dir(
            ROOT / folder, method_map=[("**.py", "python")], keywords={"Text": None}
        ):
            if isinstance(message, str):
                found.append((message, f"{folder}/{filename}:{lineno}"))
    return found


def _write(domain: str, entries: list[tuple[str | None, str, str]], translations: dict[str, dict[str, str]]) -> None:
    """The domain's template from (msgctxt, msgid, comment) entries, and each language's .po updated."""
    template = Catalog(project="sora-discord-bot", domain=domain, creation_date=dt.datetime(2026, 1, 1))
    for context, msgid, comment in entries:
        if (msgid, context) not in template:
            template.add(msgid, context=context, auto_comments=[comment] if comment else [])
        elif comment:
            template[(msgid, context)].auto_comments.append(comment)
    with (LOCALES_DIR / f"{domain}.pot").open("wb") as file:
        write_po(file, template, width=120, omit_header=False)
    for language in LANGUAGES:
        path = LOCALES_DIR / language / "LC_MESSAGES" / f"{domain}.po"
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            with path.open("rb") as file:
                catalog = read_po(file, locale=language, domain=domain)
        else:
            catalog = Catalog(locale=language, domain=domain, project="sora-discord-bot")
        catalog.update(template, no_fuzzy_matching=True)
        for message in catalog:
            given = translations.get(message.id, {}).get(language) if isinstance(message.id, str) else None
            # A command's word may share its English with a sentence ("everyone": a subcommand's name and
            # a value): the commands catalogue takes a given translation only where it has none.
            if message.id and given and (domain == "messages" or not message.string):
                message.string = given
        with path.open("wb") as file:
            write_po(file, catalog, width=120, ignore_obsolete=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.catalogue")
    parser.add_argument("--translations", type=Path, action="append", default=[], help="{msgid: {language: text}}")
    translations: dict[str, dict[str, str]] = {}
    for path in parser.parse_args().translations:
        for msgid, by_language in json.loads(path.read_text(encoding="utf-8")).items():
            translations.setdefault(msgid, {}).update(by_language)
    commands = asyncio.run(command_strings())
    _write(
        "commands",
        [(context, msgid, f"/{command}" if command else "") for context, msgid, command in commands],
        translations,
    )
    messages = message_strings()
    _write("messages", [(None, msgid, where) for msgid, where in messages], translations)
    print(
        f"{len({(c, m) for c, m, _ in commands})} strings in commands.pot, {len({m for m, _ in messages})} in "
        f"messages.pot; {len(LANGUAGES)} languages updated"
    )


if __name__ == "__main__":
    main()
