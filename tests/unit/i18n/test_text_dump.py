"""A Text kept in the database (bot/domain/text.py dump/load) comes back as the same Text: pattern, values,
nested Texts, amounts and times, whatever the member wrote."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.text import Moment, Money, Text, dump, load

MOMENT = Moment(dt.datetime(2026, 11, 30, 0, 0, tzinfo=dt.UTC))


def _same(a: object, b: object) -> bool:
    if isinstance(a, Text) or isinstance(b, Text):
        return (
            isinstance(a, Text)
            and isinstance(b, Text)
            and a.msgid == b.msgid
            and a.params.keys() == b.params.keys()
            and all(_same(a.params[k], b.params[k]) for k in a.params)
        )
    return a == b and type(a) is type(b)


@given(words=st.text(), micros=st.integers(-(10**12), 10**12), count=st.integers())
def test_a_text_comes_back_as_it_was_written(words: str, micros: int, count: int) -> None:
    refunded = Text("{amount} refunded", amount=Money(micros))
    text = Text(
        "{headline}\n🚫 Cancelled by {actor}; {refunded} ({count}, {when}).",
        headline=words,
        actor="<@9>",
        refunded=refunded,
        count=count,
        when=MOMENT,
    )
    back = load(str(dump(text)))
    assert _same(back, text) and back == text


def test_a_plain_sentence_is_not_dumped_and_garbage_is_refused() -> None:
    assert dump("plain English") is None
    with pytest.raises(ValueError):
        load('"just a string"')
    with pytest.raises(ValueError):
        load('{"what": 1}')
