"""Prompts are cleaned once at intake: no control or bidi-override character is stored, sent or echoed,
a prompt with nothing visible is refused, and real text in any script is kept as typed."""

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain import prompt_text, sora
from bot.domain.models import Job, JobState, VideoSpec

BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def forbidden(ch: str) -> bool:
    return (
        ch in BIDI_CONTROLS
        or unicodedata.category(ch) == "Cs"
        or (unicodedata.category(ch) == "Cc" and ch not in "\t\n")
    )


@pytest.mark.parametrize(
    "prompt",
    [
        "\u200b\u200c\u200d\u2060\ufeff",  # zero-width space, non-joiner, joiner, word joiner, BOM
        "\u202e\u2066\u200f\u200e\u061c",  # bidi controls and marks only
        " \u3164\u115f\u00ad\ufe0f \t\n",  # Hangul fillers, soft hyphen, variation selector, whitespace
        "\x00\x07\x1b\u180e\U000e0041",  # controls, Mongolian vowel separator, a tag
    ],
)
def test_a_prompt_with_nothing_visible_is_refused(prompt):
    with pytest.raises(sora.InvalidRequest, match="Your prompt has no visible text."):
        sora.text_to_video(prompt)


def test_control_and_bidi_override_characters_are_removed_everywhere():
    request = sora.text_to_video("\u202ea cat\x07 on a\x1b\x85 roof\u2066\u2069\r\nat dusk\x00")
    assert request.prompt == "a cat on a roof\nat dusk"
    assert sora.fal_call(request)[1]["prompt"] == "a cat on a roof\nat dusk"


@pytest.mark.parametrize(
    "prompt",
    [
        "a café in Zürich, crème brûlée",
        "東京の夜景、雨が降る",
        "قطة تجلس على السطح",  # Arabic: right-to-left letters are not bidi controls
        "שלום \u200fעולם\u200f!",  # Hebrew with right-to-left marks, which it needs
        "a family 👨\u200d👩\u200d👧 waving, 🏳\ufe0f\u200d🌈 flag",  # emoji ZWJ sequences and selectors
        "England 🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f",  # tag sequence flag
        "نمی\u200cخواهم",  # Persian with a zero-width non-joiner
        "line one\n\tline two",
    ],
)
def test_real_text_is_kept_as_typed(prompt):
    assert sora.text_to_video(prompt).prompt == prompt


def test_a_reroll_cleans_a_prompt_stored_before_cleaning_existed():
    job = Job(
        id=1,
        spec=VideoSpec(
            kind="text_to_video",
            prompt="\u202ea fox\x1b",
            model="sora-2",
            duration=4,
            aspect_ratio="16:9",
            resolution="720p",
        ),
        state=JobState.DELIVERED,
        guild_id=1,
        channel_id=2,
        user_id=3,
        endpoint="fal-ai/sora-2/text-to-video",
        arguments={"delete_video": False},
        cost_usd=0.4,
        created_at=0,
        updated_at=0,
    )
    assert sora.again(job).prompt == "a fox"
    with pytest.raises(sora.InvalidRequest, match="no visible text"):
        sora.again(job.model_copy(update={"spec": job.spec.model_copy(update={"prompt": "\u200b\u202e"})}))


@given(st.text(max_size=200))
def test_cleaned_text_never_holds_a_control_or_bidi_override(text):
    assert not any(forbidden(ch) for ch in prompt_text.clean(text))


SHOWN = st.characters(categories=("L", "M", "N", "P", "S", "Zs")).filter(
    lambda ch: not prompt_text._IGNORABLE.match(ch)
)


@given(st.text(alphabet=SHOWN, max_size=100).filter(lambda t: t.strip()))
def test_visible_text_is_kept(text):
    """Letters, marks, digits, punctuation, symbols and spaces survive cleaning untouched and count as visible."""
    assert prompt_text.clean(text) == text.strip()
    assert prompt_text.visible(text)


@given(st.text(max_size=200))
def test_intake_never_raises_anything_but_a_refusal(text):
    try:
        request = sora.text_to_video(text)
    except sora.InvalidRequest:
        return
    assert prompt_text.visible(request.prompt) and not any(forbidden(ch) for ch in request.prompt)
