"""Registering the slash commands with Discord. At every start they are registered when the command tree
differs from what was last registered in that scope (globally, or in DEV_GUILD_ID), so an admin has no
separate step to forget, and a restart costs nothing (Discord limits how often commands may be created).
`python -m bot sync` registers them whatever the database says."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Protocol

import discord
from discord import app_commands

from bot.config import ConfigurationError

log = logging.getLogger(__name__)

GLOBAL = "global"


def scope_of(guild_id: int | None) -> str:
    return GLOBAL if guild_id is None else str(guild_id)


class CommandRegistry(Protocol):
    """Which command tree was last registered, per scope (bot/storage/command_registry.py keeps it)."""

    async def digests(self) -> dict[str, str]:
        """scope ('global' or a server id) -> digest of what was registered there."""

    async def record(self, scope: str, digest: str) -> None: ...

    async def forget(self, scope: str) -> None: ...


async def digest(tree: app_commands.CommandTree, guild: discord.abc.Snowflake | None) -> str:
    """A hash of the payload tree.sync() sends for this scope (built the same way: discord.py has no
    public accessor for it), translations included, in a stable order: a changed translation registers
    the commands again."""
    commands = tree._get_all_commands(guild=guild)
    translator = tree.translator
    if translator is not None:
        payload = [await command.get_translated_payload(tree, translator) for command in commands]
    else:
        payload = [command.to_dict(tree) for command in commands]
    payload.sort(key=lambda c: (c.get("type", 1), c["name"]))
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


async def register_at_start(tree: app_commands.CommandTree, registry: CommandRegistry, guild_id: int | None) -> None:
    """Register the commands if they changed. A refusal for DEV_GUILD_ID stops the start (the admin must
    act); any other failure is logged and the bot runs with the commands registered before."""
    try:
        log.info("%s", await register(tree, registry, guild_id, force=False))
    except ConfigurationError:
        raise
    except discord.HTTPException as exc:
        log.error(
            "could not register the slash commands (%s %s); the bot runs with those registered before and "
            "tries again at the next start",
            exc.status,
            exc.text,
            exc_info=isinstance(exc, app_commands.CommandSyncFailure),  # a command Discord rejects is our bug
        )


async def register(
    tree: app_commands.CommandTree, registry: CommandRegistry, guild_id: int | None, *, force: bool
) -> str:
    """Register the commands if they changed since the last time (or if forced); returns what was done."""
    guild = None if guild_id is None else discord.Object(guild_id)
    if guild is not None:
        tree.copy_global_to(guild=guild)
    where = "globally" if guild is None else f"in server {guild_id} (DEV_GUILD_ID)"
    scope, wanted = scope_of(guild_id), await digest(tree, guild)
    known = await registry.digests()
    await _withdraw_stale(tree, registry, known, keep=scope)
    if known.get(scope) == wanted and not force:
        return f"slash commands unchanged since they were registered {where}: nothing to register"
    try:
        synced = await tree.sync(guild=guild)
    except (discord.Forbidden, discord.NotFound) as exc:
        if guild is None:
            raise
        raise ConfigurationError(
            f"DEV_GUILD_ID {guild_id}: Discord refused to register the commands in that server ({exc.status} "
            f"{exc.text}): add the bot to it with the link `python -m bot invite` prints, or unset DEV_GUILD_ID"
        ) from None
    await registry.record(scope, wanted)
    names = ", ".join(f"/{c.name}" if c.type is discord.AppCommandType.chat_input else f"'{c.name}'" for c in synced)
    return f"registered {len(synced)} command(s) {where}: {names}"


async def _withdraw_stale(
    tree: app_commands.CommandTree, registry: CommandRegistry, known: dict[str, str], keep: str
) -> None:
    """Empty a former DEV_GUILD_ID's commands, so that server does not list every command twice. Global
    commands are never withdrawn on the bot's own: every other server relies on them."""
    for scope in sorted(known.keys() - {keep, GLOBAL}):
        try:
            await tree.sync(guild=discord.Object(int(scope)))  # the tree holds nothing for that server
            log.info("withdrew the slash commands registered earlier in server %s (a former DEV_GUILD_ID)", scope)
        except discord.HTTPException as exc:
            log.warning("could not withdraw the commands registered earlier in server %s (%s)", scope, exc.status)
        await registry.forget(scope)
