"""What /help says: each command with an example, the message menus, the member's remaining quota and the
server's limits (from the quota service), and whether this bot only simulates videos."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

# (guild id, user id) -> lines about the member's remaining quota and the server's limits.
QuotaLines = Callable[[int, int], Awaitable[Sequence[str]]]

EXAMPLES: dict[str, str] = {
    "generate": "/generate prompt: a lighthouse in a storm, waves crashing duration: 8 aspect_ratio: 9:16",
    "animate-attachment": "/animate-attachment image: (a PNG) prompt: the waves start to roll",
    "remix": "/remix video: (pick a recent video) prompt: the same scene at night",
    "videos": "/videos scope: server",
    "show": "/show video: (pick a recent video)",
    "character create": "/character create name: Ada video: (an MP4 of Ada)",
    "usage": "/usage",
    "help": "/help",
    "status": "/status (the bot's owner only)",
}
# Members' everyday commands first, then the admins', then the owner's.
ORDER = (
    "generate",
    "animate-attachment",
    "remix",
    "videos",
    "show",
    "character",
    "usage",
    "help",
    "quota",
    "settings",
    "status",
)


@dataclass(frozen=True)
class CommandHelp:
    name: str  # qualified, without the slash: "generate", "quota set"
    description: str
    example: str | None


@dataclass(frozen=True)
class Section:
    """One top-level command, or a group and its subcommands."""

    name: str
    commands: list[CommandHelp]


@dataclass(frozen=True)
class HelpPage:
    sections: list[Section]
    menus: list[str]  # message context-menu entries ("Remix video")
    quota: list[str]
    simulated: bool


class HelpService:
    def __init__(
        self, *, simulated: bool, quota_lines: QuotaLines | None = None, examples: dict[str, str] | None = None
    ) -> None:
        self._simulated = simulated
        # Injected (bot/app.py) so this page stays free of the quota store.
        self._quota_lines = quota_lines
        self._examples = EXAMPLES if examples is None else examples

    async def page(
        self, guild_id: int | None, user_id: int, commands: list[tuple[str, str]], menus: list[str] | None = None
    ) -> HelpPage:
        """`commands`: (qualified name, description) of every slash command; `menus`: context-menu names."""
        sections: dict[str, list[CommandHelp]] = {}
        for name, description in commands:
            sections.setdefault(name.split(" ")[0], []).append(CommandHelp(name, description, self._examples.get(name)))
        rank = {name: i for i, name in enumerate(ORDER)}
        ordered = sorted(sections, key=lambda top: (rank.get(top, len(ORDER)), top))
        quota = list(await self._quota_lines(guild_id, user_id)) if self._quota_lines and guild_id is not None else []
        return HelpPage([Section(top, sections[top]) for top in ordered], sorted(menus or []), quota, self._simulated)
