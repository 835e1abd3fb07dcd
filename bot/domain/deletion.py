"""Deleting a delivered video (the 🗑️ Delete button): who may, and what the member is told. Every text is
built here, once, so it can be translated in one place."""

from __future__ import annotations

from bot.domain.text import Text


def may_delete(owner_id: int, actor_id: int, manages_messages: bool) -> bool:
    """The member who asked for the video, or anyone who may delete others' messages in its channel."""
    return actor_id == owner_id or manages_messages


def not_allowed() -> str:
    return Text("Only the member who made this video, or a moderator, can delete it.")


def confirm_question() -> str:
    return Text("Delete this video? Its message will be removed for everyone; what it cost stays counted.")


def deleted() -> str:
    return Text("Deleted.")


def kept() -> str:
    return Text("Kept: nothing was deleted.")


def already_deleted() -> str:
    return Text("That video was already deleted.")


def delete_failed() -> str:
    return Text("Discord would not delete the message just now, so the video was not deleted; please try again.")


def no_remix_of_deleted() -> str:
    return Text("That video was deleted, so it can't be remixed.")


def no_reroll_of_deleted() -> str:
    return Text("That video was deleted, so it can't be re-rolled.")


def no_show_of_deleted() -> str:
    return Text("That video was deleted.")
