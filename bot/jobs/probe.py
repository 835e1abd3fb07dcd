"""Is what fal sent really the video? Read every video packet with ffmpeg (no decoding, so a 100 MiB file
takes well under a second and no memory of ours) and compare the length it can play with the length asked.
An HTML error page, a truncated download or a file cut short at fal all fail here, before anything is
posted or charged."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path

_OUT_TIME = re.compile(rb"^out_time_us=(\d+)$", re.M)
# ffmpeg's demuxer says this when the file ends inside a packet: the download (or fal's file) is short.
_TRUNCATED = (b"partial file", b"moov atom not found", b"Invalid data found")
# How far the playable length may fall short of the duration asked (the last frame's own length, and
# encoders that stop a few frames early), and how far it may run over.
SHORT_BY = 1.0
LONG_BY = 2.5


@dataclass(frozen=True)
class Probe:
    ok: bool
    seconds: float | None
    why: str  # for the log; the member hears a fixed sentence


async def probe(ffmpeg: str | None, path: Path, expected_seconds: float | None) -> Probe:
    """Whether `path` plays as a video of about `expected_seconds` (None: any length)."""
    if ffmpeg is None:
        # No ffmpeg: the best we can do is the MP4 signature ('ftyp' box first).
        with path.open("rb") as file:  # noqa: ASYNC230 - 12 bytes from a local file
            head = file.read(12)
        return Probe(head[4:8] == b"ftyp", None, "checked by its signature only (no ffmpeg)")
    process = await asyncio.create_subprocess_exec(
        ffmpeg,
        "-hide_banner",
        "-nostdin",
        "-v",
        "error",
        "-i",
        str(path),
        "-map",
        "0:v:0",
        "-c",
        "copy",
        "-f",
        "null",
        "-progress",
        "pipe:1",
        "-",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        return Probe(False, None, f"ffmpeg cannot read it: {_first_line(err)}")
    if any(marker in err for marker in _TRUNCATED):
        return Probe(False, None, f"the file is cut short: {_first_line(err)}")
    times = _OUT_TIME.findall(out)
    seconds = int(times[-1]) / 1e6 if times else 0.0
    if seconds <= 0:
        return Probe(False, seconds, "it holds no video frames")
    if expected_seconds is not None and not expected_seconds - SHORT_BY <= seconds <= expected_seconds + LONG_BY:
        return Probe(False, seconds, f"it plays {seconds:.1f} s, not about {expected_seconds:g} s")
    return Probe(True, seconds, "plays")


def _first_line(err: bytes) -> str:
    lines = err.decode(errors="replace").strip().splitlines()
    return lines[0][:200] if lines else "no message"
