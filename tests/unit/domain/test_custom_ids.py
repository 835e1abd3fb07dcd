"""The bot's custom ids read back exactly as they were made; anything else reads as nothing."""

import pytest

from bot.domain import custom_ids
from bot.domain.custom_ids import CustomId


def test_every_id_the_bot_makes_reads_back():
    assert custom_ids.parse(custom_ids.cancel(12)) == CustomId("cancel", 12)
    assert custom_ids.parse(custom_ids.remix(2**63 - 1)) == CustomId("remix", 2**63 - 1)
    assert custom_ids.parse(custom_ids.reroll(7)) == CustomId("reroll", 7)
    assert custom_ids.parse(custom_ids.remix_prompt(7)) == CustomId("remix-prompt", 7)
    assert custom_ids.parse(custom_ids.animate(1234567890123456789)) == CustomId("animate", 1234567890123456789)


@pytest.mark.parametrize(
    "text",
    [
        "sora:reroll:abc",
        "sora:cancel:-1",
        "sora:cancel:0",
        "sora:cancel:007",
        "sora:remix:" + "9" * 40,
        f"sora:remix:{2**63}",
        "sora:remix:1 ",
        "sora:remix:1\n",
        "sora:remix:١٢",  # Arabic-Indic digits: \d would take them
        "sora:other:1",
        "SORA:remix:1",
        "other-app:remix:1",
        "",
    ],
)
def test_anything_else_reads_as_nothing(text):
    assert custom_ids.parse(text) is None
