import pytest

from bot.domain import sora
from bot.domain.sora import InvalidRequest, PriceTable


def test_defaults_map_to_text_to_video_with_delete_video_false():
    request = sora.text_to_video("a red fox in snow")
    endpoint, arguments = sora.fal_call(request)
    assert endpoint == "fal-ai/sora-2/text-to-video"
    assert arguments == {
        "prompt": "a red fox in snow",
        "duration": 4,
        "aspect_ratio": "16:9",
        "resolution": "720p",
        "delete_video": False,
    }


def test_pro_maps_to_pro_endpoint_and_allows_1080p():
    request = sora.text_to_video("x", duration=12, aspect_ratio="9:16", model="sora-2-pro", resolution="1080p")
    endpoint, arguments = sora.fal_call(request)
    assert endpoint == "fal-ai/sora-2/text-to-video/pro"
    assert arguments["resolution"] == "1080p" and arguments["duration"] == 12 and arguments["aspect_ratio"] == "9:16"


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"prompt": "   "}, "empty"),
        ({"prompt": "x" * 5001}, "5001 characters"),
        ({"prompt": "x", "duration": 10}, "Duration"),
        ({"prompt": "x", "aspect_ratio": "1:1"}, "Aspect"),
        ({"prompt": "x", "model": "sora-3"}, "Model"),
        ({"prompt": "x", "resolution": "1080p"}, "1080p needs Sora 2 Pro"),
    ],
)
def test_bad_requests_are_refused_with_a_sentence(kwargs, fragment):
    with pytest.raises(InvalidRequest) as caught:
        sora.text_to_video(**kwargs)
    assert fragment in str(caught.value)


def test_prompt_of_exactly_5000_characters_is_accepted():
    assert len(sora.text_to_video("y" * 5000).prompt) == 5000


@pytest.mark.parametrize(
    ("model", "resolution", "duration", "cost"),
    [
        ("sora-2", "720p", 4, 0.40),
        ("sora-2", "720p", 20, 2.00),
        ("sora-2-pro", "720p", 8, 2.40),
        ("sora-2-pro", "1080p", 8, 4.00),
    ],
)
def test_cost_is_price_per_second_times_duration(model, resolution, duration, cost):
    request = sora.text_to_video("p", duration=duration, model=model, resolution=resolution)
    assert PriceTable().cost(request) == pytest.approx(cost)


def test_price_table_is_configurable():
    request = sora.text_to_video("p", duration=8)
    assert PriceTable(sora_2=0.25).cost(request) == pytest.approx(2.0)
