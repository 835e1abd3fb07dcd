"""REST route handlers of the Discord fake (API v10)."""

from __future__ import annotations

import copy
import time
from typing import TYPE_CHECKING

from .messages import Origin
from .models import (
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    JSON,
    DiscordError,
    FakeChannel,
    FakeGuild,
    FakeInteraction,
    RecordedFile,
    form_error,
)
from .rest import Call, Reply, RestDispatcher

if TYPE_CHECKING:
    from .server import FakeDiscord

TRUTHY = ("1", "true", "True")
WEBHOOK = "/webhooks/{webhook_id}/{webhook_token}"
APP = "/applications/{application_id}"


def _unknown_webhook() -> DiscordError:
    return DiscordError(404, 10015, "Unknown Webhook")


def _invalid_token() -> DiscordError:
    return DiscordError(401, 50027, "Invalid Webhook Token")


def _unknown_message() -> DiscordError:
    return DiscordError(404, 10008, "Unknown Message")


class Routes:
    def __init__(self, fake: FakeDiscord) -> None:
        self.f = fake

    def register(self, d: RestDispatcher) -> None:
        d.add("GET", "/users/@me", self.get_me)
        d.add("GET", "/users/{user_id}", self.get_user)
        d.add("GET", "/gateway", self.get_gateway, authenticated=False)
        d.add("GET", "/gateway/bot", self.get_gateway_bot)
        d.add("GET", "/applications/@me", self.get_application)
        d.add("GET", "/oauth2/applications/@me", self.get_application)  # what discord.py's login calls
        for prefix in (APP, APP + "/guilds/{guild_id}"):
            d.add("GET", prefix + "/commands", self.list_commands)
            d.add("PUT", prefix + "/commands", self.put_commands)
            d.add("POST", prefix + "/commands", self.create_command)
            d.add("DELETE", prefix + "/commands/{command_id}", self.delete_command)
        d.add("GET", "/guilds/{guild_id}", self.get_guild)
        d.add("GET", "/guilds/{guild_id}/members/{user_id}", self.get_member)
        d.add("GET", "/channels/{channel_id}", self.get_channel)
        d.add("GET", "/channels/{channel_id}/messages", self.list_messages)
        d.add("POST", "/channels/{channel_id}/messages", self.create_message)
        d.add("GET", "/channels/{channel_id}/messages/{message_id}", self.get_message)
        d.add("PATCH", "/channels/{channel_id}/messages/{message_id}", self.edit_message)
        d.add("DELETE", "/channels/{channel_id}/messages/{message_id}", self.delete_message)
        d.add("POST", "/channels/{channel_id}/typing", self.typing)
        reaction = "/channels/{channel_id}/messages/{message_id}/reactions/{emoji_name}/@me"
        d.add("PUT", reaction, self.add_reaction)
        d.add("DELETE", reaction, self.remove_reaction)
        callback = "/interactions/{interaction_id}/{interaction_token}/callback"
        d.add("POST", callback, self.interaction_callback, authenticated=False)
        d.add("POST", WEBHOOK, self.execute_webhook, authenticated=False)
        d.add("GET", WEBHOOK + "/messages/{message_id}", self.get_webhook_message, authenticated=False)
        d.add("PATCH", WEBHOOK + "/messages/{message_id}", self.edit_webhook_message, authenticated=False)
        d.add("DELETE", WEBHOOK + "/messages/{message_id}", self.delete_webhook_message, authenticated=False)

    # -- users, gateway, application ------------------------------------------------------

    async def get_me(self, call: Call) -> Reply:
        me = self.f.bot_user.to_json()
        me.update({"verified": True, "mfa_enabled": False, "locale": "en-US", "email": None, "premium_type": 0})
        return Reply(200, me)

    async def get_user(self, call: Call) -> Reply:
        user = self.f.users.get(call.int_param("user_id"))
        if user is None:
            raise DiscordError(404, 10013, "Unknown User")
        return Reply(200, user.to_json())

    async def get_gateway(self, call: Call) -> Reply:
        return Reply(200, {"url": self.f.gateway_url})

    async def get_gateway_bot(self, call: Call) -> Reply:
        limit = {"total": 1000, "remaining": 999, "reset_after": 14400000, "max_concurrency": 1}
        return Reply(200, {"url": self.f.gateway_url, "shards": self.f.shards, "session_start_limit": limit})

    async def get_application(self, call: Call) -> Reply:
        return Reply(200, self.f._application_json())

    # -- application commands -------------------------------------------------------------

    def _command_scope(self, call: Call) -> int | None:
        if call.int_param("application_id") != self.f.application_id:
            raise DiscordError(403, 50001, "Missing Access")
        if "guild_id" not in call.params:
            return None
        guild_id = call.int_param("guild_id")
        if guild_id not in self.f.guilds:
            raise DiscordError(404, 10004, "Unknown Guild")
        return guild_id

    def _command_json(self, scope: int | None, spec: JSON, existing: JSON | None) -> JSON:
        perms = spec.get("default_member_permissions")
        command: JSON = {
            "id": existing["id"] if existing else str(self.f.ids.next()),
            "application_id": str(self.f.application_id),
            "version": str(self.f.ids.next()),
            "type": int(spec.get("type") or 1),
            "name": spec["name"],
            "name_localizations": spec.get("name_localizations"),
            "description": spec.get("description") or "",
            "description_localizations": spec.get("description_localizations"),
            "options": spec.get("options") or [],
            "default_member_permissions": None if perms is None else str(perms),
            "dm_permission": spec.get("dm_permission", True),
            "contexts": spec.get("contexts"),
            "integration_types": spec.get("integration_types") or [0],
            "nsfw": bool(spec.get("nsfw", False)),
        }
        if scope is not None:
            command["guild_id"] = str(scope)
        return command

    async def list_commands(self, call: Call) -> Reply:
        return Reply(200, copy.deepcopy(self.f.commands.get(self._command_scope(call), [])))

    async def put_commands(self, call: Call) -> Reply:
        scope = self._command_scope(call)
        if not isinstance(call.json, list):
            raise form_error("_root", "LIST_TYPE_CONVERT", "Must be an array.")
        for index, spec in enumerate(call.json):
            check_command_names(spec, str(index))
        old = {(c["name"], c["type"]): c for c in self.f.commands.get(scope, [])}
        new = [self._command_json(scope, s, old.get((s["name"], int(s.get("type") or 1)))) for s in call.json]
        self.f.commands[scope] = new
        return Reply(200, copy.deepcopy(new))

    async def create_command(self, call: Call) -> Reply:
        scope = self._command_scope(call)
        commands = self.f.commands.setdefault(scope, [])
        key = (call.body.get("name"), int(call.body.get("type") or 1))
        existing = next((c for c in commands if (c["name"], c["type"]) == key), None)
        command = self._command_json(scope, call.body, existing)
        if existing is not None:
            commands[commands.index(existing)] = command
        else:
            commands.append(command)
        return Reply(200 if existing else 201, copy.deepcopy(command))

    async def delete_command(self, call: Call) -> Reply:
        commands = self.f.commands.get(self._command_scope(call), [])
        for command in commands:
            if command["id"] == call.params["command_id"]:
                commands.remove(command)
                return Reply(204)
        raise DiscordError(404, 10063, "Unknown application command")

    # -- guilds and channels --------------------------------------------------------------

    def _guild(self, call: Call) -> FakeGuild:
        guild = self.f.guilds.get(call.int_param("guild_id"))
        if guild is None:
            raise DiscordError(404, 10004, "Unknown Guild")
        return guild

    async def get_guild(self, call: Call) -> Reply:
        data = self._guild(call).to_gateway_json(self.f.bot_user_id)
        for key in (
            "joined_at",
            "large",
            "unavailable",
            "lazy",
            "member_count",
            "members",
            "channels",
            "threads",
            "presences",
            "voice_states",
            "stage_instances",
            "guild_scheduled_events",
            "soundboard_sounds",
            "embedded_activities",
            "activity_instances",
        ):
            data.pop(key, None)
        return Reply(200, data)

    async def get_member(self, call: Call) -> Reply:
        member = self._guild(call).members.get(call.int_param("user_id"))
        if member is None:
            raise DiscordError(404, 10007, "Unknown Member")
        return Reply(200, member.to_json())

    def _channel(self, call: Call) -> tuple[FakeChannel, FakeGuild]:
        channel = self.f.channels.get(call.int_param("channel_id"))
        if channel is None:
            raise DiscordError(404, 10003, "Unknown Channel")
        return channel, self.f.guilds[channel.guild_id]

    @staticmethod
    def _check_upload(guild: FakeGuild, files: list[RecordedFile]) -> None:
        if sum(f.size for f in files) > guild.upload_limit:
            raise DiscordError(413, 40005, "Request entity too large")

    async def get_channel(self, call: Call) -> Reply:
        channel, _ = self._channel(call)
        return Reply(200, channel.to_json(self.f.bot_user_id))

    async def typing(self, call: Call) -> Reply:
        channel, _ = self._channel(call)
        if not channel.bot_can_send:
            raise DiscordError(403, 50013, "Missing Permissions")
        return Reply(204)

    async def list_messages(self, call: Call) -> Reply:
        channel, _ = self._channel(call)
        newest_first = list(reversed(self.f.store.in_channel(channel.id, include_ephemeral=False)))
        limit = min(max(int(call.query.get("limit", "50")), 1), 100)
        if "before" in call.query:
            newest_first = [m for m in newest_first if int(m["id"]) < int(call.query["before"])]
        if "after" in call.query:
            after = [m for m in newest_first if int(m["id"]) > int(call.query["after"])]
            newest_first = after[-limit:]
        if "around" in call.query:
            around = int(call.query["around"])
            older = [m for m in newest_first if int(m["id"]) <= around][: (limit + 1) // 2]
            newer = [m for m in newest_first if int(m["id"]) > around][-(limit // 2) :] if limit > 1 else []
            newest_first = newer + older
        return Reply(200, copy.deepcopy(newest_first[:limit]))

    async def create_message(self, call: Call) -> Reply:
        channel, guild = self._channel(call)
        self._check_upload(guild, call.files)
        if not channel.bot_can_send:
            raise DiscordError(403, 50013, "Missing Permissions")
        payload = call.body
        if payload.get("nonce") is not None and payload.get("enforce_nonce"):
            existing = self.f.store.nonce_hit(channel.id, str(payload["nonce"]))
            if existing is not None:
                return Reply(200, copy.deepcopy(existing))
        message = self.f.store.create(
            channel_id=channel.id,
            guild_id=guild.id,
            payload=payload,
            files=call.files,
            origin=Origin(author=self.f.bot_user),
        )
        self.f._emit_message("MESSAGE_CREATE", message)
        return Reply(200, copy.deepcopy(message))

    def _visible_message(self, call: Call) -> JSON:
        channel, _ = self._channel(call)
        message = self.f.store.get(channel.id, call.int_param("message_id"))
        if message["flags"] & FLAG_EPHEMERAL:
            raise _unknown_message()
        return message

    async def get_message(self, call: Call) -> Reply:
        return Reply(200, copy.deepcopy(self._visible_message(call)))

    async def edit_message(self, call: Call) -> Reply:
        message = self._visible_message(call)
        if int(message["author"]["id"]) != self.f.bot_user_id:
            raise DiscordError(403, 50005, "Cannot edit a message authored by another user")
        self._check_upload(self._channel(call)[1], call.files)
        self.f.store.edit(message, call.body, call.files, resolve_loading=False)
        self.f._emit_message("MESSAGE_UPDATE", message)
        return Reply(200, copy.deepcopy(message))

    async def delete_message(self, call: Call) -> Reply:
        message = self._visible_message(call)
        self.f.store.delete(message)
        self.f._emit_message("MESSAGE_DELETE", message)
        return Reply(204)

    async def add_reaction(self, call: Call) -> Reply:
        self.f.store.add_reaction(self._visible_message(call), call.params["emoji_name"], me=True)
        return Reply(204)

    async def remove_reaction(self, call: Call) -> Reply:
        self.f.store.remove_my_reaction(self._visible_message(call), call.params["emoji_name"])
        return Reply(204)

    # -- interactions ---------------------------------------------------------------------

    def _interaction_origin(self, inter: FakeInteraction, *, followup: bool) -> Origin:
        user = self.f.users[inter.user_id].to_json()
        metadata: JSON = {
            "id": str(inter.id),
            "type": inter.type,
            "user": user,
            "authorizing_integration_owners": {"0": str(inter.guild_id)},
        }
        if followup and inter.original_message_id is not None:
            metadata["original_response_message_id"] = str(inter.original_message_id)
        legacy = {"id": str(inter.id), "type": inter.type, "name": inter.name, "user": user}
        return Origin(
            author=self.f.bot_user,
            webhook_id=self.f.application_id,
            application_id=self.f.application_id,
            interaction_metadata=metadata,
            interaction=legacy,
        )

    async def interaction_callback(self, call: Call) -> Reply:
        inter = self.f.interactions.get(call.int_param("interaction_id"))
        if inter is None:
            raise DiscordError(404, 10062, "Unknown interaction")
        if call.params["interaction_token"] != inter.token:
            raise _invalid_token()
        deadline = self.f.callback_deadline
        if deadline is not None and time.monotonic() - inter.dispatched_at > deadline:
            raise DiscordError(404, 10062, "Unknown interaction")
        if inter.acknowledged:
            raise DiscordError(400, 40060, "Interaction has already been acknowledged.")
        guild = self.f.guilds[inter.guild_id]
        self._check_upload(guild, call.files)
        response_type = call.body.get("type")
        data = call.body.get("data") or {}
        message: JSON | None = None
        msg_type = 20 if inter.type == 2 else 0
        origin = self._interaction_origin(inter, followup=False)
        if response_type == 4:
            message = self.f.store.create(
                channel_id=inter.channel_id,
                guild_id=guild.id,
                payload=data,
                files=call.files,
                origin=origin,
                msg_type=msg_type,
            )
        elif response_type == 5:
            flags = FLAG_LOADING | (int(data.get("flags") or 0) & FLAG_EPHEMERAL)
            message = self.f.store.create(
                channel_id=inter.channel_id,
                guild_id=guild.id,
                payload={},
                files=[],
                origin=origin,
                msg_type=msg_type,
                extra_flags=flags,
                allow_empty=True,
            )
        elif response_type == 7 and inter.type == 3:
            # UPDATE_MESSAGE: Discord edits the message whose component was clicked.
            clicked = self.f.store.by_id.get(int((inter.payload.get("message") or {}).get("id") or 0))
            if clicked is not None:
                self.f._emit_message(
                    "MESSAGE_UPDATE", self.f.store.edit(clicked, data, call.files, resolve_loading=False)
                )
        elif response_type == 6 and inter.type == 3:
            pass
        elif response_type == 8 and inter.type == 4:
            pass
        elif response_type in (9, 12) and inter.type in (2, 3):
            pass
        else:
            raise form_error("type", "INTERACTION_RESPONSE_TYPE_INVALID", "Invalid interaction response type")
        inter.callback_type = response_type
        inter.acknowledged_at = time.monotonic()
        if message is not None:
            inter.original_message_id = int(message["id"])
            self.f._emit_message("MESSAGE_CREATE", message)
        if call.query.get("with_response") not in TRUTHY:
            return Reply(204)
        summary: JSON = {"id": str(inter.id), "type": inter.type, "activity_instance_id": None}
        body: JSON = {"interaction": summary}
        if message is not None:
            summary["response_message_id"] = message["id"]
            summary["response_message_loading"] = bool(message["flags"] & FLAG_LOADING)
            summary["response_message_ephemeral"] = bool(message["flags"] & FLAG_EPHEMERAL)
            if response_type == 4:  # Discord attaches the message only for CHANNEL_MESSAGE_WITH_SOURCE
                body["resource"] = {"type": response_type, "message": copy.deepcopy(message)}
        return Reply(200, body)

    def _webhook_interaction(self, call: Call) -> FakeInteraction:
        if call.int_param("webhook_id") != self.f.application_id:
            raise _unknown_webhook()
        inter = self.f.interactions_by_token.get(call.params["webhook_token"])
        if inter is None or time.monotonic() - inter.created_at > self.f.token_lifetime:
            raise _invalid_token()
        return inter

    def _webhook_message(self, call: Call) -> tuple[FakeInteraction, JSON]:
        inter = self._webhook_interaction(call)
        raw_id = call.params["message_id"]
        if raw_id == "@original":
            message_id = inter.original_message_id
        else:
            message_id = call.int_param("message_id")
            if not inter.owns_message(message_id):
                raise _unknown_message()
        message = self.f.store.by_id.get(message_id) if message_id is not None else None
        if message is None:
            raise _unknown_message()
        return inter, message

    async def execute_webhook(self, call: Call) -> Reply:
        inter = self._webhook_interaction(call)
        if not inter.acknowledged:
            raise _unknown_webhook()
        self._check_upload(self.f.guilds[inter.guild_id], call.files)
        original = self.f.store.by_id.get(inter.original_message_id or 0)
        if original is not None and original["flags"] & FLAG_LOADING:
            # Discord completes a pending "thinking" response with the first followup.
            message = self.f.store.edit(original, call.body, call.files, resolve_loading=True)
            self.f._emit_message("MESSAGE_UPDATE", message)
        else:
            message = self.f.store.create(
                channel_id=inter.channel_id,
                guild_id=inter.guild_id,
                payload=call.body,
                files=call.files,
                origin=self._interaction_origin(inter, followup=True),
            )
            inter.followup_message_ids.append(int(message["id"]))
            self.f._emit_message("MESSAGE_CREATE", message)
        if call.query.get("wait") in TRUTHY:
            return Reply(200, copy.deepcopy(message))
        return Reply(204)

    async def get_webhook_message(self, call: Call) -> Reply:
        return Reply(200, copy.deepcopy(self._webhook_message(call)[1]))

    async def edit_webhook_message(self, call: Call) -> Reply:
        inter, message = self._webhook_message(call)
        self._check_upload(self.f.guilds[inter.guild_id], call.files)
        self.f.store.edit(message, call.body, call.files, resolve_loading=True)
        self.f._emit_message("MESSAGE_UPDATE", message)
        return Reply(200, copy.deepcopy(message))

    async def delete_webhook_message(self, call: Call) -> Reply:
        _, message = self._webhook_message(call)
        self.f.store.delete(message)
        self.f._emit_message("MESSAGE_DELETE", message)
        return Reply(204)


# Discord's locales (the keys of name_localizations and description_localizations).
LOCALES = {
    "id",
    "da",
    "de",
    "en-GB",
    "en-US",
    "es-ES",
    "es-419",
    "fr",
    "hr",
    "it",
    "lt",
    "hu",
    "nl",
    "no",
    "pl",
    "pt-BR",
    "ro",
    "fi",
    "sv-SE",
    "vi",
    "tr",
    "cs",
    "el",
    "bg",
    "ru",
    "uk",
    "hi",
    "th",
    "zh-CN",
    "ja",
    "zh-TW",
    "ko",
}


def _chat_input_name(name: object) -> bool:
    """Discord's rule for a slash command's, a group's or an option's name (and each of its translations):
    1 to 32 letters or digits of any script, '-' or '_', lowercase where the script has case."""
    return (
        isinstance(name, str)
        and 1 <= len(name) <= 32
        and all(ch.isalnum() or ch in "-_" for ch in name)
        and name == name.lower()
    )


def check_command_names(spec: JSON, where: str) -> None:
    """What Discord refuses in a command's names and descriptions (the OpenAPI schema has lengths only):
    a chat-input name (or a translation of it) breaking the naming rule, a locale Discord does not know, a
    translated description over 100 characters. Raised as Discord raises it: 400, 50035."""
    chat_input = int(spec.get("type") or 1) == 1

    def check(item: JSON, path: str, named: bool) -> None:
        names = {None: item.get("name"), **(item.get("name_localizations") or {})}
        for locale, name in names.items():
            if locale is not None and locale not in LOCALES:
                raise form_error(f"{path}.name_localizations", "LOCALE_INVALID", f"Invalid locale {locale}")
            if named and not _chat_input_name(name):
                raise form_error(f"{path}.name", "APPLICATION_COMMAND_INVALID_NAME", "Invalid application command name")
        for locale, text in (item.get("description_localizations") or {}).items():
            if locale not in LOCALES:
                raise form_error(f"{path}.description_localizations", "LOCALE_INVALID", f"Invalid locale {locale}")
            if not isinstance(text, str) or not 1 <= len(text) <= 100:
                raise form_error(f"{path}.description_localizations.{locale}", "BASE_TYPE_BAD_LENGTH", "Must be 1-100")
        for n, option in enumerate(item.get("options") or []):
            check(option, f"{path}.options.{n}", True)
            for c, choice in enumerate(option.get("choices") or []):
                check(choice, f"{path}.options.{n}.choices.{c}", False)

    check(spec, where, chat_input)
