"""The buttons' DynamicItem templates take exactly the ids the bot makes (bot.domain.custom_ids), and
will_handle() agrees with discord.py on which clicks an item takes."""

from __future__ import annotations

import re
from types import SimpleNamespace

import discord
import pytest

from bot.discord.buttons import JobButton, will_handle
from bot.domain import custom_ids
from cogs.cancel import CancelButton
from cogs.remix import RemixButton, RerollButton

ITEMS: list[type[JobButton]] = [CancelButton, RemixButton, RerollButton]


def taking(custom_id: str) -> list[type[JobButton]]:
    return [item for item in ITEMS if item.__discord_ui_compiled_template__.fullmatch(custom_id)]


def test_each_button_the_bot_makes_is_taken_by_one_item_with_its_job():
    for make, item in (
        (custom_ids.cancel, CancelButton),
        (custom_ids.remix, RemixButton),
        (custom_ids.reroll, RerollButton),
    ):
        for job_id in (1, 12, custom_ids.MAX_ID):
            custom_id = make(job_id)
            assert taking(custom_id) == [item]
            match = item.__discord_ui_compiled_template__.fullmatch(custom_id)
            assert match is not None and custom_ids.bounded(match[1]) == job_id


@pytest.mark.parametrize(
    "text",
    [
        "sora:cancel:0",
        "sora:cancel:007",
        "sora:remix:-1",
        "sora:reroll:1 ",
        "sora:remix:١٢",
        "sora:remix-prompt:1",
        "sora:animate:1",
        "SORA:cancel:1",
        "sora:remix:" + "9" * 20,
        "",
    ],
)
def test_nothing_else_is_taken(text):
    assert taking(text) == []


def test_an_id_above_max_is_taken_but_names_nothing():
    match = re.fullmatch(custom_ids.REROLL_TEMPLATE, f"sora:reroll:{2**63}")
    assert match is not None and custom_ids.bounded(match[1]) is None


def click(custom_id: str, carried: list[str] | None) -> discord.Interaction:
    """A click as will_handle reads it: its data and the clicked message's components."""
    message = None
    if carried is not None:
        buttons = [discord.Button._raw_construct(custom_id=c, type=discord.ComponentType.button) for c in carried]
        message = SimpleNamespace(components=[SimpleNamespace(children=buttons)])
    return SimpleNamespace(data={"custom_id": custom_id}, message=message)  # type: ignore[return-value]


def test_will_handle_only_what_a_template_matches_on_a_message_carrying_it():
    assert will_handle(click("sora:cancel:5", ["sora:cancel:5"]), ITEMS)
    assert will_handle(click("sora:reroll:5", ["sora:remix:5", "sora:reroll:5"]), ITEMS)
    assert not will_handle(click("sora:cancel:5", ["sora:cancel:6"]), ITEMS)  # the message does not carry it
    assert not will_handle(click("sora:cancel:5", None), ITEMS)  # no message
    assert not will_handle(click("sora:cancel:x", ["sora:cancel:x"]), ITEMS)  # no template matches
    assert not will_handle(click("sora:cancel:5", ["sora:cancel:5"]), [RemixButton])  # not registered
