"""Which images /animate-attachment accepts: PNG, JPEG or WEBP by content type AND by the file's own
bytes (a renamed text file is refused), at most 20 MiB and 40 megapixels, and one that really decodes
(a PNG header on a garbage body would otherwise reach fal, cost a call and fail in public). All checked
before any quota or fal call."""

from __future__ import annotations

import asyncio
import io
from concurrent.futures import ThreadPoolExecutor

import aiohttp
from PIL import Image

from bot.domain.models import Refused
from bot.domain.text import Text

MAX_IMAGE_BYTES = 20 * 2**20
MAX_PIXELS = 40_000_000  # a 24 MP photo or an 8K screenshot fits; decoding one stays near 160 MB at most
ACCEPTED = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}
NOT_AN_IMAGE = Text("That file isn't really a PNG, JPEG or WEBP image (its contents say otherwise).")
BROKEN = Text("That image is damaged or incomplete: I couldn't open it. Try saving it again.")

# One decode at a time, off the event loop: memory peaks at one image however many members animate at once.
_decoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="image-decode")


class ImageRefused(Refused):
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


def _declared(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def check_declared(content_type: str | None, size: int) -> None:
    if _declared(content_type) not in ACCEPTED:
        raise ImageRefused(Text("That file isn't an image Sora can start from: attach a PNG, JPEG or WEBP."))
    if size > MAX_IMAGE_BYTES:
        size_mib, limit_mib = f"{size / 2**20:.1f}", MAX_IMAGE_BYTES // 2**20
        raise ImageRefused(Text("That image is {size} MiB; the limit is {limit} MiB.", size=size_mib, limit=limit_mib))


def check_head(content_type: str | None, head: bytes) -> None:
    actual = sniff(head)
    if actual is None or actual != _declared(content_type):
        raise ImageRefused(NOT_AN_IMAGE)


def decode(content_type: str | None, data: bytes) -> None:
    """Raise ImageRefused unless data is a whole image of the declared type, decoded to its last pixel."""
    check_head(content_type, data[:16])
    try:
        with Image.open(io.BytesIO(data), formats=[ACCEPTED[_declared(content_type)]]) as image:
            if image.width * image.height > MAX_PIXELS:  # read from the header, before any pixel is decoded
                raise ImageRefused(
                    Text(
                        "That image is {width}×{height} pixels; the limit is {limit} megapixels.",
                        width=image.width,
                        height=image.height,
                        limit=MAX_PIXELS // 10**6,
                    )
                )
            image.draft("RGB", (1024, 1024))  # a JPEG decodes at reduced scale, every byte still read
            image.load()
    except ImageRefused:
        raise
    except Exception:  # Pillow says "not a valid image" in many ways (OSError, SyntaxError, struct.error...)
        raise ImageRefused(BROKEN) from None


async def download(session: aiohttp.ClientSession, url: str) -> bytes:
    """The attachment's bytes from Discord, at most MAX_IMAGE_BYTES of them."""
    data = bytearray()
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=30)) as response:
            response.raise_for_status()
            async for chunk in response.content.iter_chunked(2**16):
                data += chunk
                if len(data) > MAX_IMAGE_BYTES:  # the declared size was checked; the bytes decide
                    limit = MAX_IMAGE_BYTES // 2**20
                    raise ImageRefused(Text("That image is over {limit} MiB, the limit.", limit=limit))
    except (aiohttp.ClientError, TimeoutError):
        raise ImageRefused(Text("I couldn't read that attachment from Discord; please try again.")) from None
    return bytes(data)


async def check_image(session: aiohttp.ClientSession, url: str, content_type: str | None) -> None:
    """Download the image and decode it off the event loop; raise ImageRefused with a sentence if it fails."""
    data = await download(session, url)
    await asyncio.get_running_loop().run_in_executor(_decoder, decode, content_type, data)
