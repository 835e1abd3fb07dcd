"""The one place a failure to serve a member ends, whatever it came from: a slash command or menu (the
command tree's on_error), a button (bot.discord.buttons), a form (cogs.components) or a message
(reply-to-remix). It is logged with its context (what it was, its command or custom id, the job when
known, server and member; never a token), and the member gets a short private answer.

A private answer needs the interaction's token, which lives 15 minutes. Once it has expired (or Discord
no longer knows the webhook) the answer goes to the channel with the bot's own token instead, pinging the
member who asked and no one else. A message has no private answer: it gets a reply that deletes itself,
as reply-to-remix's refusals do."""

from __future__ import annotations

import logging

import discord

from bot.discord.localize import localized

log = logging.getLogger(__name__)

FAILED = "Sorry, that failed on our side; please try again."
# Unknown Webhook, Invalid Webhook Token (the 15 minutes are over), Unknown Interaction (not acknowledged
# within 3 s): the interaction can no longer be answered at all.
_TOKEN_GONE = frozenset({10015, 50027, 10062})


async def answer(interaction: discord.Interaction, text: str) -> None:
    """A short private answer, whether or not the interaction was already answered or deferred; in the
    channel, mentioning only the member, when its token no longer works. In the member's language."""
    text = await localized(interaction, text)
    if interaction.is_expired():
        await _in_channel(interaction, text)
        return
    try:
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True)
        else:
            await interaction.response.send_message(text, ephemeral=True)
    except discord.HTTPException as exc:
        if exc.code not in _TOKEN_GONE:
            raise
        await _in_channel(interaction, text)


async def tell(interaction: discord.Interaction, text: str) -> None:
    """answer(), for an error path: a failure to answer is logged, never raised."""
    try:
        await answer(interaction, text)
    except discord.HTTPException as exc:
        log.warning(
            "could not tell the member about the error guild=%s user=%s: %s %s",
            interaction.guild_id,
            interaction.user.id,
            exc.status,
            exc.code,
        )


async def report(
    interaction: discord.Interaction,
    error: BaseException,
    *,
    kind: str,
    name: str,
    job_id: int | None = None,
    text: str = FAILED,
) -> None:
    """An unexpected failure of a command ("command", its name), a button ("button", its custom id) or a
    form ("form", its custom id): logged, and the member told privately."""
    _log(kind, name, job_id, interaction.guild_id, interaction.user.id, error)
    await tell(interaction, text)


async def report_message(
    message: discord.Message,
    error: BaseException,
    *,
    kind: str,
    job_id: int | None = None,
    text: str = FAILED,
    reply: bool = True,
) -> None:
    """An unexpected failure while handling a member's message: logged, and answered by a reply (unless
    reply is False: the message may not have been meant for the bot)."""
    _log(kind, f"message {message.id}", job_id, message.guild.id if message.guild else None, message.author.id, error)
    if not reply:
        return
    try:
        await message.reply(text, mention_author=False, delete_after=60)
    except discord.HTTPException as exc:
        log.warning("could not tell the member about the error message=%s: %s %s", message.id, exc.status, exc.code)


def _log(kind: str, name: str, job_id: int | None, guild_id: int | None, user_id: int, error: BaseException) -> None:
    log.error("%s %s failed job=%s guild=%s user=%s", kind, name, job_id, guild_id, user_id, exc_info=error)


async def _in_channel(interaction: discord.Interaction, text: str) -> None:
    channel = interaction.channel
    if not isinstance(channel, discord.abc.Messageable):
        log.warning("interaction expired and its channel is unknown guild=%s", interaction.guild_id)
        return
    user = interaction.user
    await channel.send(
        f"{user.mention} {text}",
        allowed_mentions=discord.AllowedMentions(everyone=False, roles=False, users=[user], replied_user=False),
    )
