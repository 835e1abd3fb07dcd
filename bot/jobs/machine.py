"""The job state machine as a pure function: a job and an event give the next state, the facts to write
with it, and the effects to perform once that write is on disk. No I/O here: the runner performs the
work each state calls for (next_action), turns what happened into an event, writes the step (one write,
which returns the new row) and then performs its effects.

    waiting --Promoted--> pending (a slot freed: bot/storage/jobs.py `promote` writes it, under the quota lock)
    pending --SubmitStarted--> submitting --Accepted--> queued --Started--> running
    submitting --AnswerLost--> submitting (looked for at fal, never sent again)
    queued | running --ResultFetched--> completed --PostStarted--> uploading --Posted--> delivered
    any unfinished --Failed--> failed;  waiting | queued --Cancelled--> cancelled
A finished job never changes state again: an event that would change it is ignored (a late failure must
not refund a delivered, charged job)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from bot.domain.models import Job, JobState
from bot.jobs import progress


class Action(enum.Enum):
    """The work a job in a state calls for."""

    WAIT = "wait"  # in the waiting line: show its place until a slot frees (nothing sent to fal)
    SUBMIT = "submit"  # write submitting, then send it to fal once
    LOOK_UP = "look_up"  # a submit whose answer was lost: find it in fal's list, never send it again
    POLL = "poll"  # wait for fal's result
    DELIVER = "deliver"  # download, check, fit, post
    FIND_POST = "find_post"  # the bot died (or lost Discord's answer) while posting: look before posting
    NONE = "none"  # finished


NEXT_ACTION: dict[JobState, Action] = {
    JobState.WAITING: Action.WAIT,
    JobState.PENDING: Action.SUBMIT,
    JobState.SUBMITTING: Action.LOOK_UP,
    JobState.QUEUED: Action.POLL,
    JobState.RUNNING: Action.POLL,
    JobState.COMPLETED: Action.DELIVER,
    JobState.UPLOADING: Action.FIND_POST,
    JobState.DELIVERED: Action.NONE,
    JobState.FAILED: Action.NONE,
    JobState.CANCELLED: Action.NONE,
}


def next_action(state: JobState) -> Action:
    return NEXT_ACTION[state]


# -- events: what happened ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Promoted:
    """A slot freed and the waiting line gave it to this job."""

    at: float


@dataclass(frozen=True)
class SubmitStarted:
    at: float


@dataclass(frozen=True)
class AnswerLost:
    """fal's answer to the submit never came (or could not be read): it may have the job."""


@dataclass(frozen=True)
class Accepted:
    """fal has the request: its submit answer, or found in its list after a lost answer."""

    request_id: str


@dataclass(frozen=True)
class Started:
    """fal reports the job running."""


@dataclass(frozen=True)
class ResultFetched:
    result: dict[str, Any]


@dataclass(frozen=True)
class PostStarted:
    pass


@dataclass(frozen=True)
class Posted:
    message_id: int


@dataclass(frozen=True)
class Failed:
    reason: str  # the sentence the member reads


@dataclass(frozen=True)
class Cancelled:
    actor_id: int
    refunded: str  # "$0.40 refunded", or "nothing was charged"


@dataclass(frozen=True)
class FinalShown:
    at: float


@dataclass(frozen=True)
class ProgressMoved:
    """The progress message was re-posted (the original was deleted) under a new id."""

    message_id: int


Event = (
    Promoted
    | SubmitStarted
    | AnswerLost
    | Accepted
    | Started
    | ResultFetched
    | PostStarted
    | Posted
    | Failed
    | Cancelled
    | FinalShown
    | ProgressMoved
)
EVENTS: tuple[type, ...] = (
    Promoted,
    SubmitStarted,
    AnswerLost,
    Accepted,
    Started,
    ResultFetched,
    PostStarted,
    Posted,
    Failed,
    Cancelled,
    FinalShown,
    ProgressMoved,
)


# -- effects: what to do once the step is written ---------------------------------------------------


class Effect(enum.Enum):
    SHOW_FINAL = "show_final"  # edit the progress message to the final text (owed until shown)
    TELL_REQUESTER = "tell_requester"  # a private word to the member about the failure
    DISCARD_FILES = "discard_files"  # the kept video of the job
    COUNT_SPEND = "count_spend"  # the metrics' spend, once per delivered job


@dataclass(frozen=True)
class Step:
    """A transition: the state to write (None: the state stays), the facts written with it, and the
    effects to perform after the write. ignored: a finished job saw an event that would change it."""

    state: JobState | None
    fields: dict[str, Any] = field(default_factory=dict)
    effects: tuple[Effect, ...] = ()
    ignored: bool = False

    @property
    def writes(self) -> bool:
        return self.state is not None or bool(self.fields)


class IllegalTransition(Exception):
    """An event that cannot happen in this state: a bug in the runner, never a member's doing."""


# Which unfinished states each state-changing event may come in.
_FROM: dict[type, frozenset[JobState]] = {
    Promoted: frozenset({JobState.WAITING}),
    SubmitStarted: frozenset({JobState.PENDING}),
    AnswerLost: frozenset({JobState.SUBMITTING}),
    Accepted: frozenset({JobState.SUBMITTING}),
    Started: frozenset({JobState.QUEUED}),
    ResultFetched: frozenset({JobState.QUEUED, JobState.RUNNING}),
    PostStarted: frozenset({JobState.COMPLETED}),
    Posted: frozenset({JobState.COMPLETED, JobState.UPLOADING}),
    Failed: frozenset(s for s in JobState if not s.finished),
    Cancelled: frozenset({JobState.WAITING, JobState.QUEUED}),
}


def step(job: Job, event: Event) -> Step:
    """The transition `event` makes from `job` (pure: nothing is read or written)."""
    # Facts that change no state: allowed in every state, a finished job's included.
    if isinstance(event, FinalShown):
        return Step(None, {"final_shown_at": event.at})
    if isinstance(event, ProgressMoved):
        return Step(None, {"progress_message_id": event.message_id})
    if job.state.finished:
        return Step(None, ignored=True)
    if job.state not in _FROM[type(event)]:
        raise IllegalTransition(f"{type(event).__name__} in state {job.state}")
    match event:
        case Promoted(at=at):
            return Step(JobState.PENDING, {"started_at": at})
        case SubmitStarted(at=at):
            return Step(JobState.SUBMITTING, {"submitted_at": at})
        case AnswerLost():
            return Step(None)
        case Accepted(request_id=request_id):
            return Step(JobState.QUEUED, {"request_id": request_id})
        case Started():
            return Step(JobState.RUNNING)
        case ResultFetched(result=result):
            return Step(JobState.COMPLETED, {"result": result})
        case PostStarted():
            return Step(JobState.UPLOADING)
        case Posted(message_id=message_id):
            return Step(
                JobState.DELIVERED,
                {"video_message_id": message_id, "final_text": progress.delivered(job)},
                (Effect.COUNT_SPEND, Effect.DISCARD_FILES, Effect.SHOW_FINAL),
            )
        case Failed(reason=reason):
            return Step(
                JobState.FAILED,
                {"error": reason, "final_text": progress.failed(job, reason)},
                (Effect.DISCARD_FILES, Effect.SHOW_FINAL, Effect.TELL_REQUESTER),
            )
        case Cancelled(actor_id=actor_id, refunded=refunded):
            return Step(
                JobState.CANCELLED,
                {"error": f"cancelled by <@{actor_id}>", "final_text": progress.cancelled(job, actor_id, refunded)},
                (Effect.SHOW_FINAL,),
            )
    raise AssertionError(f"unhandled event {event!r}")  # pragma: no cover - _FROM names every event
