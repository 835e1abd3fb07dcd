"""Text: a sentence a member reads, in English, carrying what its translation needs. It is a str (the
English sentence), so it goes anywhere a str goes; where it is shown to a member (bot/discord/localize.py)
its msgid, the English pattern, is looked up in the member's language and filled with the same values.
A Text joined to other strings becomes a plain str: English, never a broken translation.

Write the pattern as a literal (`Text("… {count} …", count=n)`), never an f-string: the catalogue's
extractor (tests/catalogue.py) reads the literal, and the placeholders are what translators keep."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Moment:
    """A time in a sentence: 'Mon 24 Nov 00:00 UTC' in English, the member's own way elsewhere."""

    at: dt.datetime

    def __str__(self) -> str:
        return self.at.astimezone(dt.UTC).strftime("%a %d %b %H:%M UTC")

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


@dataclass(frozen=True)
class Money:
    """An amount of US dollars in a sentence: '$1.20' in English, '1,20 $' in German."""

    micros: int

    def __str__(self) -> str:
        return f"${self.micros / 1_000_000:,.2f}"

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def dump(text: str) -> str | None:
    """A Text as JSON (its pattern and values, nested Texts, amounts and times too), for a sentence kept in
    the database to be translated when it is shown, after a restart as well; None for a plain str."""
    return json.dumps(_encode(text), ensure_ascii=False) if isinstance(text, Text) else None


def load(data: str) -> Text:
    """The Text dump() wrote. Raises ValueError for anything else."""
    text = _decode(json.loads(data))
    if not isinstance(text, Text):
        raise ValueError("not a dumped Text")
    return text


def _encode(value: Any) -> Any:
    if isinstance(value, Text):
        return {"text": value.msgid, "values": {name: _encode(v) for name, v in value.params.items()}}
    if isinstance(value, Money):
        return {"money": value.micros}
    if isinstance(value, Moment):
        return {"moment": value.at.isoformat()}
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return str(value)  # a member's words, a mention, a link: written as they are


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if "text" in value:
            return Text(str(value["text"]), **{name: _decode(v) for name, v in dict(value["values"]).items()})
        if "money" in value:
            return Money(int(value["money"]))
        if "moment" in value:
            return Moment(dt.datetime.fromisoformat(str(value["moment"])))
        raise ValueError(f"unknown value {sorted(value)}")
    return value
