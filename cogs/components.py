"""What reaches the bot from its buttons and forms besides the buttons' own DynamicItems
(bot.discord.buttons): form submits, and clicks no DynamicItem takes.

Forms are routed here by custom id (bot.domain.custom_ids) to the cog that owns their kind: a form sent
before a restart is unknown to discord.py's modal store, so its submit would otherwise go unanswered. A
click whose id matches no button template, or that names a button the clicked message does not carry
(mangled, forged, from before a change, too large for the database), is answered privately instead of
left to Discord's "This interaction failed"; a click a DynamicItem takes is left to it. Forms, like
buttons, go through the shutdown check, and every failure ends in bot.discord.errors.report."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import discord
from discord.ext import commands

from bot.discord import errors
from bot.discord.buttons import BUTTON_GONE, will_handle
from bot.discord.client import RESTARTING, is_draining
from bot.domain import custom_ids

Handler = Callable[[discord.Interaction, int], Awaitable[None]]
FORM_GONE = "This form no longer works."
CogT = TypeVar("CogT", bound=commands.Cog)


async def gone(interaction: discord.Interaction) -> None:
    """The answer to a button or form that names nothing the bot knows in this server. A job of another
    server gets the same answer as one that never existed, so ids cannot be probed across servers."""
    form = interaction.type is discord.InteractionType.modal_submit
    await errors.answer(interaction, FORM_GONE if form else BUTTON_GONE)


def cog_of(interaction: discord.Interaction, cog: type[CogT]) -> CogT:
    """The installed cog of this type, for a DynamicItem (discord.py builds those, without the cog)."""
    client = interaction.client
    found = client.get_cog(cog.__cog_name__) if isinstance(client, commands.Bot) else None
    if not isinstance(found, cog):
        raise LookupError(f"{cog.__cog_name__} is not installed")
    return found


def _raw_data(interaction: discord.Interaction) -> Mapping[str, Any]:
    """The interaction's data as Discord sent it, read as plain JSON: discord.py types it as a union of
    TypedDicts, one per interaction type, and the forms' nested components vary more than those say."""
    return interaction.data or {}


PROMPT_INPUT = "prompt"  # the custom id of a prompt form's text input


def prompt_form(custom_id: str, title: str, label: str) -> discord.ui.Modal:
    """A form asking for a prompt (`title` and `label` in the member's language). Only the form: its submit
    is routed by its custom id (ComponentListener), and it is stopped before it is sent, so discord.py does
    not keep it waiting in memory."""
    form = discord.ui.Modal(title=title, custom_id=custom_id)
    prompt: discord.ui.TextInput[discord.ui.Modal] = discord.ui.TextInput(
        style=discord.TextStyle.paragraph, min_length=1, max_length=4000, custom_id=PROMPT_INPUT
    )
    form.add_item(discord.ui.Label(text=label, component=prompt))
    form.stop()
    return form


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


class ComponentListener(commands.Cog):
    def __init__(self, forms: dict[str, Handler], buttons: Sequence[type[discord.ui.DynamicItem[Any]]]) -> None:
        self._forms = forms
        self._buttons = tuple(buttons)

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        if interaction.type is discord.InteractionType.component:
            # Discord sends the bot only its own components' interactions: one no DynamicItem takes is
            # stale or forged, and is answered rather than left to fail.
            if not will_handle(interaction, self._buttons):
                await errors.tell(interaction, BUTTON_GONE)
        elif interaction.type is discord.InteractionType.modal_submit:
            await self._submitted(interaction)

    async def _submitted(self, interaction: discord.Interaction) -> None:
        custom_id = str(_raw_data(interaction).get("custom_id", ""))
        parsed = custom_ids.parse(custom_id)
        try:
            if parsed is None or parsed.kind not in custom_ids.FORMS or parsed.kind not in self._forms:
                await gone(interaction)
            elif is_draining(interaction.client):
                await errors.answer(interaction, RESTARTING)  # nothing starts while the bot shuts down
            else:
                await self._forms[parsed.kind](interaction, parsed.id)
        except Exception as exc:
            job_id = parsed.id if parsed is not None and parsed.kind == "remix-prompt" else None
            await errors.report(interaction, exc, kind="form", name=custom_id, job_id=job_id)
