"""The simulated video: an ffmpeg test pattern of the requested size and length, the prompt's first
words drawn on it, and a silent audio track, so every later step (upload limits, re-encoding, embeds)
handles a real mp4."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from bot.fal.simulated.inputs import Shape

CAPTION_WORDS = 6
CAPTION_CHARS = 32


class RenderFailed(Exception):
    pass


def caption(prompt: str) -> str:
    """Two lines: what this is, then the prompt's first words (never more than fits the frame)."""
    words = " ".join(prompt.split()[:CAPTION_WORDS])
    if len(words) > CAPTION_CHARS:
        words = words[: CAPTION_CHARS - 1].rstrip() + "…"
    return f"SIMULATED - not Sora\n{words}"


def _arguments(ffmpeg: str, shape: Shape, output: str, text_file: str | None) -> list[str]:
    video = f"testsrc2=size={shape.width}x{shape.height}:rate=24:duration={shape.seconds}"
    args = [ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", video]
    args += ["-f", "lavfi", "-i", "anullsrc=channel_layout=stereo:sample_rate=44100"]
    if text_file is not None:
        # expansion=none: a prompt's "%{...}" must be drawn as typed, never evaluated.
        args += [
            "-vf",
            f"drawtext=textfile={text_file}:expansion=none:fontcolor=white:fontsize=min(w\\,h)/22:line_spacing=12"
            ":box=1:boxcolor=black@0.6:boxborderw=16:x=(w-text_w)/2:y=h/12",
        ]
    args += ["-map", "0:v", "-map", "1:a", "-t", str(shape.seconds)]
    # veryfast + CRF 30: a 20 s 720p clip renders in about 5 s on 2 cores and stays near 2.5 MB.
    args += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "30", "-pix_fmt", "yuv420p"]
    args += ["-c:a", "aac", "-b:a", "32k", "-movflags", "+faststart", output]
    return args


async def render(ffmpeg: str, target: Path, shape: Shape, text: str | None) -> None:
    """Write the clip to `target` (atomically: a crash never leaves half a file under that name).
    With `text` None, no caption is drawn (for an ffmpeg without drawtext or fonts)."""
    directory = target.parent
    partial = directory / f"{target.stem}.partial.mp4"
    text_file = None
    if text is not None:
        # A file with a name we chose keeps the prompt out of the filter graph and its escaping rules.
        text_file = f"{target.stem}.caption.txt"
        (directory / text_file).write_text(text, encoding="utf-8")
    # Relative names with cwd=directory: no path characters ever need filter-graph escaping.
    process = await asyncio.create_subprocess_exec(
        *_arguments(ffmpeg, shape, partial.name, text_file),
        cwd=directory,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, stderr = await process.communicate()
    except asyncio.CancelledError:
        process.kill()
        await process.wait()
        partial.unlink(missing_ok=True)
        raise
    finally:
        if text_file is not None:
            (directory / text_file).unlink(missing_ok=True)
    if process.returncode != 0:
        partial.unlink(missing_ok=True)
        raise RenderFailed(stderr.decode(errors="replace").strip()[-400:] or f"ffmpeg exited {process.returncode}")
    os.replace(partial, target)
