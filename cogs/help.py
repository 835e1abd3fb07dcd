"""/help: what each command does, with an example, and the member's quota; only the member sees it."""

from __future__ import annotations

from collections.abc import Callable

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.localize import command_words, localized
from bot.domain.text import Text
from bot.ops.help_page import HelpPage, HelpService, Section

INTRO = Text("Make short videos with OpenAI's Sora 2 (through fal.ai) without leaving the channel.")
SIMULATED = Text(
    "🧪 **Simulated mode**: this bot makes test-pattern videos on its own machine. Nothing is sent to fal and "
    "nothing is paid, but quotas count every video at the real price."
)
FIELD_MAX = 1024  # Discord's limit for one embed field


class HelpCog(commands.Cog):
    def __init__(self, service: HelpService) -> None:
        self._service = service

    @app_commands.command(name="help", description="What each command does, with examples, and your quota")
    async def help(self, interaction: discord.Interaction[commands.Bot]) -> None:
        tree = interaction.client.tree
        # Each command as the member sees it in Discord: its name and description in their language.
        listed: list[tuple[str, str]] = []
        names: dict[str, str] = {}  # English qualified name -> the member's
        for command in tree.walk_commands():
            names[command.qualified_name], description = await command_words(interaction, command)
            if isinstance(command, app_commands.Command):
                listed.append((command.qualified_name, description))
        menus = [
            (await command_words(interaction, menu))[0]
            for menu in tree.get_commands(type=discord.AppCommandType.message)
        ]
        page = await self._service.page(interaction.guild_id, interaction.user.id, listed, menus)
        words = {text: await localized(interaction, text) for text in (*WORDS, *page.quota)}
        await interaction.response.send_message(embed=render(page, words, names), ephemeral=True)


# The page's own words, rendered in the member's language before the embed is built.
TITLE = Text("Sora bot: commands")
EXAMPLE = Text("Example:")
MENU = Text("Message menu")
MENU_HOWTO = Text("Right-click a message (long-press on mobile) → Apps →")
QUOTA = Text("Your quota")
WORDS = (INTRO, SIMULATED, TITLE, EXAMPLE, MENU, MENU_HOWTO, QUOTA)


def render(page: HelpPage, words: dict[str, str] | None = None, names: dict[str, str] | None = None) -> discord.Embed:
    """`words`: each of the page's Texts in the member's language, `names` each command's name as their
    Discord shows it (English where missing)."""
    say = (words or {}).get
    named = (names or {}).get
    intro = f"{say(INTRO, INTRO)}\n\n{say(SIMULATED, SIMULATED)}" if page.simulated else say(INTRO, INTRO)
    embed = discord.Embed(title=say(TITLE, TITLE), description=intro, colour=discord.Colour.blurple())
    example = say(EXAMPLE, EXAMPLE)
    for section in page.sections[:22]:  # Discord allows 25 fields: keep room for menus and quota
        embed.add_field(
            name=f"/{named(section.name, section.name)}", value=_section_text(section, example, named), inline=False
        )
    if page.menus:
        text = f"{say(MENU_HOWTO, MENU_HOWTO)} " + ", ".join(page.menus)
        embed.add_field(name=say(MENU, MENU), value=text[:FIELD_MAX], inline=False)
    if page.quota:
        quota = "\n".join(say(line, line) for line in page.quota)
        embed.add_field(name=say(QUOTA, QUOTA), value=quota[:FIELD_MAX], inline=False)
    return embed


def _section_text(section: Section, example: str, named: Callable[[str, str], str]) -> str:
    if len(section.commands) == 1 and section.commands[0].name == section.name:
        command = section.commands[0]
        return (command.description + (f"\n{example} `{command.example}`" if command.example else ""))[:FIELD_MAX]
    lines: list[str] = []
    for command in section.commands:
        line = f"`/{named(command.name, command.name)}`: {command.description}"
        if command.example:
            line += f"\n{example} `{command.example}`"
        if sum(len(x) + 1 for x in lines) + len(line) > FIELD_MAX - 2:
            lines.append("…")
            break
        lines.append(line)
    return "\n".join(lines)
