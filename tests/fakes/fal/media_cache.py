"""Shared test material of the fake fal: one TLS CA per process, one stock video per process and length,
and the probed metadata of the videos it serves.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

import trustme

from .. import media


@functools.cache
def _tls_material() -> tuple[trustme.CA, trustme.LeafCert]:
    ca = trustme.CA(organization_name="FakeFal test CA")
    return ca, ca.issue_cert("127.0.0.1", "localhost")


_media_lock = threading.Lock()
_media_dir: Path | None = None
_default_videos: dict[int, Path] = {}
_probe_cache: dict[tuple[str, int, float], dict[str, Any]] = {}


def _shared_media_dir() -> Path:
    global _media_dir
    if _media_dir is None or not _media_dir.is_dir():
        _media_dir = Path(tempfile.mkdtemp(prefix="fakefal-media-"))
        atexit.register(shutil.rmtree, _media_dir, True)
    return _media_dir


def default_video_path(seconds: int = 4) -> Path:
    """The fake's stock video of `seconds` (1280x720 H.264+AAC), made once per process and length."""
    with _media_lock:
        video = _default_videos.get(seconds)
        if video is None or not video.is_file():
            video = media.make_mp4(_shared_media_dir() / f"fake-sora-{seconds}s.mp4", seconds=seconds)
            _default_videos[seconds] = video
        return video


def _video_metadata(path: Path) -> dict[str, Any]:
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime)
    with _media_lock:
        cached = _probe_cache.get(key)
    if cached is not None:
        return cached
    meta: dict[str, Any] = {"width": None, "height": None, "fps": None, "duration": None, "num_frames": None}
    try:
        info = media.probe(path)
    except media.MediaError:
        info = None
    if info is not None:
        video = next((s for s in info["streams"] if s.get("codec_type") == "video"), None)
        if video is not None:
            meta["width"] = video.get("width")
            meta["height"] = video.get("height")
            num, _, den = str(video.get("r_frame_rate", "0/1")).partition("/")
            try:
                meta["fps"] = round(float(num) / float(den or 1), 3)
            except (ValueError, ZeroDivisionError):
                meta["fps"] = None
            frames = video.get("nb_frames")
            meta["num_frames"] = int(frames) if frames and str(frames).isdigit() else None
        duration = info.get("format", {}).get("duration")
        meta["duration"] = float(duration) if duration else None
    with _media_lock:
        _probe_cache[key] = meta
    return meta
