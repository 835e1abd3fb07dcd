"""Fitting a video under a Discord upload limit with ffmpeg (H.264 + AAC, scaled down when needed)."""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

AUDIO_KBPS = 96
MIN_VIDEO_KBPS = 150


def find_ffmpeg() -> str | None:
    """Debian's ffmpeg when installed, else the binary of the imageio-ffmpeg wheel."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg
    except ImportError:
        return None
    try:
        path: str = imageio_ffmpeg.get_ffmpeg_exe()  # the wheel has no type hints; it returns the binary's path
        return path
    except RuntimeError:
        return None


def plan(limit_bytes: int, duration: float, attempt: int) -> tuple[int, int]:
    """(video kbps, max height) for the attempt: aim at 90% of the limit, then lower each retry."""
    budget_kbits = limit_bytes * 8 / 1000 * (0.90 - 0.12 * attempt)
    video_kbps = int(budget_kbits / max(duration, 1.0)) - AUDIO_KBPS
    # Fewer pixels keep a low bitrate watchable.
    height = 1080 if video_kbps > 5000 else 720 if video_kbps > 1500 else 480 if video_kbps > 600 else 360
    return video_kbps, height


async def fit(ffmpeg: str, source: Path, limit_bytes: int, duration: float, *, attempts: int = 3) -> Path | None:
    """A re-encoded copy under limit_bytes, or None when it cannot be made to fit."""
    for attempt in range(attempts):
        video_kbps, height = plan(limit_bytes, duration, attempt)
        if video_kbps < MIN_VIDEO_KBPS:
            return None
        target = source.with_name(f"{source.stem}.fit{attempt}.mp4")
        args = [
            ffmpeg,
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(source),
            "-map",
            "0:v:0",
            "-map",
            "0:a:0?",
            "-vf",
            f"scale=-2:'min({height},ih)'",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-pix_fmt",
            "yuv420p",
            "-b:v",
            f"{video_kbps}k",
            "-maxrate",
            f"{video_kbps}k",
            "-bufsize",
            f"{video_kbps}k",
            "-c:a",
            "aac",
            "-b:a",
            f"{AUDIO_KBPS}k",
            "-movflags",
            "+faststart",
            str(target),
        ]
        process = await asyncio.create_subprocess_exec(
            *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
        _, stderr = await process.communicate()
        if process.returncode != 0:
            log.warning("ffmpeg failed (%s): %s", process.returncode, stderr.decode(errors="replace")[-500:])
            target.unlink(missing_ok=True)
            return None
        if target.stat().st_size <= limit_bytes:
            return target
        log.info("re-encode attempt %d gave %d bytes > %d, trying lower", attempt, target.stat().st_size, limit_bytes)
        target.unlink(missing_ok=True)
    return None
