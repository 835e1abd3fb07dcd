"""Which images /animate-attachment accepts: PNG, JPEG or WEBP by content type AND by the file's own
first bytes (a renamed text file is refused), at most 20 MiB, checked before any quota or fal call."""

from __future__ import annotations

import aiohttp

MAX_IMAGE_BYTES = 20 * 2**20
ACCEPTED = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}
HEAD_BYTES = 16


class ImageRefused(ValueError):
    """The message is shown to the member."""


def sniff(head: bytes) -> str | None:
    """The content type the magic bytes say, among the accepted ones."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def check_declared(content_type: str | None, size: int) -> None:
    declared = (content_type or "").split(";")[0].strip().lower()
    if declared not in ACCEPTED:
        raise ImageRefused("That file isn't an image Sora can start from: attach a PNG, JPEG or WEBP.")
    if size > MAX_IMAGE_BYTES:
        raise ImageRefused(f"That image is {size / 2**20:.1f} MiB; the limit is {MAX_IMAGE_BYTES // 2**20} MiB.")


def check_head(content_type: str | None, head: bytes) -> None:
    actual = sniff(head)
    declared = (content_type or "").split(";")[0].strip().lower()
    if actual is None or actual != declared:
        raise ImageRefused("That file isn't really a PNG, JPEG or WEBP image (its contents say otherwise).")


async def fetch_head(session: aiohttp.ClientSession, url: str) -> bytes:
    """The first bytes of a file, without downloading it whole."""
    timeout = aiohttp.ClientTimeout(total=10)
    try:
        async with session.get(url, headers={"Range": f"bytes=0-{HEAD_BYTES - 1}"}, timeout=timeout) as response:
            response.raise_for_status()
            return await response.content.read(HEAD_BYTES)
    except (aiohttp.ClientError, TimeoutError):
        raise ImageRefused("I couldn't read that attachment from Discord; please try again.") from None


async def check_attachment(session: aiohttp.ClientSession, url: str, content_type: str | None, size: int) -> None:
    check_declared(content_type, size)
    check_head(content_type, await fetch_head(session, url))
