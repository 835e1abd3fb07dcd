"""The Messenger for Discord: progress edits through the live interaction while its token lasts,
through the channel with the bot token after that (or after a restart); videos as ordinary messages."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypedDict

import aiohttp
import discord

from bot.discord.localize import for_server, localized
from bot.domain import custom_ids
from bot.domain.messenger import DeleteFailed, PostForbidden, PostTooLarge, PostUnavailable, VideoCard
from bot.domain.models import Job, JobState
from bot.domain.text import Text

# Puts a text in the reader's language (bot/discord/localize.py).
Say = Callable[[str], Awaitable[str]]

log = logging.getLogger(__name__)

# Interaction tokens live 15 minutes; stop using one a little before, so an edit never races the expiry.
TOKEN_MARGIN = dt.timedelta(minutes=14)
DEFAULT_UPLOAD_LIMIT = 10 * 2**20


class _SendOptions(TypedDict, total=False):
    """send() arguments a video post may leave out: discord.py's signatures take no None for them (its
    default), so they are passed only when set."""

    reference: discord.MessageReference
    file: discord.File


class DiscordMessenger:
    def __init__(self, client: discord.Client) -> None:
        self._client = client
        self._interactions: dict[int, discord.Interaction] = {}

    def attach(self, job_id: int, interaction: discord.Interaction) -> None:
        self._interactions[job_id] = interaction

    def _live(self, job_id: int) -> discord.Interaction | None:
        interaction = self._interactions.get(job_id)
        if interaction is not None and discord.utils.utcnow() - interaction.created_at > TOKEN_MARGIN:
            self._interactions.pop(job_id, None)
            return None
        return interaction

    def _for_server(self, job: Job) -> Say:
        async def say(text: str) -> str:
            return await for_server(self._client, job.guild_id, text)

        return say

    def _channel(self, job: Job) -> discord.PartialMessageable:
        return self._client.get_partial_messageable(job.channel_id, guild_id=job.guild_id)

    async def edit_progress(self, job: Job, text: str) -> int | None:
        say = self._for_server(job)  # public: in the server's language
        view = await cancel_view(job.id, say) if job.state in CANCELLABLE else None  # None removes the button
        text = await say(text)
        interaction = self._live(job.id)
        if interaction is not None:
            try:
                message = await interaction.edit_original_response(content=text, view=view)
                return message.id
            except discord.HTTPException as exc:
                log.info("job=%s interaction edit failed (%s); using the channel", job.id, exc.status)
                self._interactions.pop(job.id, None)
        if job.progress_message_id is None:
            return None
        await self._channel(job).get_partial_message(job.progress_message_id).edit(content=text, view=view)
        return job.progress_message_id

    async def post_video(self, job: Job, card: VideoCard, file: Path | None) -> int:
        reply_to = job.reply_to_message_id or job.progress_message_id
        options: _SendOptions = {}
        if reply_to:
            options["reference"] = discord.MessageReference(
                message_id=reply_to, channel_id=job.channel_id, guild_id=job.guild_id, fail_if_not_exists=False
            )
        view = await video_view(job.id, card.remixable, self._for_server(job))

        async def say(text: str) -> str:  # the channel's readers: the server's language
            return await for_server(self._client, job.guild_id, text)

        if file is not None:
            options["file"] = discord.File(file, filename=f"sora-{job.id}.mp4")
        try:
            message = await self._channel(job).send(
                content=await say(Text("{member} your video is ready.", member=f"<@{job.user_id}>")),
                embed=await render_card(card, say),
                # Ping the requester, never anyone named in the prompt.
                allowed_mentions=discord.AllowedMentions(
                    everyone=False, roles=False, users=[discord.Object(job.user_id)], replied_user=False
                ),
                nonce=f"sora-job-{job.id}",
                view=view,
                **options,
            )
        except (discord.Forbidden, discord.NotFound) as exc:  # no permission, or the channel is gone
            raise PostForbidden(str(exc.status)) from exc
        except discord.HTTPException as exc:
            if exc.status == 413 or exc.code == 40005:
                raise PostTooLarge() from exc
            if exc.status >= 500:  # discord.py retries 500/502/504 a few times itself, never 503
                raise PostUnavailable(f"HTTP {exc.status}") from exc
            raise
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:  # the connection dropped: answer lost
            raise PostUnavailable(type(exc).__name__) from exc
        return message.id

    async def find_posted_video(self, job: Job) -> int | None:
        after = discord.Object(discord.utils.time_snowflake(dt.datetime.fromtimestamp(job.created_at, dt.UTC)))
        marker = footer_text(job.id)
        try:
            async for message in self._channel(job).history(limit=100, after=after):
                if self._client.user and message.author.id == self._client.user.id:
                    if any(embed.footer.text == marker for embed in message.embeds):
                        return message.id
        except discord.HTTPException as exc:
            if exc.status < 500:  # no Read Message History, or the channel is gone: nothing to find
                return None
            raise PostUnavailable(f"HTTP {exc.status}") from exc
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise PostUnavailable(type(exc).__name__) from exc
        return None

    async def tell_requester(self, job: Job, text: str) -> None:
        interaction = self._live(job.id)
        self.forget(job.id)
        if interaction is not None:  # private: in the member's own language
            await interaction.followup.send(await localized(interaction, text), ephemeral=True)

    async def delete_message(self, guild_id: int, channel_id: int, message_id: int) -> None:
        channel = self._client.get_partial_messageable(channel_id, guild_id=guild_id)
        try:
            await channel.get_partial_message(message_id).delete()
        except discord.NotFound:
            return  # Unknown Message (10008), or its channel is gone: deleted is what was asked
        except discord.HTTPException as exc:  # 403, or 5xx after discord.py's own retries
            raise DeleteFailed(f"HTTP {exc.status}") from exc
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise DeleteFailed(type(exc).__name__) from exc

    def upload_limit(self, job: Job) -> int:
        guild = self._client.get_guild(job.guild_id)
        return guild.filesize_limit if guild is not None else DEFAULT_UPLOAD_LIMIT

    def forget(self, job_id: int) -> None:
        self._interactions.pop(job_id, None)


# While fal has not started a job it can still be cancelled (the click re-reads the state anyway).
CANCELLABLE = (JobState.WAITING, JobState.PENDING, JobState.SUBMITTING, JobState.QUEUED)


async def cancel_view(job_id: int, say: Say) -> discord.ui.View:
    """A view that only carries the button; clicks are handled by the cog's DynamicItem by custom id.
    `say`: its label in the reader's language."""
    view = discord.ui.View(timeout=None)
    view.add_item(
        discord.ui.Button(
            label=await say(Text("Cancel")), style=discord.ButtonStyle.secondary, custom_id=custom_ids.cancel(job_id)
        )
    )
    return view


async def video_view(job_id: int, remixable: bool, say: Say) -> discord.ui.View:
    """Remix, Re-roll and Delete under every video; clicks are handled by custom id (see cogs.remix and
    cogs.delete). `say`: the labels in the reader's language."""
    view = discord.ui.View(timeout=None)
    if remixable:
        view.add_item(discord.ui.Button(label=await say(Text("Remix")), emoji="🎨", custom_id=custom_ids.remix(job_id)))
    view.add_item(discord.ui.Button(label=await say(Text("Re-roll")), emoji="🎲", custom_id=custom_ids.reroll(job_id)))
    view.add_item(
        discord.ui.Button(
            label=await say(Text("Delete")),
            emoji="🗑️",
            style=discord.ButtonStyle.secondary,
            custom_id=custom_ids.delete(job_id),
        )
    )
    return view


async def delete_confirm_view(job_id: int, say: Say) -> discord.ui.View:
    """The private confirmation's two buttons, persistent like the others (see cogs.delete)."""
    view = discord.ui.View(timeout=None)
    view.add_item(
        discord.ui.Button(
            label=await say(Text("Delete")),
            style=discord.ButtonStyle.danger,
            custom_id=custom_ids.delete_confirm(job_id),
        )
    )
    view.add_item(
        discord.ui.Button(
            label=await say(Text("Keep")),
            style=discord.ButtonStyle.secondary,
            custom_id=custom_ids.delete_keep(job_id),
        )
    )
    return view


def footer_text(job_id: int) -> str:
    return f"job {job_id}"


async def render_card(card: VideoCard, say: Say | None = None) -> discord.Embed:
    """The embed under a video; `say` puts its words in the reader's language (English without one)."""

    async def t(text: str) -> str:
        return await say(text) if say is not None else str(text)

    model = "Sora 2 Pro" if card.spec.model == "sora-2-pro" else "Sora 2"
    description = card.spec.prompt if len(card.spec.prompt) <= 4000 else card.spec.prompt[:3999] + "…"
    if card.spec.kind == "remix":
        title = Text("{model} remix (simulated)", model=model) if card.simulated else Text("{model} remix", model=model)
    else:
        title = Text("{model} video (simulated)", model=model) if card.simulated else Text("{model} video", model=model)
    colour = discord.Colour.light_grey() if card.simulated else discord.Colour.blurple()
    embed = discord.Embed(title=await t(title), description=description, colour=colour)
    if card.link:
        embed.url = card.link
    cost = f"${card.cost_usd:.2f}"
    if card.simulated:
        cost = await t(Text("{cost} (counted, not billed)", cost=cost))
    embed.add_field(name=await t(Text("Model")), value=model)
    embed.add_field(name=await t(Text("Duration")), value=f"{card.spec.duration} s")
    embed.add_field(name=await t(Text("Aspect ratio")), value=card.spec.aspect_ratio)
    embed.add_field(name=await t(Text("Resolution")), value=card.spec.resolution)
    embed.add_field(name=await t(Text("Cost")), value=cost)
    embed.add_field(name=await t(Text("Requested by")), value=f"<@{card.user_id}>")
    embed.add_field(name=await t(Text("Video ID")), value=f"`{card.video_id}`", inline=False)
    if card.parent_link:
        embed.add_field(name=await t(Text("Remix of")), value=card.parent_link, inline=False)
    if card.simulated:
        embed.add_field(
            name=await t(Text("Simulated")),
            value=await t(
                Text(
                    "Made by this bot's try-it-free mode: a test pattern, not a Sora video. "
                    "fal was not asked and nothing was paid; quotas counted it at the real price."
                )
            ),
            inline=False,
        )
    if card.note:
        embed.add_field(
            name=await t(Text("Note")), value=card.note + (f"\n{card.link}" if card.link else ""), inline=False
        )
    embed.set_footer(text=footer_text(card.job_id))
    return embed
