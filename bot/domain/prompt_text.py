"""A member's prompt made safe to store, send and echo: control characters and bidi overrides removed,
everything else (accents, CJK, right-to-left scripts, emoji and their joiners) kept as typed."""

from __future__ import annotations

import re
import unicodedata

# C0 controls but tab and newline, DEL, C1 controls; the bidi embeddings, overrides and isolates
# (U+202A-U+202E, U+2066-U+2069), which reorder everything after them in the embed they are echoed in;
# lone surrogates, which are not text and which SQLite cannot store. Bidi marks (LRM, RLM, ALM) stay:
# right-to-left writing uses them and they reorder nothing beyond their neighbours.
_REMOVED = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")

# Unicode's Default_Ignorable_Code_Point: characters that render as nothing (zero-width spaces and
# joiners, variation selectors, tags, Hangul fillers...). Python's unicodedata does not expose it.
_IGNORABLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f"
    "\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)


def clean(prompt: str) -> str:
    """The prompt without control and bidi-override characters; line breaks become newlines."""
    prompt = prompt.replace("\r\n", "\n").replace("\r", "\n")
    return _REMOVED.sub("", prompt).strip()


def without_invisible(text: str) -> str:
    """`text` without the characters that render as nothing (so matching sees what a reader sees)."""
    return _IGNORABLE.sub("", text)


def visible(text: str) -> bool:
    """Whether anything would show: a character that is not whitespace, a format or control
    character, or one that renders as nothing. Unassigned code points count as visible (they may be
    emoji newer than this Python's Unicode tables)."""
    return any(
        not ch.isspace() and unicodedata.category(ch) not in ("Cc", "Cf", "Cs") and not _IGNORABLE.match(ch)
        for ch in text
    )
