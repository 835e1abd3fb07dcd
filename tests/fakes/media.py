"""Small, valid media files for tests, made with ffmpeg.

Every file made here is an MP4 with an H.264 (yuv420p) video stream and an AAC audio
stream (a sine tone), with the ``moov`` atom at the front (``+faststart``), so ffprobe,
browsers and Discord's player all accept it.

``make_mp4(..., noisy=True)`` encodes high-entropy video at a fixed bitrate so that the
file is large: about 12.3 MiB for 8 s at 1280x720. ``make_mp4_of_size`` aims at an exact
byte count (re-encoding once or twice with a corrected bitrate when the first try misses).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

__all__ = [
    "MediaError",
    "ffmpeg_exe",
    "ffprobe_exe",
    "make_mp4",
    "make_mp4_of_size",
    "make_png",
    "probe",
]

# Bitrate of the noisy video stream; with 128 kb/s of audio and the container this gives
# about 12.3 MiB for 8 seconds.
NOISY_VIDEO_KBPS = 12_600
AUDIO_KBPS = 128
# Bytes the MP4 container adds beyond the audio and video payload, roughly (a guess that
# the size-targeting loop corrects anyway).
_CONTAINER_OVERHEAD = 40_000


class MediaError(RuntimeError):
    """ffmpeg/ffprobe is missing, failed, or the file is not valid media."""


def ffmpeg_exe() -> str:
    """The ffmpeg on PATH, else the one bundled with imageio-ffmpeg."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg
    except ImportError as exc:  # pragma: no cover - imageio-ffmpeg is a dependency
        raise MediaError("no ffmpeg on PATH and imageio-ffmpeg is not installed") from exc
    return str(imageio_ffmpeg.get_ffmpeg_exe())


def ffprobe_exe() -> str | None:
    """The ffprobe on PATH, or None (imageio-ffmpeg does not ship one)."""
    return shutil.which("ffprobe")


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise MediaError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")


def _encode(
    path: Path,
    *,
    seconds: float,
    width: int,
    height: int,
    fps: int,
    noisy: bool,
    video_kbps: int | None,
) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    size = f"{width}x{height}"
    if noisy:
        # Grey frames with strong per-frame random noise: nearly incompressible, so
        # the encoder spends the whole bitrate it is allowed.
        video_src = f"color=c=gray:s={size}:r={fps}:d={seconds},noise=alls=80:allf=t+u"
    else:
        video_src = f"testsrc2=s={size}:r={fps}:d={seconds}"
    cmd = [
        ffmpeg_exe(),
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        video_src,
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency=440:sample_rate=48000:duration={seconds}",
        "-map",
        "0:v:0",
        "-map",
        "1:a:0",
        "-c:v",
        "libx264",
        "-preset",
        # Noise is cheap to encode at ultrafast and the bitrate cap fixes its size;
        # the test pattern compresses far better at veryfast (about 0.5 MB for 4 s).
        "ultrafast" if noisy else "veryfast",
        "-pix_fmt",
        "yuv420p",
    ]
    if video_kbps is not None:
        cmd += [
            "-b:v",
            f"{video_kbps}k",
            "-maxrate",
            f"{video_kbps}k",
            "-bufsize",
            f"{max(video_kbps // 2, 1)}k",
        ]
    else:
        cmd += ["-crf", "30"]
    cmd += [
        "-c:a",
        "aac",
        "-b:a",
        f"{AUDIO_KBPS}k",
        "-ac",
        "2",
        "-shortest",
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
        str(path),
    ]
    _run(cmd)
    return path


def make_mp4(
    path: Path | str,
    seconds: float = 4,
    width: int = 1280,
    height: int = 720,
    noisy: bool = False,
    fps: int = 24,
) -> Path:
    """Write an H.264 + AAC MP4 to ``path`` and return it.

    Without ``noisy`` the picture is ffmpeg's ``testsrc2`` pattern and the file is small
    (about 0.5 MB for 4 s at 720p). With ``noisy`` the video is random noise encoded at
    ``NOISY_VIDEO_KBPS`` (about 12.3 MiB for 8 s at 1280x720).
    """
    return _encode(
        Path(path),
        seconds=seconds,
        width=width,
        height=height,
        fps=fps,
        noisy=noisy,
        video_kbps=NOISY_VIDEO_KBPS if noisy else None,
    )


def make_mp4_of_size(
    path: Path | str,
    target_bytes: int,
    seconds: float = 8,
    width: int = 1280,
    height: int = 720,
    fps: int = 24,
    tolerance: float = 0.03,
    max_attempts: int = 3,
) -> Path:
    """Write a noisy MP4 whose size is within ``tolerance`` (a fraction) of ``target_bytes``.

    The first encode uses the bitrate the target implies; when the result misses by more
    than ``tolerance`` the bitrate is scaled by the miss and the file encoded again. The
    last attempt's file is kept even if it still misses (callers assert on the size).
    """
    path = Path(path)
    audio_bytes = AUDIO_KBPS * 1000 / 8 * seconds
    video_bytes = max(target_bytes - audio_bytes - _CONTAINER_OVERHEAD, 10_000)
    kbps = max(int(video_bytes * 8 / seconds / 1000), 50)
    for _ in range(max(max_attempts, 1)):
        _encode(path, seconds=seconds, width=width, height=height, fps=fps, noisy=True, video_kbps=kbps)
        actual = path.stat().st_size
        if abs(actual - target_bytes) <= tolerance * target_bytes:
            break
        # Scale only the part of the file the video bitrate controls.
        actual_video = max(actual - audio_bytes - _CONTAINER_OVERHEAD, 1.0)
        kbps = max(int(kbps * video_bytes / actual_video), 50)
    return path


def make_png(path: Path | str, width: int = 1280, height: int = 720) -> Path:
    """Write a single-frame PNG test pattern (handy as an image-to-video input)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _run(
        [
            ffmpeg_exe(),
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=s={width}x{height}:r=1:d=1",
            "-frames:v",
            "1",
            str(path),
        ]
    )
    return path


def probe(path: Path | str) -> dict[str, Any]:
    """``ffprobe -show_streams -show_format`` of ``path`` as a dict.

    Raises ``MediaError`` when ffprobe is not installed, the file is missing, or ffprobe
    cannot read it (or finds no streams).
    """
    exe = ffprobe_exe()
    if exe is None:
        raise MediaError("ffprobe is not installed")
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"no such file: {path}")
    proc = subprocess.run(
        [exe, "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise MediaError(f"ffprobe cannot read {path}: {proc.stderr.strip()[-1000:]}")
    try:
        info: dict[str, Any] = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise MediaError(f"ffprobe printed no JSON for {path}") from exc
    if not info.get("streams"):
        raise MediaError(f"no streams in {path}")
    return info
