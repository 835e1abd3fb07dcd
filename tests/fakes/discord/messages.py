"""Channel message state of the Discord fake: creating, editing and listing message objects."""

from __future__ import annotations

import copy
import mimetypes
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .models import (
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    JSON,
    SETTABLE_MESSAGE_FLAGS,
    DiscordError,
    FakeUser,
    RecordedFile,
    SnowflakeFactory,
    form_error,
    iso_now,
)

NONCE_WINDOW_S = 300.0
MAX_CONTENT = 2000
MENTION_RE = re.compile(r"<@!?(\d+)>")


@dataclass
class Origin:
    """Who creates a message: a bot/user, possibly through an interaction webhook."""

    author: FakeUser
    webhook_id: int | None = None
    application_id: int | None = None
    interaction_metadata: JSON | None = None
    interaction: JSON | None = None


class MessageStore:
    """All messages of all channels, as Discord message objects (dicts with string ids)."""

    def __init__(
        self,
        ids: SnowflakeFactory,
        http_base: Callable[[], str],
        user_lookup: Callable[[int], FakeUser | None],
    ) -> None:
        self._ids = ids
        self._http_base = http_base
        self._user_lookup = user_lookup
        self.by_id: dict[int, JSON] = {}
        self.channel_order: dict[int, list[int]] = {}
        self.attachment_paths: dict[int, Path] = {}
        self._nonces: dict[tuple[int, str], tuple[int, float]] = {}

    # -- queries ---------------------------------------------------------------------------

    def get(self, channel_id: int, message_id: int) -> JSON:
        message = self.by_id.get(message_id)
        if message is None or int(message["channel_id"]) != channel_id:
            raise DiscordError(404, 10008, "Unknown Message")
        return message

    def in_channel(self, channel_id: int, *, include_ephemeral: bool = True) -> list[JSON]:
        messages = [self.by_id[mid] for mid in self.channel_order.get(channel_id, [])]
        if not include_ephemeral:
            messages = [m for m in messages if not m["flags"] & FLAG_EPHEMERAL]
        return messages

    def nonce_hit(self, channel_id: int, nonce: str) -> JSON | None:
        hit = self._nonces.get((channel_id, nonce))
        if hit is None or time.monotonic() - hit[1] > NONCE_WINDOW_S:
            return None
        return self.by_id.get(hit[0])

    # -- mutations -------------------------------------------------------------------------

    def create(
        self,
        *,
        channel_id: int,
        guild_id: int,
        payload: JSON,
        files: list[RecordedFile],
        origin: Origin,
        msg_type: int = 0,
        extra_flags: int = 0,
        allow_empty: bool = False,
    ) -> JSON:
        content = _content(payload)
        flags = (int(payload.get("flags") or 0) & (SETTABLE_MESSAGE_FLAGS | FLAG_EPHEMERAL)) | extra_flags
        message_id = self._ids.next()
        reference, referenced = self._reference(channel_id, guild_id, payload.get("message_reference"))
        if referenced is not None and msg_type == 0:
            msg_type = 19
        attachments = self._attachments(channel_id, payload.get("attachments"), files, [], flags)
        embeds = [_normalize_embed(e) for e in payload.get("embeds") or []]
        components = numbered(payload.get("components") or [])
        if not (content or embeds or attachments or components or payload.get("sticker_ids") or allow_empty):
            raise DiscordError(400, 50006, "Cannot send an empty message")
        mentions, mention_everyone = self._mentions(content, payload.get("allowed_mentions"), referenced)
        message: JSON = {
            "id": str(message_id),
            "channel_id": str(channel_id),
            "guild_id": str(guild_id),
            "author": origin.author.to_json(),
            "content": content,
            "timestamp": iso_now(),
            "edited_timestamp": None,
            "tts": bool(payload.get("tts") or False),
            "mention_everyone": mention_everyone,
            "mentions": mentions,
            "mention_roles": [],
            "attachments": attachments,
            "embeds": embeds,
            "components": components,
            "pinned": False,
            "type": msg_type,
            "flags": flags,
        }
        if payload.get("nonce") is not None:
            message["nonce"] = payload["nonce"]
        if origin.webhook_id is not None:
            message["webhook_id"] = str(origin.webhook_id)
        if origin.application_id is not None:
            message["application_id"] = str(origin.application_id)
        if origin.interaction_metadata is not None:
            message["interaction_metadata"] = origin.interaction_metadata
        if origin.interaction is not None:
            message["interaction"] = origin.interaction
        if reference is not None:
            message["message_reference"] = reference
            message["referenced_message"] = referenced
        self.by_id[message_id] = message
        self.channel_order.setdefault(channel_id, []).append(message_id)
        if payload.get("nonce") is not None and payload.get("enforce_nonce"):
            self._nonces[(channel_id, str(payload["nonce"]))] = (message_id, time.monotonic())
        return message

    def edit(self, message: JSON, payload: JSON, files: list[RecordedFile], *, resolve_loading: bool) -> JSON:
        was_loading = bool(message["flags"] & FLAG_LOADING)
        if "content" in payload:
            content = _content(payload)
            message["content"] = content
            mentions, everyone = self._mentions(content, payload.get("allowed_mentions"), None)
            message["mentions"], message["mention_everyone"] = mentions, everyone
        if "embeds" in payload:
            message["embeds"] = [_normalize_embed(e) for e in payload["embeds"] or []]
        if "components" in payload:
            message["components"] = numbered(payload["components"] or [])
        if payload.get("flags") is not None:
            keep = message["flags"] & ~SETTABLE_MESSAGE_FLAGS
            message["flags"] = keep | (int(payload["flags"]) & SETTABLE_MESSAGE_FLAGS)
        if "attachments" in payload or files:
            message["attachments"] = self._attachments(
                int(message["channel_id"]),
                payload.get("attachments"),
                files,
                message["attachments"],
                message["flags"],
            )
        if resolve_loading and was_loading:
            message["flags"] &= ~FLAG_LOADING
        else:
            message["edited_timestamp"] = iso_now()
        return message

    def delete(self, message: JSON) -> None:
        message_id = int(message["id"])
        self.by_id.pop(message_id, None)
        order = self.channel_order.get(int(message["channel_id"]), [])
        if message_id in order:
            order.remove(message_id)

    def add_reaction(self, message: JSON, emoji: str, *, me: bool) -> None:
        name, _, emoji_id = emoji.partition(":")
        reactions: list[JSON] = message.setdefault("reactions", [])
        for reaction in reactions:
            if reaction["emoji"]["name"] == name:
                if me and not reaction["me"]:
                    reaction["me"] = True
                    reaction["count"] += 1
                    reaction["count_details"]["normal"] += 1
                return
        reactions.append(
            {
                "emoji": {"id": emoji_id or None, "name": name},
                "count": 1,
                "count_details": {"burst": 0, "normal": 1},
                "burst_colors": [],
                "me_burst": False,
                "burst_me": False,
                "me": me,
                "burst_count": 0,
            }
        )

    def remove_my_reaction(self, message: JSON, emoji: str) -> None:
        name = emoji.partition(":")[0]
        reactions: list[JSON] = message.get("reactions", [])
        for reaction in list(reactions):
            if reaction["emoji"]["name"] == name and reaction["me"]:
                reaction["me"] = False
                reaction["count"] -= 1
                reaction["count_details"]["normal"] -= 1
                if reaction["count"] <= 0:
                    reactions.remove(reaction)

    def store_local_file(self, channel_id: int, path: Path, recorded: RecordedFile | None = None) -> JSON:
        """An attachment object for a file the fake serves itself (user uploads, option attachments)."""
        attachment_id = self._ids.next()
        self.attachment_paths[attachment_id] = path
        size = recorded.size if recorded else path.stat().st_size
        return self._attachment_json(channel_id, attachment_id, path.name, size, None, ephemeral=False)

    # -- helpers ---------------------------------------------------------------------------

    def _reference(self, channel_id: int, guild_id: int, ref: JSON | None) -> tuple[JSON | None, JSON | None]:
        if not ref or ref.get("message_id") is None:
            return None, None
        ref_channel = int(ref.get("channel_id") or channel_id)
        referenced = self.by_id.get(int(ref["message_id"]))
        if referenced is None or int(referenced["channel_id"]) != ref_channel:
            if ref.get("fail_if_not_exists", True):
                raise form_error("message_reference", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message")
            return None, None
        reference = {
            "type": int(ref.get("type") or 0),
            "channel_id": str(ref_channel),
            "message_id": str(referenced["id"]),
            "guild_id": str(guild_id),
        }
        nested = copy.deepcopy(referenced)
        nested.pop("referenced_message", None)
        return reference, nested

    def _mentions(self, content: str, allowed: JSON | None, referenced: JSON | None) -> tuple[list[JSON], bool]:
        parse = None if allowed is None else (allowed.get("parse") or [])
        allowed_users = None if allowed is None else {int(u) for u in allowed.get("users") or []}
        ids: list[int] = []
        for match in MENTION_RE.finditer(content):
            user_id = int(match.group(1))
            if parse is None or "users" in parse or (allowed_users is not None and user_id in allowed_users):
                ids.append(user_id)
        replied_user = True if allowed is None else bool(allowed.get("replied_user", False))
        if referenced is not None and replied_user:
            ids.append(int(referenced["author"]["id"]))
        mentions: list[JSON] = []
        for user_id in dict.fromkeys(ids):
            user = self._user_lookup(user_id)
            if user is not None:
                mentions.append(user.to_json())
        everyone = ("@everyone" in content or "@here" in content) and (parse is None or "everyone" in parse)
        return mentions, everyone

    def _attachments(
        self,
        channel_id: int,
        requested: list[JSON] | None,
        files: list[RecordedFile],
        existing: list[JSON],
        flags: int,
    ) -> list[JSON]:
        by_index: dict[str, RecordedFile] = {}
        for position, recorded in enumerate(files):
            match = re.fullmatch(r"files\[(\d+)\]", recorded.field_name)
            by_index[match.group(1) if match else f"file{position}"] = recorded
        existing_by_id = {a["id"]: a for a in existing}
        result: list[JSON] = []
        used: set[str] = set()
        if requested is None:
            result.extend(existing)
        for entry in requested or []:
            key = str(entry.get("id"))
            if key in existing_by_id:
                result.append(existing_by_id[key])
            elif key in by_index:
                used.add(key)
                result.append(self._upload(channel_id, by_index[key], entry, flags))
        for key, recorded in by_index.items():
            if key not in used:
                result.append(self._upload(channel_id, recorded, {}, flags))
        return result

    def _upload(self, channel_id: int, recorded: RecordedFile, entry: JSON, flags: int) -> JSON:
        attachment_id = self._ids.next()
        self.attachment_paths[attachment_id] = recorded.data
        filename = entry.get("filename") or recorded.filename
        return self._attachment_json(
            channel_id,
            attachment_id,
            filename,
            recorded.size,
            entry.get("description"),
            ephemeral=bool(flags & FLAG_EPHEMERAL),
            declared_type=recorded.content_type,
        )

    def _attachment_json(
        self,
        channel_id: int,
        attachment_id: int,
        filename: str,
        size: int,
        description: str | None,
        *,
        ephemeral: bool,
        declared_type: str | None = None,
    ) -> JSON:
        filename = filename.replace(" ", "_")
        guessed = mimetypes.guess_type(filename)[0]
        content_type = guessed or (
            declared_type if declared_type and declared_type != "application/octet-stream" else None
        )
        expiry = f"ex={int(time.time()) + 86400:x}&is={int(time.time()):x}&hm={secrets.token_hex(32)}&"
        url = f"{self._http_base()}/attachments/{channel_id}/{attachment_id}/{quote(filename)}?{expiry}"
        data: JSON = {
            "id": str(attachment_id),
            "filename": filename,
            "size": size,
            "url": url,
            "proxy_url": url,
            "flags": 0,
        }
        if content_type:
            data["content_type"] = content_type
        if description:
            data["description"] = description
        if ephemeral:
            data["ephemeral"] = True
        return data


def _content(payload: JSON) -> str:
    content = payload.get("content")
    if content is None:
        return ""
    if not isinstance(content, str):
        raise form_error("content", "BASE_TYPE_STRING", "Must be a string.")
    if len(content) > MAX_CONTENT:
        raise form_error("content", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_CONTENT} or fewer in length.")
    return content


def _normalize_embed(embed: Any) -> JSON:
    data = dict(embed) if isinstance(embed, dict) else {}
    data.setdefault("type", "rich")
    return data


def numbered(components: list[JSON]) -> list[JSON]:
    """Discord gives every component in a message an integer id (1, 2, ...) when the sender gave none."""
    counter = 0

    def walk(items: list[JSON]) -> list[JSON]:
        nonlocal counter
        out = []
        for item in items:
            item = dict(item)
            counter += 1
            item.setdefault("id", counter)
            if isinstance(item.get("emoji"), dict):  # a unicode emoji comes back as just its name
                item["emoji"] = {k: v for k, v in item["emoji"].items() if v is not None}
            if isinstance(item.get("components"), list):
                item["components"] = walk(item["components"])
            out.append(item)
        return out

    return walk(components)
