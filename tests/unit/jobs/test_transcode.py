from bot.jobs import transcode


def test_plan_aims_under_the_limit_and_lowers_each_attempt():
    limit = 10 * 2**20
    first, height = transcode.plan(limit, 8, 0)
    second, _ = transcode.plan(limit, 8, 1)
    assert (first + transcode.AUDIO_KBPS) * 1000 * 8 <= limit * 8 * 0.9  # bits for 8 s stay under 90%
    assert second < first
    assert height in (360, 480, 720, 1080)


def test_long_videos_are_scaled_down():
    _, short_height = transcode.plan(10 * 2**20, 4, 0)
    _, long_height = transcode.plan(10 * 2**20, 20, 0)
    assert long_height <= short_height


def test_ffmpeg_is_found():
    assert transcode.find_ffmpeg() is not None
