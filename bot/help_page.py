"""What /help says: each command with an example, the member's remaining quota and the server's limits
(from the quota service, once it is wired), and whether this bot only simulates videos."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

# (guild id, user id) -> lines about the member's remaining quota and the server's limits.
QuotaLines = Callable[[int, int], Awaitable[list[str]]]

EXAMPLES: dict[str, str] = {
    "generate": "/generate prompt: a lighthouse in a storm, waves crashing duration: 8 aspect_ratio: 9:16",
    "help": "/help",
    "status": "/status (the bot's owner only)",
}


@dataclass(frozen=True)
class CommandHelp:
    name: str  # qualified, without the slash: "generate", "quota set"
    description: str
    example: str | None


@dataclass(frozen=True)
class HelpPage:
    commands: list[CommandHelp]
    quota: list[str]
    simulated: bool


class HelpService:
    def __init__(
        self, *, simulated: bool, quota_lines: QuotaLines | None = None, examples: dict[str, str] | None = None
    ) -> None:
        self._simulated = simulated
        # QUOTA HOOK: the quota service's (guild, user) -> lines goes here when quotas are wired.
        self._quota_lines = quota_lines
        self._examples = EXAMPLES if examples is None else examples

    async def page(self, guild_id: int | None, user_id: int, commands: list[tuple[str, str]]) -> HelpPage:
        """`commands`: (qualified name, description) of every slash command the bot has."""
        listed = [CommandHelp(name, description, self._examples.get(name)) for name, description in sorted(commands)]
        quota = await self._quota_lines(guild_id, user_id) if self._quota_lines and guild_id is not None else []
        return HelpPage(listed, quota, self._simulated)
