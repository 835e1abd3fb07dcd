"""/videos (a member's videos in this server, paged) and /show (an old video's card again, with its
buttons). Both answer privately; the pages' ◀ ▶ are persistent buttons for the member who asked only."""

from __future__ import annotations

import re
from typing import Any, Literal, Self

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord import errors
from bot.discord.buttons import JobButton
from bot.discord.history import render_page
from bot.discord.localize import localized
from bot.discord.messenger import render_card, video_view
from bot.domain import custom_ids, video_refs
from bot.domain.video_history import Cursor, Direction, HistoryPage, Scope, no_videos, not_yours
from bot.ops.video_history import VideoHistory
from bot.storage.videos import VideoStore
from cogs.components import cog_of
from cogs.flow import refuse
from cogs.video_option import video_choices

NOTHING = discord.AllowedMentions.none()  # prompts are the members' text: they never ping anyone


class VideosCog(commands.Cog):
    def __init__(self, history: VideoHistory, videos: VideoStore) -> None:
        self._history = history
        self._videos = videos
        self.buttons = [PageButton]

    @app_commands.command(name="videos", description="Your recent videos in this server (or the server's)")
    @app_commands.describe(scope="Whose videos: yours (default) or the whole server's")
    @app_commands.guild_only()
    async def videos(self, interaction: discord.Interaction, scope: Literal["mine", "server"] = "mine") -> None:
        assert interaction.guild_id is not None
        page = await self._history.page(interaction.guild_id, interaction.user.id, scope)
        if not page.entries:
            await refuse(interaction, no_videos(scope))
            return
        embed, view = await render_page(page, lambda text: localized(interaction, text))
        await interaction.response.send_message(embed=embed, view=view, ephemeral=True, allowed_mentions=NOTHING)

    async def turn_page(
        self, interaction: discord.Interaction, scope: Scope, user_id: int, direction: Direction, edge: Cursor
    ) -> None:
        if interaction.user.id != user_id:
            await errors.answer(interaction, not_yours())
            return
        assert interaction.guild_id is not None
        page = await self._history.page(interaction.guild_id, user_id, scope, edge, direction)
        await self._show_page(interaction, page)

    async def _show_page(self, interaction: discord.Interaction, page: HistoryPage) -> None:
        if not page.entries:  # every video of the list is gone since
            empty = await localized(interaction, no_videos(page.scope))
            await interaction.response.edit_message(content=empty, embed=None, view=None)
            return
        embed, view = await render_page(page, lambda text: localized(interaction, text))
        await interaction.response.edit_message(embed=embed, view=view, allowed_mentions=NOTHING)

    @app_commands.command(name="show", description="Show one of this server's videos again, with its buttons")
    @app_commands.describe(video="A video ID, a link to one of my video messages, or pick a recent video")
    @app_commands.guild_only()
    async def show(self, interaction: discord.Interaction, video: str) -> None:
        assert interaction.guild_id is not None
        try:
            card = await self._history.card(interaction.guild_id, video)
        except video_refs.UnknownVideo as exc:
            await refuse(interaction, exc.text)
            return
        await interaction.response.send_message(
            embed=await render_card(card, lambda text: localized(interaction, text)),
            view=await video_view(card.job_id, card.remixable, lambda text: localized(interaction, text)),
            ephemeral=True,
            allowed_mentions=NOTHING,
        )

    @show.autocomplete("video")
    async def _video_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await video_choices(self._videos, interaction.guild_id, current, remixable_only=False)


class PageButton(JobButton, template=custom_ids.PAGE_TEMPLATE):
    """◀ or ▶ on a /videos page; the id says whose list, which way, and the page's edge (its job is the
    JobButton's id)."""

    def __init__(self, button: discord.ui.Button[Any], match: re.Match[str]) -> None:
        super().__init__(button, custom_ids.bounded(match[5]))
        self.scope: Scope = "mine" if match[1] == "mine" else "server"
        self.user_id = custom_ids.bounded(match[2])
        self.direction: Direction = "newer" if match[3] == "newer" else "older"
        self.created_at = float(match[4])

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> Self:
        return cls(discord.ui.Button(custom_id=match[0]), match)

    async def clicked(self, interaction: discord.Interaction, job_id: int) -> None:
        if self.user_id is None:
            await errors.answer(interaction, not_yours())
            return
        edge = Cursor(self.created_at, job_id)
        await cog_of(interaction, VideosCog).turn_page(interaction, self.scope, self.user_id, self.direction, edge)
