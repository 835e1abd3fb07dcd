"""Downloading fal's mp4: streamed to a temp file, never held in memory, and capped in size."""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

import aiohttp

from bot.domain.text import Text

CHUNK = 256 * 1024


class DownloadError(Exception):
    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


async def download(
    session: aiohttp.ClientSession,
    url: str,
    directory: Path,
    *,
    max_bytes: int,
    attempts: int = 3,
) -> Path:
    """Stream `url` to a new file in `directory`; retry transient failures; refuse anything over max_bytes."""
    for attempt in range(1, attempts + 1):
        try:
            return await _download_once(session, url, directory, max_bytes)
        except (TimeoutError, aiohttp.ClientError) as exc:
            if isinstance(exc, aiohttp.ClientResponseError) and exc.status in (403, 404, 410):
                raise DownloadError(Text("fal no longer has this video (its link expired).")) from None
            if attempt == attempts:
                raise DownloadError("The finished video could not be downloaded from fal.") from None
            await asyncio.sleep(2 ** (attempt - 1))
    raise AssertionError("unreachable")


async def _download_once(session: aiohttp.ClientSession, url: str, directory: Path, max_bytes: int) -> Path:
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=60)
    async with session.get(url, timeout=timeout) as response:
        response.raise_for_status()
        if response.content_length is not None and response.content_length > max_bytes:
            raise DownloadError(f"The video is larger than the {max_bytes // 2**20} MiB this bot accepts.")
        fd, name = tempfile.mkstemp(suffix=".mp4", dir=directory)
        path = Path(name)
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                async for chunk in response.content.iter_chunked(CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise DownloadError(f"The video is larger than the {max_bytes // 2**20} MiB this bot accepts.")
                    out.write(chunk)
        except BaseException:
            os.unlink(path)  # noqa: ASYNC240 - cleanup of our own temp file, no I/O wait worth a thread
            raise
        return path
