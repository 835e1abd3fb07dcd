"""What a member may ask of Sora 2, and how that maps onto fal's endpoints and prices."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeGuard

from bot.domain import deletion
from bot.domain.models import DURATIONS, PROMPT_MAX, Job, Model, Video, VideoRequest
from bot.domain.prompt_text import clean, visible
from bot.domain.quota import MICROS, to_micros
from bot.domain.text import Text

# Sora 2's endpoints on fal.
ENDPOINT_TEXT = "fal-ai/sora-2/text-to-video"
ENDPOINT_TEXT_PRO = "fal-ai/sora-2/text-to-video/pro"
ENDPOINT_IMAGE = "fal-ai/sora-2/image-to-video"
ENDPOINT_IMAGE_PRO = "fal-ai/sora-2/image-to-video/pro"
ENDPOINT_REMIX = "fal-ai/sora-2/video-to-video/remix"
ENDPOINT_CHARACTERS = "fal-ai/sora-2/characters"
MAX_CHARACTERS = 2


class InvalidRequest(ValueError):
    """A request we refuse before spending anything; its text is shown to the member (in their language
    when it is a Text)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


@dataclass(frozen=True)
class PriceTable:
    """USD per second of video."""

    sora_2: float = 0.10
    pro_720p: float = 0.30
    pro_1080p: float = 0.50
    remix: float = 0.10
    # A combination fal prices that we have no entry for (e.g. Pro at true_1080p): the operator sets
    # it, and it defaults to the dearest known price so an unknown job is never under-charged.
    unknown: float = 0.50

    def per_second(self, request: VideoRequest) -> float:
        if request.kind == "remix":
            return self.remix
        if request.model == "sora-2":
            return self.sora_2
        return {"720p": self.pro_720p, "1080p": self.pro_1080p}.get(request.resolution, self.unknown)

    def cost_micros(self, request: VideoRequest) -> int:
        """In millionths of a dollar, so sums are exact: 8 s at $0.10 is 800000, not 0.8000000000000002."""
        return to_micros(self.per_second(request)) * request.duration

    def cost(self, request: VideoRequest) -> float:
        return self.cost_micros(request) / MICROS


def _check_prompt(prompt: str) -> str:
    """The prompt every path stores, sends to fal and echoes: cleaned once here, at intake."""
    prompt = clean(prompt)
    if not prompt:
        raise InvalidRequest(Text("The prompt is empty: describe the video you want."))
    if not visible(prompt):  # fal would charge for a video of nothing
        raise InvalidRequest(Text("Your prompt has no visible text."))
    return prompt


def _is_model(model: str) -> TypeGuard[Model]:
    return model in ("sora-2", "sora-2-pro")


def _check_common(prompt: str, duration: int, model: str) -> tuple[str, Model]:
    """The checked prompt, and the model as the Model it was checked to be."""
    prompt = _check_prompt(prompt)
    if len(prompt) > PROMPT_MAX:
        raise InvalidRequest(
            Text(
                "The prompt is {length} characters long; Sora accepts at most {limit}.",
                length=len(prompt),
                limit=PROMPT_MAX,
            )
        )
    if duration not in DURATIONS:
        durations = ", ".join(map(str, DURATIONS))
        raise InvalidRequest(Text("Duration must be one of {durations} seconds.", durations=durations))
    if not _is_model(model):
        raise InvalidRequest(Text("Model must be sora-2 or sora-2-pro."))
    return prompt, model


def _check_characters(character_ids: tuple[str, ...]) -> tuple[str, ...]:
    if len(character_ids) > MAX_CHARACTERS:
        raise InvalidRequest(Text("A video can use at most {count} characters.", count=MAX_CHARACTERS))
    return character_ids


def text_to_video(
    prompt: str,
    duration: int = 4,
    aspect_ratio: str = "16:9",
    model: str = "sora-2",
    resolution: str = "720p",
    character_ids: tuple[str, ...] = (),
) -> VideoRequest:
    """Validate a /generate request; raise InvalidRequest with a sentence for the member."""
    prompt, checked_model = _check_common(prompt, duration, model)
    if aspect_ratio not in ("16:9", "9:16"):
        raise InvalidRequest(Text("Aspect ratio must be 16:9 or 9:16."))
    if resolution not in ("720p", "1080p"):
        raise InvalidRequest(Text("Resolution must be 720p or 1080p."))
    if resolution == "1080p" and model != "sora-2-pro":
        raise InvalidRequest(Text("1080p needs Sora 2 Pro: pick model sora-2-pro, or 720p."))
    return VideoRequest(
        prompt=prompt,
        duration=duration,
        aspect_ratio=aspect_ratio,
        model=checked_model,
        resolution=resolution,
        character_ids=_check_characters(character_ids),
    )


def image_to_video(
    prompt: str,
    image_url: str,
    duration: int = 4,
    aspect_ratio: str = "auto",
    model: str = "sora-2",
    resolution: str = "auto",
    character_ids: tuple[str, ...] = (),
) -> VideoRequest:
    """Validate an /animate-attachment request (the image itself is checked by bot.jobs.images)."""
    prompt, checked_model = _check_common(prompt, duration, model)
    if aspect_ratio not in ("auto", "16:9", "9:16"):
        raise InvalidRequest(Text("Aspect ratio must be auto, 16:9 or 9:16."))
    allowed = ("auto", "720p", "1080p", "true_1080p") if model == "sora-2-pro" else ("auto", "720p")
    if resolution not in allowed:
        if model != "sora-2-pro" and resolution in ("1080p", "true_1080p"):
            needs = Text("{resolution} needs Sora 2 Pro: pick model sora-2-pro, or auto / 720p.", resolution=resolution)
            raise InvalidRequest(needs)
        raise InvalidRequest(Text("Resolution must be one of {resolutions}.", resolutions=", ".join(allowed)))
    return VideoRequest(
        kind="image_to_video",
        prompt=prompt,
        duration=duration,
        aspect_ratio=aspect_ratio,
        model=checked_model,
        resolution=resolution,
        image_url=image_url,
        character_ids=_check_characters(character_ids),
    )


def remix(prompt: str, source: Video) -> VideoRequest:
    """Validate a remix of a video the bot made; it keeps the source's length, shape and model."""
    if source.deleted:
        raise InvalidRequest(deletion.no_remix_of_deleted())
    if not source.remixable:
        raise InvalidRequest(
            Text("That video can't be remixed: it was itself a remix, or fal deleted it after making it.")
        )
    prompt, checked_model = _check_common(prompt, source.spec.duration, source.spec.model)
    return VideoRequest(
        kind="remix",
        prompt=prompt,
        duration=source.spec.duration,
        aspect_ratio=source.spec.aspect_ratio,
        model=checked_model,
        resolution=source.spec.resolution,
        source_video_id=source.video_id,
    )


def again(job: Job) -> VideoRequest:
    """A re-roll: the stored request once more. Its prompt is checked as at intake, since a job stored
    before prompts were cleaned may still hold what cleaning removes."""
    return VideoRequest.from_job(job).model_copy(update={"prompt": _check_prompt(job.spec.prompt)})


def fal_call(request: VideoRequest) -> tuple[str, dict[str, Any]]:
    """The endpoint and the arguments for fal. delete_video is always false on generations: otherwise
    fal deletes the video after generation and it can never be remixed."""
    pro = request.model == "sora-2-pro"
    if request.kind == "remix":
        return ENDPOINT_REMIX, {"video_id": request.source_video_id, "prompt": request.prompt}
    arguments: dict[str, Any] = {
        "prompt": request.prompt,
        "duration": request.duration,
        "aspect_ratio": request.aspect_ratio,
        "resolution": request.resolution,
        "delete_video": False,
    }
    if request.character_ids:
        arguments["character_ids"] = list(request.character_ids)
    if request.kind == "image_to_video":
        arguments["image_url"] = request.image_url
        return (ENDPOINT_IMAGE_PRO if pro else ENDPOINT_IMAGE), arguments
    return (ENDPOINT_TEXT_PRO if pro else ENDPOINT_TEXT), arguments


def describe(request: VideoRequest) -> str:
    """How a refusal names the job: '8 s Sora 2 video'."""
    model = "Sora 2 Pro" if request.model == "sora-2-pro" else "Sora 2"
    if request.kind == "remix":
        return Text("{seconds} s {model} remix", seconds=request.duration, model=model)
    return Text("{seconds} s {model} video", seconds=request.duration, model=model)
