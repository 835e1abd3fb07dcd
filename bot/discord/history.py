"""How a /videos page looks: an embed of its lines, the Remix and Re-roll selects, and ◀ ▶. Every
component carries a custom id of bot.domain.custom_ids, so the page keeps working after a restart."""

from __future__ import annotations

import discord

from bot.discord.messenger import Say
from bot.domain import custom_ids
from bot.domain import video_history as texts
from bot.domain.video_history import HistoryEntry, HistoryPage


async def render_page(page: HistoryPage, say: Say) -> tuple[discord.Embed, discord.ui.View]:
    """`say`: the page's words in the member's language."""
    numbered = list(enumerate(page.entries, start=1))
    embed = discord.Embed(
        title=await say(texts.page_title(page.scope)),
        description="\n".join([await say(texts.line(n, e)) for n, e in numbered]),
        colour=discord.Colour.blurple(),
    )
    embed.set_footer(text=await say(texts.page_footer()))
    view = discord.ui.View(timeout=None)
    remixable = [(n, e) for n, e in numbered if e.video.remixable]
    if remixable:
        view.add_item(_select("remix", await say(texts.remix_placeholder()), remixable, row=0))
    if numbered:
        view.add_item(_select("reroll", await say(texts.reroll_placeholder()), numbered, row=1))
    for direction, label, edge in (("newer", "◀", page.newer), ("older", "▶", page.older)):
        if edge is not None:
            custom_id = custom_ids.page(page.scope, page.user_id, direction, edge.created_at, edge.job_id)
            view.add_item(
                discord.ui.Button(label=label, style=discord.ButtonStyle.secondary, custom_id=custom_id, row=2)
            )
    return embed, view


def _select(
    action: str, placeholder: str, entries: list[tuple[int, HistoryEntry]], row: int
) -> discord.ui.Select[discord.ui.View]:
    options = [discord.SelectOption(label=texts.pick_label(n, e), value=str(e.video.job_id)) for n, e in entries]
    return discord.ui.Select(custom_id=custom_ids.pick(action), placeholder=placeholder, options=options, row=row)
