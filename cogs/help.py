"""/help: what each command does, with an example, and the member's quota; only the member sees it."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.help_page import HelpPage, HelpService

INTRO = "Make short videos with OpenAI's Sora 2 (through fal.ai) without leaving the channel."
SIMULATED = (
    "🧪 **Simulated mode**: this bot makes test-pattern videos on its own machine. Nothing is sent to fal and "
    "nothing is paid, but quotas count every video at the real price."
)


class HelpCog(commands.Cog):
    def __init__(self, service: HelpService) -> None:
        self._service = service

    @app_commands.command(name="help", description="What each command does, with examples, and your quota")
    async def help(self, interaction: discord.Interaction) -> None:
        tree: app_commands.CommandTree = interaction.client.tree  # type: ignore[attr-defined]
        listed = [
            (command.qualified_name, command.description)
            for command in tree.walk_commands()
            if isinstance(command, app_commands.Command)
        ]
        page = await self._service.page(interaction.guild_id, interaction.user.id, listed)
        await interaction.response.send_message(embed=render(page), ephemeral=True)


def render(page: HelpPage) -> discord.Embed:
    intro = f"{INTRO}\n\n{SIMULATED}" if page.simulated else INTRO
    embed = discord.Embed(title="Sora bot: commands", description=intro, colour=discord.Colour.blurple())
    for command in page.commands[:20]:  # Discord allows 25 fields; leave room for the quota
        text = command.description + (f"\nExample: `{command.example}`" if command.example else "")
        embed.add_field(name=f"/{command.name}", value=text[:1024], inline=False)
    if page.quota:
        embed.add_field(name="Your quota", value="\n".join(page.quota)[:1024], inline=False)
    return embed
