import pytest

from bot.domain import sora, video_refs
from bot.domain.models import Video, VideoSpec
from bot.domain.video_refs import MessageLink, VideoId
from bot.jobs import images


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "https://discord.com/channels/111111111111111111/222222222222222222/333333333333333333",
            MessageLink(111111111111111111, 222222222222222222, 333333333333333333),
        ),
        (
            "<https://ptb.discord.com/channels/111111111111111111/222222222222222222/333333333333333333>",
            MessageLink(111111111111111111, 222222222222222222, 333333333333333333),
        ),
        (
            "https://canary.discordapp.com/channels/111111111111111111/222222222222222222/333333333333333333/",
            MessageLink(111111111111111111, 222222222222222222, 333333333333333333),
        ),
        ("video_123", VideoId("video_123")),
        ("  `video_abc-9`  ", VideoId("video_abc-9")),
        ("https://example.com/channels/1/2/3", None),
        ("two words", None),
        ("", None),
    ],
)
def test_parse_video_references(text, expected):
    assert video_refs.parse(text) == expected


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 8, "image/png"),
        (b"\xff\xd8\xff\xe0" + b"\0" * 12, "image/jpeg"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"GIF89a" + b"\0" * 10, None),
        (b"hello, I am text", None),
    ],
)
def test_sniff_by_magic_bytes(head, kind):
    assert images.sniff(head) == kind


def test_declared_type_and_size_are_checked():
    images.check_declared("image/png", 1000)
    with pytest.raises(images.ImageRefused, match="PNG, JPEG or WEBP"):
        images.check_declared("text/plain", 10)
    with pytest.raises(images.ImageRefused, match="25.0 MiB; the limit is 20 MiB"):
        images.check_declared("image/jpeg", 25 * 2**20)


def test_a_renamed_file_is_caught_by_its_contents():
    with pytest.raises(images.ImageRefused, match="isn't really"):
        images.check_head("image/png", b"just some text!!")
    with pytest.raises(images.ImageRefused):
        images.check_head("image/png", b"\xff\xd8\xff\xe0" + b"\0" * 12)  # a JPEG claiming to be a PNG
    images.check_head("image/jpeg; charset=binary", b"\xff\xd8\xff\xe0" + b"\0" * 12)


def test_image_to_video_validation_and_mapping():
    request = sora.image_to_video("wave", "https://cdn/x.png", model="sora-2-pro", resolution="true_1080p")
    endpoint, arguments = sora.fal_call(request)
    assert endpoint == "fal-ai/sora-2/image-to-video/pro"
    assert arguments["image_url"] == "https://cdn/x.png" and arguments["delete_video"] is False
    assert arguments["aspect_ratio"] == "auto" and arguments["resolution"] == "true_1080p"
    with pytest.raises(sora.InvalidRequest, match="needs Sora 2 Pro"):
        sora.image_to_video("wave", "u", resolution="1080p")
    assert sora.fal_call(sora.image_to_video("wave", "u"))[0] == "fal-ai/sora-2/image-to-video"


def _video(**overrides) -> Video:
    values = dict(
        video_id="video_1",
        job_id=1,
        guild_id=1,
        channel_id=2,
        message_id=3,
        user_id=4,
        spec=VideoSpec(
            kind="text_to_video", prompt="p", model="sora-2-pro", duration=12, aspect_ratio="9:16", resolution="1080p"
        ),
        remixable=True,
        created_at=0.0,
    )
    values.update(overrides)
    return Video(**values)


def test_remix_keeps_the_source_shape_and_costs_its_duration():
    request = sora.remix("make it night", _video())
    assert sora.fal_call(request) == (
        "fal-ai/sora-2/video-to-video/remix",
        {"video_id": "video_1", "prompt": "make it night"},
    )
    assert request.duration == 12 and request.aspect_ratio == "9:16"
    assert sora.PriceTable().cost_micros(request) == 1_200_000  # remix price x source duration
    with pytest.raises(sora.InvalidRequest, match="can't be remixed"):
        sora.remix("x", _video(remixable=False))


def test_at_most_two_characters():
    assert sora.fal_call(sora.text_to_video("p", character_ids=("a", "b")))[1]["character_ids"] == ["a", "b"]
    with pytest.raises(sora.InvalidRequest, match="at most 2"):
        sora.text_to_video("p", character_ids=("a", "b", "c"))
