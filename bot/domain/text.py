"""Text: a sentence a member reads, in English, carrying what its translation needs. It is a str (the
English sentence), so it goes anywhere a str goes; where it is shown to a member (bot/discord/localize.py)
its msgid, the English pattern, is looked up in the member's language and filled with the same values.
A Text joined to other strings becomes a plain str: English, never a broken translation.

Write the pattern as a literal (`Text("… {count} …", count=n)`), never an f-string: the catalogue's
extractor (tests/catalogue.py) reads the literal, and the placeholders are what translators keep."""

from __future__ import annotations

from typing import Any


class Text(str):
    msgid: str
    params: dict[str, Any]

    def __new__(cls, msgid: str, /, **params: Any) -> Text:
        text = super().__new__(cls, msgid.format(**params) if params else msgid)
        text.msgid = msgid
        text.params = params
        return text

    def __reduce__(self) -> tuple[Any, ...]:  # pickling (multiprocessing, copies) keeps the msgid
        return (_rebuild, (self.msgid, self.params))


def _rebuild(msgid: str, params: dict[str, Any]) -> Text:
    return Text(msgid, **params)
