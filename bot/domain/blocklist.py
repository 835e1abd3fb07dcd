"""Matching a server's blocked terms: case- and accent-insensitive, whole words (or whole phrases)."""

from __future__ import annotations

import re
import unicodedata

from bot.domain.prompt_text import without_invisible


def normalise(text: str) -> str:
    """Fold case and accents, drop what renders as nothing (a zero-width space inside a blocked word
    must not hide it) and collapse spaces: 'Café  NOIR' -> 'cafe noir'."""
    decomposed = unicodedata.normalize("NFKD", without_invisible(text).casefold())
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.split())


def contains_blocked(prompt: str, terms: list[str]) -> bool:
    """Whether any term stands in the prompt as a whole word or phrase ('cat' is not in 'category')."""
    text = normalise(prompt)
    for term in terms:
        words = normalise(term).split(" ")
        if not words or words == [""]:
            continue
        # Between the words of a phrase, any run of non-word characters ("red-hat" matches "red hat").
        pattern = r"(?<!\w)" + r"\W+".join(re.escape(w) for w in words) + r"(?!\w)"
        if re.search(pattern, text):
            return True
    return False
