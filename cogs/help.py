"""/help: what each command does, with an example, and the member's quota; only the member sees it."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.ops.help_page import HelpPage, HelpService, Section

INTRO = "Make short videos with OpenAI's Sora 2 (through fal.ai) without leaving the channel."
SIMULATED = (
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
        listed = [
            (command.qualified_name, command.description)
            for command in tree.walk_commands()
            if isinstance(command, app_commands.Command)
        ]
        menus = [menu.name for menu in tree.get_commands(type=discord.AppCommandType.message)]
        page = await self._service.page(interaction.guild_id, interaction.user.id, listed, menus)
        await interaction.response.send_message(embed=render(page), ephemeral=True)


def render(page: HelpPage) -> discord.Embed:
    intro = f"{INTRO}\n\n{SIMULATED}" if page.simulated else INTRO
    embed = discord.Embed(title="Sora bot: commands", description=intro, colour=discord.Colour.blurple())
    for section in page.sections[:22]:  # Discord allows 25 fields: keep room for menus and quota
        embed.add_field(name=f"/{section.name}", value=_section_text(section), inline=False)
    if page.menus:
        text = "Right-click a message (long-press on mobile) → Apps → " + ", ".join(page.menus)
        embed.add_field(name="Message menu", value=text[:FIELD_MAX], inline=False)
    if page.quota:
        embed.add_field(name="Your quota", value="\n".join(page.quota)[:FIELD_MAX], inline=False)
    return embed


def _section_text(section: Section) -> str:
    if len(section.commands) == 1 and section.commands[0].name == section.name:
        command = section.commands[0]
        return (command.description + (f"\nExample: `{command.example}`" if command.example else ""))[:FIELD_MAX]
    lines: list[str] = []
    for command in section.commands:
        line = f"`/{command.name}`: {command.description}"
        if command.example:
            line += f"\nExample: `{command.example}`"
        if sum(len(x) + 1 for x in lines) + len(line) > FIELD_MAX - 2:
            lines.append("…")
            break
        lines.append(line)
    return "\n".join(lines)
