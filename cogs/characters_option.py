"""The `characters` option of /generate and /animate-attachment: autocomplete over this server's
characters, and turning "Alice, Bob" into fal character ids."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.domain.sora import MAX_CHARACTERS, InvalidRequest
from bot.domain.text import Text
from bot.storage.characters import CharacterStore


class CharacterPicker:
    def __init__(self, characters: CharacterStore) -> None:
        self._characters = characters

    async def suggest(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        if interaction.guild_id is None:
            return []
        names = [c.name for c in await self._characters.list(interaction.guild_id)]
        done = [p.strip() for p in current.split(",")[:-1] if p.strip()]
        typing = current.split(",")[-1].strip().lower()
        if len(done) >= MAX_CHARACTERS:
            return [app_commands.Choice(name=", ".join(done), value=", ".join(done))]
        picks = [n for n in names if n.lower().startswith(typing) and n not in done]
        return [app_commands.Choice(name=", ".join([*done, n]), value=", ".join([*done, n])) for n in picks][:25]

    async def resolve(self, guild_id: int | None, text: str | None) -> tuple[str, ...]:
        if not text or guild_id is None:
            return ()
        names = [p.strip() for p in text.split(",") if p.strip()]
        if len(names) > MAX_CHARACTERS:
            raise InvalidRequest(Text("A video can use at most {count} characters.", count=MAX_CHARACTERS))
        ids = []
        for name in names:
            character = await self._characters.get(guild_id, name)
            if character is None:
                unknown = Text("This server has no character named “{name}”. See /character list.", name=name)
                raise InvalidRequest(unknown)
            ids.append(character.fal_id)
        return tuple(ids)
