"""The bot's persistent buttons as discord.py DynamicItems: a click is matched by its custom id's template
(bot.domain.custom_ids), so buttons posted before a restart keep working; the handler re-reads the job.

discord.py only logs what fails in a DynamicItem and then leaves the click unanswered, and it gives up
silently when the clicked message does not carry the button. So: from_custom_id only reads the id; the
shutdown check answers for itself in interaction_check; every failure of a click goes to
bot.discord.errors.report; and will_handle() tells the listener for everything else (cogs.components)
which clicks are left to the items, so that no click is answered twice and none is left unanswered."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar, Self

import discord

from bot.discord import errors
from bot.discord.client import RESTARTING, is_draining
from bot.domain import custom_ids

BUTTON_GONE = "This button no longer works."


class JobButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"(?!)"):
    """A button about one job (its id in the template's first group). Subclasses give the template and
    clicked(); this base matches nothing itself and is never registered."""

    kind: ClassVar[str] = "button"

    def __init__(self, button: discord.ui.Button[Any], job_id: int | None) -> None:
        super().__init__(button)
        self.job_id = job_id  # None: too large to name any job

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> Self:
        return cls(discord.ui.Button(custom_id=match[0]), custom_ids.bounded(match[1]))

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        """The shutdown check: while the bot is draining no click starts anything, and it is answered here
        (discord.py drops a refused click without an answer)."""
        if not is_draining(interaction.client):
            return True
        try:
            await errors.answer(interaction, RESTARTING)
        except Exception as exc:  # discord.py would swallow it
            await self._failed(interaction, exc)
        return False

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            if self.job_id is None:
                await errors.answer(interaction, BUTTON_GONE)
            else:
                await self.clicked(interaction, self.job_id)
        except Exception as exc:  # discord.py would only log it, and the member would see "interaction failed"
            await self._failed(interaction, exc)

    async def clicked(self, interaction: discord.Interaction, job_id: int) -> None:
        raise NotImplementedError

    async def _failed(self, interaction: discord.Interaction, error: Exception) -> None:
        await errors.report(interaction, error, kind=self.kind, name=self.custom_id, job_id=self.job_id)


def will_handle(interaction: discord.Interaction, items: Iterable[type[discord.ui.DynamicItem[Any]]]) -> bool:
    """Whether one of these DynamicItems takes this click: its custom id matches a template and the clicked
    message carries a button (or select) with that id (discord.py's own conditions, ui/view.py
    schedule_dynamic_item_call)."""
    data: Any = interaction.data or {}
    custom_id = str(data.get("custom_id", ""))
    if not any(item.__discord_ui_compiled_template__.fullmatch(custom_id) for item in items):
        return False
    message = interaction.message
    if message is None:
        return False
    return any(
        isinstance(component, discord.Button | discord.SelectMenu) and component.custom_id == custom_id
        for component in _walk(message.components)
    )


def _walk(components: Iterable[Any]) -> Iterator[Any]:
    for component in components:
        yield component
        yield from _walk(getattr(component, "children", None) or ())
        accessory = getattr(component, "accessory", None)  # a section's button (components v2)
        if accessory is not None:
            yield accessory
