"""The one way a request becomes a job: the shutdown check, permissions and the server's rules, defer,
quota (all refused privately), then the runner. Every command, menu, modal and button that makes a video
goes through start_job; a reply to a video (reply-to-remix) through start_reply_job, which applies the same
checks and answers by replying, since a message has no private answer."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace

import discord

from bot.discord.client import RESTARTING, is_draining
from bot.discord.localize import localized
from bot.discord.messenger import DiscordMessenger
from bot.domain import sora
from bot.domain.models import Refused, VideoRequest
from bot.domain.text import Text
from bot.jobs.runner import JobRunner, Origin

log = logging.getLogger(__name__)

NEEDED = ("send_messages", "attach_files", "embed_links")


def missing_permissions(permissions: discord.Permissions) -> list[str]:
    return [name.replace("_", " ").title() for name in NEEDED if not getattr(permissions, name)]


def role_ids(user: discord.abc.User) -> tuple[int, ...]:
    return tuple(role.id for role in getattr(user, "roles", ()))


async def refuse(interaction: discord.Interaction, text: str) -> None:
    """A short private answer in the member's language, whether or not the interaction was already
    answered."""
    text = await localized(interaction, text)
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True)
    else:
        await interaction.response.send_message(text, ephemeral=True)


async def refuse_deferred(interaction: discord.Interaction, text: str) -> None:
    """Private after a public deferral: the first followup would replace the public "thinking…" answer,
    so that goes first."""
    text = await localized(interaction, text)
    await interaction.delete_original_response()
    await interaction.followup.send(text, ephemeral=True)


async def start_job(
    interaction: discord.Interaction,
    runner: JobRunner,
    messenger: DiscordMessenger,
    request: VideoRequest,
    check: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """check, if given, is slow (it may download): it runs after the deferral and may raise Refused."""
    if is_draining(interaction.client):
        # Shutting down: nothing reserved, no "thinking…" left that no one will ever edit.
        await refuse(interaction, RESTARTING)
        return
    missing = missing_permissions(interaction.app_permissions)
    if missing:
        text = Text(
            "I can't post videos in this channel: I'm missing {permissions}. Ask an admin, or use another channel.",
            permissions=", ".join(missing),
        )
        await refuse(interaction, text)
        return
    assert interaction.guild_id is not None and interaction.channel_id is not None
    origin = Origin(
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id,
        user_id=interaction.user.id,
        role_ids=role_ids(interaction.user),
    )
    try:
        # The server's rules: a read that never waits for a writer, so their refusal is the private answer.
        await runner.screen(request, origin)
    except Refused as exc:
        await refuse(interaction, exc.user_message)
        return
    # Then answer: Discord drops an interaction left unanswered for 3 s, and under load the quota's
    # transaction below waits its turn at the database for longer than that (nothing is recorded yet).
    acknowledged = await interaction.response.defer(thinking=True)
    # The "thinking…" message is the progress message: stored with the job, it can be edited from the
    # first moment, after a restart too, even if the bot dies before its first edit.
    origin = replace(origin, progress_message_id=acknowledged.message_id if acknowledged else None)
    try:
        if check is not None:
            await check()
        job = await runner.accept(request, origin)
    except Refused as exc:
        await refuse_deferred(interaction, exc.user_message)
        return
    except Exception:
        # Nothing was recorded. The public "thinking…" goes first, so the error path's answer (the first
        # followup, which would otherwise replace it) stays private.
        with contextlib.suppress(discord.HTTPException):
            await interaction.delete_original_response()
        raise
    messenger.attach(job.id, interaction)
    runner.start(job)


async def start_reply_job(
    client: discord.Client,
    message: discord.Message,
    runner: JobRunner,
    build: Callable[[], VideoRequest],
    queued: str,
) -> None:
    """start_job for a member's message (reply-to-remix): the same shutdown check, server's rules and quota.
    build() makes the request and may raise sora.InvalidRequest. A refusal is a reply that deletes itself
    after a minute (a message has no private answer); the acknowledgement, `queued`, is the job's progress
    message."""
    assert message.guild is not None
    me = message.guild.me
    if me is not None and missing_permissions(message.channel.permissions_for(me)):
        return  # nowhere to answer: stay silent rather than fail loudly
    origin = Origin(
        message.guild.id,
        message.channel.id,
        message.author.id,
        reply_to_message_id=message.id,
        role_ids=role_ids(message.author),
    )
    try:
        request = build()
        if is_draining(client):
            raise Refused(RESTARTING)
        await runner.screen(request, origin)
        job = await runner.accept(request, origin)
    except (sora.InvalidRequest, Refused) as exc:
        text = exc.user_message if isinstance(exc, Refused) else exc.text
        await message.reply(text, mention_author=False, delete_after=60)
        return
    try:
        ack = await message.reply(queued, mention_author=False)
    except discord.HTTPException as exc:
        # The job is accepted and its cost reserved: it runs without a progress message (rather than wait
        # for the next start, or tell the member to ask again for a video already on its way); the video
        # still arrives as a reply to the member's message.
        log.warning("job=%s the remix's acknowledgement could not be posted (%s); running without it", job.id, exc)
        runner.start(job)
        return
    job = await runner.set_progress_message(job, ack.id)
    runner.start(job)
