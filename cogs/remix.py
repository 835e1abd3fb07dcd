"""Remixing the bot's videos: /remix, the "Remix video" message menu, the Remix and Re-roll buttons
under every video, and replying to a video message with a new prompt."""

from __future__ import annotations

import re
from typing import Any, Self

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord import errors
from bot.discord.buttons import BUTTON_GONE, JobButton
from bot.discord.localize import localized
from bot.discord.messenger import DiscordMessenger
from bot.domain import custom_ids, deletion, sora, video_refs
from bot.domain.guild_settings import remix_off
from bot.domain.models import Video
from bot.domain.text import Text
from bot.jobs.runner import JobRunner
from bot.storage.jobs import JobStore
from bot.storage.settings import SettingsStore
from bot.storage.videos import VideoStore
from cogs.components import PROMPT_INPUT, cog_of, form_values, gone, prompt_form
from cogs.flow import refuse, start_job, start_reply_job
from cogs.video_option import video_choices


class RemixCog(commands.Cog):
    def __init__(
        self,
        client: discord.Client,
        runner: JobRunner,
        messenger: DiscordMessenger,
        jobs: JobStore,
        videos: VideoStore,
        settings: SettingsStore,
    ) -> None:
        self._client = client  # reply-to-remix has no interaction to ask whether the bot is shutting down
        self._settings = settings
        self._runner = runner
        self._messenger = messenger
        self._jobs = jobs
        self._video_store = videos
        menu = app_commands.ContextMenu(name="Remix video", callback=self.remix_menu)
        menu.guild_only = True
        self.context_menus = [menu]
        self.buttons = [RemixButton, RerollButton, PickSelect]
        self.forms = {"remix-prompt": self.remix_form}

    # -- /remix ------------------------------------------------------------------------------------------

    @app_commands.command(name="remix", description="A new take on one of this server's videos")
    @app_commands.describe(
        video="A video ID, a link to one of my video messages, or pick a recent video",
        prompt="What to change",
    )
    @app_commands.guild_only()
    async def remix(
        self, interaction: discord.Interaction, video: str, prompt: app_commands.Range[str, 1, 5000]
    ) -> None:
        assert interaction.guild_id is not None
        try:
            source = await video_refs.resolve(self._video_store, interaction.guild_id, video)
        except video_refs.UnknownVideo as exc:
            await refuse(interaction, exc.text)
            return
        await self._remix(interaction, source, prompt)

    @remix.autocomplete("video")
    async def _videos(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await video_choices(self._video_store, interaction.guild_id, current, remixable_only=True)

    # -- the message menu, the buttons and the form ----------------------------------------------------------

    async def remix_menu(self, interaction: discord.Interaction, message: discord.Message) -> None:
        video = await self._video_store.get_video_by_message(message.id)
        if video is None or video.guild_id != interaction.guild_id:
            await refuse(interaction, Text("That isn't one of my videos: remix works on the videos I posted."))
            return
        await self._ask_prompt(interaction, video)

    async def remix_button(self, interaction: discord.Interaction, job_id: int) -> None:
        video = await self._video_of(interaction, job_id)
        if video is not None:
            await self._ask_prompt(interaction, video)

    async def reroll_button(self, interaction: discord.Interaction, job_id: int) -> None:
        """The same request again, charged to whoever clicked."""
        job = await self._jobs.get_job(job_id)
        if job is None or job.guild_id != interaction.guild_id:
            await gone(interaction)
            return
        video = await self._video_store.get_video_of_job(job_id)
        if video is not None and video.deleted:  # its card should be gone with it: an old copy of it
            await refuse(interaction, deletion.no_reroll_of_deleted())
            return
        try:
            request = sora.again(job)
        except sora.InvalidRequest as exc:
            await refuse(interaction, exc.text)
            return
        await start_job(interaction, self._runner, self._messenger, request)

    async def remix_form(self, interaction: discord.Interaction, job_id: int) -> None:
        """The prompt form's submit, by its custom id: it works after a restart, and a form naming a job
        of another server is refused like an unknown one."""
        video = await self._video_of(interaction, job_id)
        if video is not None:
            await self._remix(interaction, video, form_values(interaction).get(PROMPT_INPUT, ""))

    async def _video_of(self, interaction: discord.Interaction, job_id: int) -> Video | None:
        """The video a job made in this server; answers the member and returns None otherwise."""
        job = await self._jobs.get_job(job_id)
        video = None
        if job is not None and job.guild_id == interaction.guild_id and job.video_message_id is not None:
            video = await self._video_store.get_video_by_message(job.video_message_id)
        if video is None:
            await gone(interaction)
        return video

    async def _ask_prompt(self, interaction: discord.Interaction, video: Video) -> None:
        if not (await self._settings.get(video.guild_id)).remixable:
            await refuse(interaction, remix_off())
            return
        if video.deleted:
            await refuse(interaction, deletion.no_remix_of_deleted())
            return
        if not video.remixable:
            await refuse(interaction, _not_remixable())
            return
        title, label = [await localized(interaction, t) for t in (Text("Remix video"), Text("What should change?"))]
        await interaction.response.send_modal(prompt_form(custom_ids.remix_prompt(video.job_id), title, label))

    async def _remix(self, interaction: discord.Interaction, source: Video, prompt: str) -> None:
        try:
            request = sora.remix(prompt, source)
        except sora.InvalidRequest as exc:
            await refuse(interaction, exc.text)
            return
        await start_job(interaction, self._runner, self._messenger, request)

    # -- reply-to-remix -----------------------------------------------------------------------------------

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """A reply to one of the bot's video messages is a remix prompt. Without the Message Content
        intent Discord shows the bot the text only when the reply pings it (its default)."""
        if message.author.bot or message.guild is None or message.reference is None:
            return
        target = message.reference.message_id
        if target is None:
            return
        source: Video | None = None
        try:
            source = await self._video_store.get_video_by_message(target)
            if source is None or source.guild_id != message.guild.id:
                return
            prompt = _without_mentions(message.content, message.guild.me.id if message.guild.me else 0)
            if not prompt:
                return
            remixed = source
            await start_reply_job(
                self._client, message, self._runner, lambda: sora.remix(prompt, remixed), queued="🎬 Remix queued…"
            )
        except Exception as exc:
            # Answered only once the message is known to be a reply to one of the bot's videos: any other
            # reply was not meant for the bot.
            job_id = source.job_id if source is not None else None
            await errors.report_message(message, exc, kind="reply-to-remix", job_id=job_id, reply=source is not None)


class RemixButton(JobButton, template=custom_ids.REMIX_TEMPLATE):
    async def clicked(self, interaction: discord.Interaction, job_id: int) -> None:
        await cog_of(interaction, RemixCog).remix_button(interaction, job_id)


class RerollButton(JobButton, template=custom_ids.REROLL_TEMPLATE):
    async def clicked(self, interaction: discord.Interaction, job_id: int) -> None:
        await cog_of(interaction, RemixCog).reroll_button(interaction, job_id)


class PickSelect(discord.ui.DynamicItem[discord.ui.Select[Any]], template=custom_ids.PICK_TEMPLATE):
    """/videos' Remix and Re-roll selects: the chosen option's value is the job, and the choice goes on as
    a click of that video's own Remix or Re-roll button would."""

    def __init__(self, select: discord.ui.Select[Any], action: str) -> None:
        super().__init__(select)
        self.action = action

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> Self:
        return cls(discord.ui.Select(custom_id=match[0]), match[1])

    async def callback(self, interaction: discord.Interaction) -> None:
        data: Any = interaction.data or {}
        value = str((data.get("values") or [""])[0])
        job_id = custom_ids.bounded(value) if re.fullmatch(r"[1-9][0-9]{0,18}", value) else None
        try:
            if job_id is None:
                await errors.answer(interaction, BUTTON_GONE)
            elif self.action == "remix":
                await cog_of(interaction, RemixCog).remix_button(interaction, job_id)
            else:
                await cog_of(interaction, RemixCog).reroll_button(interaction, job_id)
        except Exception as exc:  # discord.py would only log it
            await errors.report(interaction, exc, kind="select", name=self.custom_id, job_id=job_id)


def _not_remixable() -> Text:
    return Text("That video can't be remixed: it was itself a remix, or fal deleted it after making it.")


def _without_mentions(content: str, bot_id: int) -> str:
    return re.sub(rf"<@!?{bot_id}>", "", content).strip()
