"""Every button click and form submit reaches the bot here and gets an answer. The custom id says what it
is about (bot.domain.custom_ids); the cog that owns that kind handles it. An id the bot cannot read (mangled,
forged, from before a change, too large for the database) is answered privately instead of left to
Discord's "This interaction failed".

Why one listener and not discord.py's DynamicItem: forms cannot be DynamicItems, ids that match no
template need a listener anyway, and DynamicItem drops a click silently when the message no longer
carries that button or the item cannot be built, which is the silence this removes."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

import discord
from discord.ext import commands

from bot.domain import custom_ids
from cogs.flow import refuse

log = logging.getLogger(__name__)

Handler = Callable[[discord.Interaction, int], Awaitable[None]]
KINDS = {
    discord.InteractionType.component: custom_ids.BUTTONS,
    discord.InteractionType.modal_submit: custom_ids.FORMS,
}


async def gone(interaction: discord.Interaction) -> None:
    """The answer to a button or form that names nothing the bot knows in this server. A job of another
    server gets the same answer as one that never existed, so ids cannot be probed across servers."""
    form = interaction.type is discord.InteractionType.modal_submit
    await refuse(interaction, "This form no longer works." if form else "This button no longer works.")


def _raw_data(interaction: discord.Interaction) -> Mapping[str, Any]:
    """The interaction's data as Discord sent it, read as plain JSON: discord.py types it as a union of
    TypedDicts, one per interaction type, and the forms' nested components vary more than those say."""
    return interaction.data or {}


def form_values(interaction: discord.Interaction) -> dict[str, str]:
    """A submitted form's text inputs by custom id (in action rows, or in labels)."""

    def walk(components: list[Any]) -> Iterator[dict[str, Any]]:
        for component in components:
            if isinstance(component, dict):
                yield component
                yield from walk(component.get("components") or [])
                if isinstance(component.get("component"), dict):
                    yield from walk([component["component"]])

    found = walk(list(_raw_data(interaction).get("components") or []))
    return {str(c["custom_id"]): str(c["value"]) for c in found if "custom_id" in c and "value" in c}


class ComponentRouter(commands.Cog):
    def __init__(self, handlers: dict[str, Handler]) -> None:
        self._handlers = handlers

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        kinds = KINDS.get(interaction.type)
        if kinds is None:
            return  # commands and autocomplete have their own tree
        parsed = custom_ids.parse(str(_raw_data(interaction).get("custom_id", "")))
        # Discord sends the bot only its own components' interactions, and every one of them carries a
        # sora: id, so anything unreadable is stale or forged: answer it rather than let it fail.
        if parsed is None or parsed.kind not in kinds or parsed.kind not in self._handlers:
            await gone(interaction)
            return
        try:
            await self._handlers[parsed.kind](interaction, parsed.id)
        except Exception:
            log.exception(
                "%s %s failed guild=%s user=%s", parsed.kind, parsed.id, interaction.guild_id, interaction.user.id
            )
            try:
                await refuse(interaction, "Sorry, that failed on our side; please try again.")
            except discord.HTTPException:
                log.warning("could not tell the member about the error (token expired?)")
