"""/settings: each server's admins shape the bot for their community. Hidden from non-admins by
default_permissions and checked here too; every change is recorded with who and when."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.localize import localized
from bot.discord.messenger import Say
from bot.domain import sora
from bot.domain.guild_settings import SNAPSHOTS, GuildSettings
from bot.domain.spend_alerts import THRESHOLDS
from bot.domain.text import Text
from bot.ops.quota import QuotaService
from bot.storage.settings import SettingsStore
from cogs.checks import ADMIN, admin_only, say
from cogs.options import ASPECT_CHOICES, DURATION_CHOICES, MODEL_CHOICES, RESOLUTION_CHOICES

ON_OFF = [app_commands.Choice(name="on", value="on"), app_commands.Choice(name="off", value="off")]
SNAPSHOT_CHOICES = [app_commands.Choice(name=s if s != "sora-2" else "latest (sora-2)", value=s) for s in SNAPSHOTS]


class SettingsCog(commands.Cog):
    settings = app_commands.Group(
        name="settings", description="How the bot works in this server", guild_only=True, default_permissions=ADMIN
    )
    channels = app_commands.Group(name="channels", description="Where videos may be made", parent=settings)
    pro = app_commands.Group(name="pro", description="Who may use Sora 2 Pro", parent=settings)
    blocklist = app_commands.Group(name="blocklist", description="Words refused in prompts", parent=settings)

    def __init__(self, store: SettingsStore, quotas: QuotaService) -> None:
        self._store = store
        self._quotas = quotas  # the server's budget (/quota budget): alerts need one

    @settings.command(name="show", description="Every setting of this server")
    @app_commands.check(admin_only)
    async def show(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        rules = await self._store.get(interaction.guild_id)
        embed = await settings_embed(rules, lambda text: localized(interaction, text))
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @channels.command(name="add", description="Allow video commands and reply-to-remix in a channel")
    @app_commands.check(admin_only)
    async def channels_add(self, interaction: discord.Interaction, channel: discord.TextChannel) -> None:
        rules = await self._rules(interaction)
        allowed = tuple(dict.fromkeys((*rules.allowed_channels, channel.id)))
        said = Text("Videos may be made in {channel}.", channel=channel.mention)
        await self._save(interaction, "channels_add", said, allowed_channels=allowed)

    @channels.command(name="remove", description="Stop allowing a channel")
    @app_commands.check(admin_only)
    async def channels_remove(self, interaction: discord.Interaction, channel: discord.TextChannel) -> None:
        rules = await self._rules(interaction)
        allowed = tuple(c for c in rules.allowed_channels if c != channel.id)
        said = [Text("Removed {channel}.", channel=channel.mention)]
        if not allowed:
            said.append(Text("No channel is listed any more, so every channel is allowed."))
        await self._save(interaction, "channels_remove", *said, allowed_channels=allowed)

    @channels.command(name="clear", description="Allow every channel again")
    @app_commands.check(admin_only)
    async def channels_clear(self, interaction: discord.Interaction) -> None:
        said = Text("Videos may be made in every channel.")
        await self._save(interaction, "channels_clear", said, allowed_channels=())

    @pro.command(name="role", description="Only members with this role may use Sora 2 Pro")
    @app_commands.check(admin_only)
    async def pro_role(self, interaction: discord.Interaction, role: discord.Role) -> None:
        said = Text("Sora 2 Pro is now for {role}.", role=role.mention)
        await self._save(interaction, "pro_role", said, pro_role_id=role.id)

    @pro.command(name="everyone", description="Everyone may use Sora 2 Pro")
    @app_commands.check(admin_only)
    async def pro_everyone(self, interaction: discord.Interaction) -> None:
        await self._save(interaction, "pro_everyone", Text("Everyone may use Sora 2 Pro."), pro_role_id=None)

    @settings.command(name="defaults", description="What members get when they leave an option out")
    # Two choices() decorators: each call takes choices of one type (int here, str below) for mypy.
    @app_commands.choices(duration=DURATION_CHOICES)
    @app_commands.choices(model=MODEL_CHOICES, aspect_ratio=ASPECT_CHOICES, resolution=RESOLUTION_CHOICES)
    @app_commands.check(admin_only)
    async def defaults(
        self,
        interaction: discord.Interaction,
        model: app_commands.Choice[str] | None = None,
        duration: app_commands.Choice[int] | None = None,
        aspect_ratio: app_commands.Choice[str] | None = None,
        resolution: app_commands.Choice[str] | None = None,
    ) -> None:
        rules = await self._rules(interaction)
        default_model = model.value if model else rules.default_model
        default_duration = duration.value if duration else rules.default_duration
        default_aspect = aspect_ratio.value if aspect_ratio else rules.default_aspect
        default_resolution = resolution.value if resolution else rules.default_resolution
        try:  # the defaults must make a valid request on their own
            sora.text_to_video("x", default_duration, default_aspect, default_model, default_resolution)
        except sora.InvalidRequest as exc:
            await say(interaction, Text("Not saved: {reason}", reason=exc.text))
            return
        await self._save(
            interaction,
            "defaults",
            Text("Saved the defaults."),
            default_model=default_model,
            default_duration=default_duration,
            default_aspect=default_aspect,
            default_resolution=default_resolution,
        )

    @settings.command(name="snapshot", description="Pin the Sora 2 snapshot fal uses (sora-2 = always the latest)")
    @app_commands.choices(snapshot=SNAPSHOT_CHOICES)
    @app_commands.check(admin_only)
    async def snapshot(self, interaction: discord.Interaction, snapshot: app_commands.Choice[str]) -> None:
        value = None if snapshot.value == "sora-2" else snapshot.value
        await self._save(interaction, "snapshot", Text("Sora 2 snapshot: {name}.", name=snapshot.value), snapshot=value)

    @settings.command(name="ip-block", description="Have fal refuse prompts and images with known IP references")
    @app_commands.choices(state=ON_OFF)
    @app_commands.check(admin_only)
    async def ip_block(self, interaction: discord.Interaction, state: app_commands.Choice[str]) -> None:
        said = Text("IP blocking is on.") if state.value == "on" else Text("IP blocking is off.")
        await self._save(interaction, "ip_block", said, ip_block=state.value == "on")

    @settings.command(name="remixable", description="Off: fal deletes every video after making it (no remixes)")
    @app_commands.choices(state=ON_OFF)
    @app_commands.check(admin_only)
    async def remixable(self, interaction: discord.Interaction, state: app_commands.Choice[str]) -> None:
        text = (
            Text("Videos stay remixable.")
            if state.value == "on"
            else Text("Remix is off: fal will delete each new video after making it, and remix requests are refused.")
        )
        await self._save(interaction, "remixable", text, remixable=state.value == "on")

    @blocklist.command(name="add", description="Refuse prompts with this word or phrase")
    @app_commands.check(admin_only)
    async def block(self, interaction: discord.Interaction, term: app_commands.Range[str, 1, 100]) -> None:
        assert interaction.guild_id is not None
        added = await self._store.block(interaction.guild_id, interaction.user.id, term)
        await say(
            interaction, Text("Added to the blocklist.") if added else Text("That term is already on the blocklist.")
        )

    @blocklist.command(name="remove", description="Allow a word or phrase again")
    @app_commands.check(admin_only)
    async def unblock(self, interaction: discord.Interaction, term: app_commands.Range[str, 1, 100]) -> None:
        assert interaction.guild_id is not None
        removed = await self._store.unblock(interaction.guild_id, interaction.user.id, term)
        await say(
            interaction, Text("Removed from the blocklist.") if removed else Text("That term is not on the blocklist.")
        )

    @blocklist.command(name="list", description="The blocked words and phrases")
    @app_commands.check(admin_only)
    async def list_blocked(self, interaction: discord.Interaction) -> None:
        rules = await self._rules(interaction)
        if not rules.blocklist:
            await say(interaction, Text("The blocklist is empty."))
            return
        terms = ", ".join(f"`{t}`" for t in rules.blocklist)
        blocked = await localized(interaction, Text("Blocked: {terms}", terms=terms))
        await say(interaction, blocked[:1900])

    @settings.command(name="alerts", description="Post spend alerts in a channel (leave it out to turn them off)")
    @app_commands.describe(channel="Where to post the alerts; leave it out to turn them off")
    @app_commands.check(admin_only)
    async def alerts(self, interaction: discord.Interaction, channel: discord.TextChannel | None = None) -> None:
        assert interaction.guild_id is not None
        if channel is None:
            await self._save(interaction, "alerts", Text("Spend alerts are off."), alerts_channel_id=None)
            return
        first, second, third = THRESHOLDS
        text = Text(
            "Spend alerts will be posted in {channel} when this server's spend reaches {first} %, {second} % and "
            "{third} % of its budget.",
            channel=channel.mention, first=first, second=second, third=third,
        )  # fmt: skip
        said = [text]
        if (await self._quotas.rules(interaction.guild_id)).budget_micros is None:
            said.append(Text("This server has no budget yet: set one with /quota budget."))
        await self._save(interaction, "alerts", *said, alerts_channel_id=channel.id)

    async def _rules(self, interaction: discord.Interaction) -> GuildSettings:
        assert interaction.guild_id is not None
        return await self._store.get(interaction.guild_id)

    async def _save(
        self, interaction: discord.Interaction, action: str, text: str, *more: str, **values: object
    ) -> None:
        assert interaction.guild_id is not None
        await self._store.change(interaction.guild_id, interaction.user.id, action, **values)
        await say(interaction, text, *more)


async def settings_embed(rules: GuildSettings, say: Say) -> discord.Embed:
    """`say`: the embed's words in the admin's language."""
    on, off = await say(Text("on")), await say(Text("off"))
    embed = discord.Embed(title=await say(Text("Settings of this server")), colour=discord.Colour.blurple())
    where = ", ".join(f"<#{c}>" for c in rules.allowed_channels) or await say(Text("every channel"))
    embed.add_field(name=await say(Text("Channels")), value=where, inline=False)
    pro = await say(Text("{role} only", role=f"<@&{rules.pro_role_id}>") if rules.pro_role_id else Text("everyone"))
    embed.add_field(name="Sora 2 Pro", value=pro)
    embed.add_field(
        name=await say(Text("Defaults")),
        value=f"{rules.default_model} · {rules.default_duration} s · {rules.default_aspect} · "
        f"{rules.default_resolution}",
    )
    embed.add_field(name=await say(Text("Snapshot")), value=rules.snapshot or await say(Text("latest")))
    embed.add_field(name=await say(Text("IP blocking")), value=on if rules.ip_block else off)
    remixable = on if rules.remixable else await say(Text("off (fal deletes videos)"))
    embed.add_field(name=await say(Text("Remixable")), value=remixable)
    alerts = f"<#{rules.alerts_channel_id}>" if rules.alerts_channel_id else off
    embed.add_field(name=await say(Text("Spend alerts")), value=alerts)
    terms = await say(Text("{count} term(s): /settings blocklist list", count=len(rules.blocklist)))
    embed.add_field(name=await say(Text("Blocklist")), value=terms)
    return embed
