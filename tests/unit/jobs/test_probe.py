"""What fal sends is checked before it is posted: real ffmpeg on real files, good and broken."""

from __future__ import annotations

import pytest

from bot.jobs.probe import probe
from bot.jobs.transcode import find_ffmpeg
from tests.fakes import media


@pytest.fixture(scope="module")
def ffmpeg() -> str:
    found = find_ffmpeg()
    assert found is not None
    return found


@pytest.fixture(scope="module")
def eight_seconds(tmp_path_factory):
    return media.make_mp4(tmp_path_factory.mktemp("probe") / "eight.mp4", seconds=8, width=320, height=240)


async def test_a_good_video_of_the_asked_length_plays(ffmpeg, eight_seconds):
    checked = await probe(ffmpeg, eight_seconds, 8)
    assert checked.ok and 7.0 <= checked.seconds <= 8.5


async def test_a_video_of_another_length_is_refused(ffmpeg, eight_seconds):
    checked = await probe(ffmpeg, eight_seconds, 20)
    assert not checked.ok and "not about 20 s" in checked.why


@pytest.mark.parametrize("keep", [0.5, 0.1])
async def test_a_truncated_video_is_refused(ffmpeg, eight_seconds, tmp_path, keep):
    data = eight_seconds.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * keep)])
    assert not (await probe(ffmpeg, cut, 8)).ok


async def test_an_html_page_is_refused_even_without_ffmpeg(ffmpeg, tmp_path):
    page = tmp_path / "page.mp4"
    page.write_bytes(b"<!doctype html><html><body>502 Bad Gateway</body></html>")
    assert not (await probe(ffmpeg, page, 4)).ok
    assert not (await probe(None, page, 4)).ok


async def test_without_ffmpeg_an_mp4_signature_is_all_that_is_checked(eight_seconds):
    assert (await probe(None, eight_seconds, 8)).ok
