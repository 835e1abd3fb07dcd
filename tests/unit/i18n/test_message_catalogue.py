"""What members read, in their languages: every Text("…") of bot/ and cogs/ is in every catalogue, each
translation keeps exactly the placeholders of its English pattern, and every Text is written so that
the extractor can read it (a literal, not an f-string)."""

from __future__ import annotations

import ast
import string
from pathlib import Path

import pytest

from bot.domain.text import Text
from bot.i18n.catalogues import LANGUAGES, Catalogues
from tests.catalogue import message_strings

ROOT = Path(__file__).resolve().parents[3]


def placeholders(pattern: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(pattern) if field is not None}


@pytest.fixture(scope="module")
def messages():
    return Catalogues("messages")


def test_every_message_has_every_language(messages):
    found = message_strings()
    assert len(found) >= 20  # the extractor read the code
    missing = {msgid: messages.languages_missing(msgid) for msgid, _ in found}
    assert {msgid: langs for msgid, langs in missing.items() if langs} == {}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_placeholder_survives_translation(messages, language):
    locale = language.replace("_", "-")
    for msgid, where in message_strings():
        translated = messages.translate(locale, msgid)
        assert translated is not None, (where, msgid)
        assert placeholders(translated) == placeholders(msgid), (where, language, translated)


def test_every_text_is_a_literal_the_extractor_can_read():
    for folder in ("bot", "cogs"):
        for path in (ROOT / folder).rglob("*.py"):
            if path == ROOT / "bot" / "domain" / "text.py":
                continue  # Text itself (its unpickling rebuilds one from a stored pattern)
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Text":
                    first = node.args[0] if node.args else None
                    assert isinstance(first, ast.Constant) and isinstance(first.value, str), (
                        f"{path.relative_to(ROOT)}:{node.lineno}: Text needs a literal pattern"
                    )


def test_a_text_is_its_english_sentence_and_keeps_its_pattern():
    text = Text("The prompt is {length} characters long; Sora accepts at most {limit}.", length=6001, limit=5000)
    assert text == "The prompt is 6001 characters long; Sora accepts at most 5000."
    assert (text.msgid, text.params) == ("The prompt is {length} characters long; Sora accepts at most {limit}.",
                                         {"length": 6001, "limit": 5000})  # fmt: skip
    assert type(text + "!") is str  # joined: plain English
