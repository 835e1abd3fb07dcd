"""Sora characters (fal-ai/sora-2/characters): made from a short MP4, kept per server, used by name."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from bot.domain.models import Character
from bot.domain.sora import ENDPOINT_CHARACTERS
from bot.domain.text import Text
from bot.fal.backend import FalBackend
from bot.fal.errors import FalError
from bot.storage.characters import CharacterStore

NAME_MAX = 80


class CharacterRefused(Exception):
    """The message is shown to the member (in their language when it is a Text)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class CharacterService:
    def __init__(
        self,
        fal: FalBackend,
        characters: CharacterStore,
        *,
        poll_min: float = 1.0,
        poll_max: float = 5.0,
        timeout: float = 600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._fal = fal
        self._characters = characters
        self._poll_min, self._poll_max, self._timeout = poll_min, poll_max, timeout
        self._clock = clock

    async def create(self, guild_id: int, user_id: int, name: str, video_url: str) -> Character:
        name = " ".join(name.split())
        if not 1 <= len(name) <= NAME_MAX or "," in name:
            rule = Text("A character's name is 1 to {limit} characters, without commas.", limit=NAME_MAX)
            raise CharacterRefused(rule)
        if await self._characters.get(guild_id, name) is not None:
            raise CharacterRefused(Text("This server already has a character named “{name}”.", name=name))
        try:
            request_id = await self._fal.submit(ENDPOINT_CHARACTERS, {"name": name, "video_url": video_url})
            result = await self._wait(request_id)
        except FalError as exc:
            raise CharacterRefused(exc.user_message) from exc
        fal_id = str(result.get("id") or "")
        if not fal_id:
            raise CharacterRefused(Text("fal did not return a character."))
        return await self._characters.add(guild_id, name, fal_id, user_id, self._clock())

    async def _wait(self, request_id: str) -> dict[str, object]:
        deadline = time.monotonic() + self._timeout
        delay = self._poll_min
        while time.monotonic() < deadline:
            status = await self._fal.status(ENDPOINT_CHARACTERS, request_id)
            if status.state == "completed":
                return await self._fal.result(ENDPOINT_CHARACTERS, request_id)
            await asyncio.sleep(delay)
            delay = min(self._poll_max, delay * 1.6)
        await self._fal.cancel(ENDPOINT_CHARACTERS, request_id)
        raise CharacterRefused(Text("fal took too long to make the character; please try again."))

    async def list(self, guild_id: int) -> list[Character]:
        return await self._characters.list(guild_id)

    async def delete(self, guild_id: int, name: str, user_id: int, is_admin: bool) -> Character:
        character = await self._characters.get(guild_id, name)
        if character is None:
            raise CharacterRefused(Text("This server has no character named “{name}”.", name=name))
        if character.created_by != user_id and not is_admin:
            raise CharacterRefused(Text("Only the member who made this character, or an admin, can delete it."))
        await self._characters.delete(character.id)
        return character
