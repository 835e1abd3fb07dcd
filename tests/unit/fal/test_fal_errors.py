from bot.fal.errors import FalRefused, FalResultGone, FalUnavailable, refusal_sentence
from bot.fal.queue import _from_http


def test_content_policy_is_said_in_plain_words():
    detail = [{"loc": ["body", "prompt"], "msg": "flagged", "type": "content_policy_violation"}]
    assert "content policy" in refusal_sentence(detail)


def test_validation_names_the_field():
    detail = [{"loc": ["body", "duration"], "msg": "Input should be 4, 8 or 12", "type": "enum"}]
    assert refusal_sentence(detail) == "fal refused this request: duration: Input should be 4, 8 or 12."


def test_status_codes_map_to_typed_errors():
    assert isinstance(_from_http(422, [], None), FalRefused)
    assert isinstance(_from_http(404, "gone", None), FalResultGone)
    assert isinstance(_from_http(503, "x", None), FalUnavailable)
    unauthorized = _from_http(401, "bad key", None)
    assert isinstance(unauthorized, FalUnavailable) and "FAL_KEY" in unauthorized.user_message
    assert "bad key" not in unauthorized.user_message
