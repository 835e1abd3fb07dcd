"""The simulated fal backend: fal's input rules, the queue lifecycle on a controlled clock, remix and
characters, restarts, and the caption fallback, with the real ffmpeg."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
from pathlib import Path

import aiohttp
import pytest

from bot.fal.errors import FalRefused, FalResultGone, FalUnavailable
from bot.fal.simulated.inputs import CHARACTERS, IMAGE, IMAGE_PRO, REMIX, TEXT, TEXT_PRO, Shape, problems, shape
from bot.fal.simulated.queue import SimulatedFal
from bot.fal.simulated.render import caption, render
from bot.jobs.transcode import find_ffmpeg
from tests.fakes.media import probe

FFMPEG = find_ffmpeg()
pytestmark = pytest.mark.skipif(FFMPEG is None, reason="needs ffmpeg")  # imageio-ffmpeg is a dependency


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def text_args(**more: object) -> dict[str, object]:
    return {"prompt": "a red fox in snow", "duration": 4, "aspect_ratio": "16:9", "delete_video": False, **more}


@pytest.fixture
async def sim(tmp_path):
    clock = Clock()
    backend = SimulatedFal(tmp_path / "sim", FFMPEG, queue_seconds=2.0, run_seconds=4.0, clock=clock)
    await backend.start()
    backend.clock = clock  # type: ignore[attr-defined]
    try:
        yield backend
    finally:
        await backend.close()


async def finish(sim: SimulatedFal, endpoint: str, request_id: str) -> None:
    """Move the clock past the run and wait for ffmpeg."""
    sim.clock.now += 100  # type: ignore[attr-defined]
    for _ in range(600):
        if (await sim.status(endpoint, request_id)).state == "completed":
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the simulated render never finished")


def test_inputs_are_checked_like_fal():
    assert problems(TEXT, text_args()) == []
    assert problems(TEXT, text_args(duration="8")) == []  # fal takes "8" as well as 8
    [bad] = problems(TEXT, text_args(duration=5))
    assert bad["loc"] == ["body", "duration"] and bad["type"] == "literal_error"
    assert [p["loc"][-1] for p in problems(TEXT, text_args(resolution="1080p"))] == ["resolution"]
    assert problems(TEXT_PRO, text_args(resolution="1080p")) == []
    assert [p["loc"][-1] for p in problems(IMAGE, text_args())] == ["image_url"]
    assert problems(IMAGE, text_args(image_url="data:image/png;base64," + "A" * 100_000)) == []  # data URIs too
    assert problems(IMAGE_PRO, text_args(image_url="https://x/y.png", aspect_ratio="auto", resolution="auto")) == []
    assert [p["type"] for p in problems(TEXT, {"prompt": ""})] == ["string_too_short"]
    assert [p["type"] for p in problems(TEXT, {"prompt": "x" * 5001})] == ["string_too_long"]
    assert [p["loc"][-1] for p in problems(TEXT, text_args(character_ids=["a", "b", "c"]))] == ["character_ids"]
    assert {p["loc"][-1] for p in problems(REMIX, {})} == {"prompt", "video_id"}
    assert {p["loc"][-1] for p in problems(CHARACTERS, {"name": "Ada"})} == {"video_url"}


def test_shapes_follow_aspect_and_resolution():
    assert shape("16:9", "720p", 8) == Shape(1280, 720, 8)
    assert shape("9:16", "720p", "4") == Shape(720, 1280, 4)
    assert shape("9:16", "1080p", 12) == Shape(1080, 1920, 12)
    assert shape("auto", "auto", 4) == Shape(1280, 720, 4)


def test_caption_is_the_prompts_first_words_and_fits():
    assert caption("a red fox   in the\nsnow at dusk, slowly") == "SIMULATED - not Sora\na red fox in the snow"
    assert len(caption("x" * 500).splitlines()[1]) == 32


async def test_queue_lifecycle_then_a_real_video_over_loopback(sim):
    request_id = await sim.submit(TEXT, text_args(aspect_ratio="9:16"))
    first = await sim.status(TEXT, request_id)
    assert first.state == "queued" and first.position == 1
    sim.clock.now += 1.5
    assert (await sim.status(TEXT, request_id)).position == 0
    sim.clock.now += 1.0  # 0.5 s into the 4 s run
    running = await sim.status(TEXT, request_id)
    assert running.state == "running" and running.logs == ["Starting video generation (simulated)"]
    sim.clock.now += 2.0
    assert (await sim.status(TEXT, request_id)).logs[-1] == "Generating video... 50%"
    with pytest.raises(FalRefused):
        await sim.result(TEXT, request_id)  # like fal: no result before completion
    await finish(sim, TEXT, request_id)

    result = await sim.result(TEXT, request_id)
    assert result["simulated"] is True and result["video_id"].startswith("video_sim_")
    assert result["video"]["url"].startswith("http://127.0.0.1:")
    async with aiohttp.ClientSession() as http, http.get(result["video"]["url"]) as response:
        assert response.status == 200
        body = await response.read()
    assert len(body) == result["video"]["file_size"]
    path = Path(sim._dir) / "videos" / result["video"]["file_name"]
    info = probe(path)
    video = next(s for s in info["streams"] if s["codec_type"] == "video")
    assert (video["width"], video["height"]) == (720, 1280)
    assert {s["codec_type"] for s in info["streams"]} == {"video", "audio"}


async def test_remix_accepts_only_videos_it_made_and_kept(sim):
    kept = await sim.submit(TEXT, text_args(duration=8, aspect_ratio="9:16"))
    deleted = await sim.submit(TEXT, text_args(delete_video=True))
    await finish(sim, TEXT, kept)
    await finish(sim, TEXT, deleted)
    kept_id = (await sim.result(TEXT, kept))["video_id"]
    deleted_id = (await sim.result(TEXT, deleted))["video_id"]

    remix = await sim.submit(REMIX, {"prompt": "at night", "video_id": kept_id, "delete_video": False})
    await finish(sim, REMIX, remix)
    result = await sim.result(REMIX, remix)
    assert result["video_id"] != kept_id
    assert (result["video"]["width"], result["video"]["height"], result["video"]["duration"]) == (720, 1280, 8)

    with pytest.raises(FalRefused) as unknown:
        await sim.submit(REMIX, {"prompt": "x", "video_id": "video_123"})
    assert unknown.value.status == 422 and "video_id" in unknown.value.user_message
    with pytest.raises(FalRefused) as gone:
        await sim.submit(REMIX, {"prompt": "x", "video_id": deleted_id})
    assert "cannot be remixed" in gone.value.user_message


async def test_characters_are_made_and_usable_in_generations(sim):
    request_id = await sim.submit(CHARACTERS, {"name": "Ada", "video_url": "https://cdn.example/ada.mp4"})
    await finish(sim, CHARACTERS, request_id)
    character = await sim.result(CHARACTERS, request_id)
    assert character["name"] == "Ada" and character["id"].startswith("char_sim_")
    await sim.submit(TEXT, text_args(character_ids=[character["id"]]))
    with pytest.raises(FalRefused) as refused:
        await sim.submit(TEXT, text_args(character_ids=["char_sim_" + "0" * 24]))
    assert "character_ids" in refused.value.user_message


async def test_refusals_cancel_and_unknown_requests(sim):
    with pytest.raises(FalRefused) as invalid:
        await sim.submit(TEXT, text_args(duration=7))
    assert invalid.value.status == 422 and "duration" in invalid.value.user_message

    flagged = await sim.submit(TEXT, text_args(prompt="something #refuse"))
    sim.clock.now += 100
    status = await sim.status(TEXT, flagged)
    assert status.state == "completed" and status.error_type == "content_policy_violation"
    with pytest.raises(FalRefused) as policy:
        await sim.result(TEXT, flagged)
    assert "content policy" in policy.value.user_message

    queued = await sim.submit(TEXT, text_args())
    assert await sim.cancel(TEXT, queued) is True
    assert (await sim.status(TEXT, queued)).error_type == "request_cancelled"
    assert await sim.cancel(TEXT, queued) is False

    with pytest.raises(FalResultGone):
        await sim.status(TEXT, "00000000-0000-0000-0000-000000000000")
    with pytest.raises(FalResultGone):
        await sim.status(TEXT, "../../etc/passwd")


async def test_a_new_instance_resumes_requests_and_remixes_from_disk(tmp_path):
    clock = Clock()
    first = SimulatedFal(tmp_path / "sim", FFMPEG, queue_seconds=1.0, run_seconds=1.0, clock=clock)
    await first.start()
    done = await first.submit(TEXT, text_args())
    first.clock = clock  # type: ignore[attr-defined]
    await finish(first, TEXT, done)
    video_id = (await first.result(TEXT, done))["video_id"]
    pending = await first.submit(TEXT, text_args())
    url = (await first.result(TEXT, done))["video"]["url"]
    await first.close()  # the render of `pending` is cut short, as by a restart

    second = SimulatedFal(tmp_path / "sim", FFMPEG, queue_seconds=1.0, run_seconds=1.0, clock=clock)
    await second.start()
    second.clock = clock  # type: ignore[attr-defined]
    try:
        assert (await second.result(TEXT, done))["video"]["url"] == url  # same port: stored links still work
        await finish(second, TEXT, pending)
        await second.submit(REMIX, {"prompt": "again", "video_id": video_id})
    finally:
        await second.close()


async def test_without_ffmpeg_submit_fails_clearly(tmp_path):
    backend = SimulatedFal(tmp_path / "sim", None)
    await backend.start()
    try:
        with pytest.raises(FalUnavailable) as missing:
            await backend.submit(TEXT, text_args())
        assert "ffmpeg" in missing.value.user_message
    finally:
        await backend.close()


def frame_top(path: Path, shape_: Shape) -> bytes:
    """The top fifth of the first frame, as raw grey pixels."""
    out = subprocess.run(
        [FFMPEG, "-v", "error", "-i", str(path), "-frames:v", "1", "-vf", "crop=iw:ih/5:0:0", "-f", "rawvideo"]
        + ["-pix_fmt", "gray", "-"],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    assert len(out) == shape_.width * (shape_.height // 5)
    return out


async def test_the_caption_is_drawn_and_an_ffmpeg_without_drawtext_still_makes_the_clip(tmp_path):
    small = Shape(320, 180, 1)
    with_text, without = tmp_path / "with.mp4", tmp_path / "without.mp4"
    await render(FFMPEG, with_text, small, caption("a lighthouse"))
    await render(FFMPEG, without, small, None)
    differing = sum(a != b for a, b in zip(frame_top(with_text, small), frame_top(without, small), strict=True))
    assert differing > 500  # the caption box and its letters

    # An ffmpeg that refuses drawtext (a static build without fonts, say): the clip comes without caption.
    fake = tmp_path / "ffmpeg-no-drawtext"
    fake.write_text(
        "#!/bin/sh\n"
        'case "$*" in *drawtext*) echo "No such filter: drawtext" >&2; exit 1;; esac\n'
        f'exec "{FFMPEG}" "$@"\n'
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    clock = Clock()
    backend = SimulatedFal(tmp_path / "sim", str(fake), queue_seconds=0.0, run_seconds=1.0, clock=clock)
    await backend.start()
    backend.clock = clock  # type: ignore[attr-defined]
    try:
        request_id = await backend.submit(TEXT, text_args())
        await finish(backend, TEXT, request_id)
        result = await backend.result(TEXT, request_id)
        assert result["video"]["file_size"] > 0
        assert not any(name.endswith(".partial.mp4") for name in os.listdir(tmp_path / "sim" / "videos"))
    finally:
        await backend.close()
