"""The job state machine, exhaustively and without I/O: every state with every event."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.models import Job, JobState, VideoSpec
from bot.jobs import machine
from bot.jobs.machine import (
    Accepted,
    Action,
    AnswerLost,
    Cancelled,
    Effect,
    Event,
    Failed,
    FinalShown,
    IllegalTransition,
    Posted,
    PostStarted,
    ProgressMoved,
    Promoted,
    ResultFetched,
    Started,
    Step,
    SubmitStarted,
)

W, P, S, Q, R, C, U = (
    JobState.WAITING,
    JobState.PENDING,
    JobState.SUBMITTING,
    JobState.QUEUED,
    JobState.RUNNING,
    JobState.COMPLETED,
    JobState.UPLOADING,
)
FINISHED = [s for s in JobState if s.finished]
UNFINISHED = [s for s in JobState if not s.finished]

ONE_OF_EACH: list[Event] = [
    Promoted(at=50.0),
    SubmitStarted(at=100.0),
    AnswerLost(),
    Accepted("req-1"),
    Started(),
    ResultFetched({"video": {"url": "https://x/v.mp4"}, "video_id": "v1"}),
    PostStarted(),
    Posted(555),
    Failed("fal refused it."),
    Cancelled(actor_id=9, refunded="$0.40 refunded"),
    FinalShown(at=200.0),
    ProgressMoved(777),
]

# The whole table of state changes: (state, event type) -> the state written (None: the state stays).
# Anything not here, in an unfinished state, is an IllegalTransition.
EXPECTED: dict[tuple[JobState, type], JobState | None] = {
    (W, Promoted): P,
    (W, Cancelled): JobState.CANCELLED,
    (P, SubmitStarted): S,
    (S, AnswerLost): None,
    (S, Accepted): Q,
    (Q, Started): R,
    (Q, ResultFetched): C,
    (R, ResultFetched): C,
    (C, PostStarted): U,
    (C, Posted): JobState.DELIVERED,
    (U, Posted): JobState.DELIVERED,
    (Q, Cancelled): JobState.CANCELLED,
    **{(s, Failed): JobState.FAILED for s in UNFINISHED},
    **{(s, FinalShown): None for s in JobState},
    **{(s, ProgressMoved): None for s in JobState},
}


def _job(state: JobState) -> Job:
    return Job(
        id=7,
        state=state,
        guild_id=1,
        channel_id=2,
        user_id=3,
        endpoint="fal-ai/sora-2/text-to-video",
        arguments={},
        spec=VideoSpec(
            kind="text_to_video", prompt="a cat", model="sora-2", duration=4, aspect_ratio="16:9", resolution="720p"
        ),
        cost_usd=0.4,
        created_at=0.0,
        updated_at=0.0,
    )


@pytest.mark.parametrize("state", list(JobState))
@pytest.mark.parametrize("event", ONE_OF_EACH, ids=lambda e: type(e).__name__)
def test_every_state_with_every_event(state: JobState, event: Event) -> None:
    key = (state, type(event))
    if key in EXPECTED:
        done = machine.step(_job(state), event)
        assert not done.ignored
        assert done.state == EXPECTED[key]
    elif state.finished:
        # A finished job never changes again: a late failure never refunds a delivered (charged) job.
        assert machine.step(_job(state), event) == Step(None, ignored=True)
    else:
        with pytest.raises(IllegalTransition):
            machine.step(_job(state), event)


def test_the_facts_each_step_writes() -> None:
    assert machine.step(_job(W), Promoted(at=50.0)).fields == {"started_at": 50.0}
    assert machine.step(_job(P), SubmitStarted(at=100.0)).fields == {"submitted_at": 100.0}
    assert machine.step(_job(S), Accepted("req-1")).fields == {"request_id": "req-1"}
    result = {"video": {"url": "u"}, "video_id": "v"}
    assert machine.step(_job(R), ResultFetched(result)).fields == {"result": result}
    assert machine.step(_job(JobState.DELIVERED), FinalShown(at=5.0)).fields == {"final_shown_at": 5.0}
    assert machine.step(_job(Q), ProgressMoved(777)).fields == {"progress_message_id": 777}
    # A lost answer writes nothing: the job stays submitting, which is what makes it looked up, not resent.
    assert not machine.step(_job(S), AnswerLost()).writes


def test_the_ends_carry_their_final_text_and_effects() -> None:
    delivered = machine.step(_job(U), Posted(555))
    assert delivered.fields["video_message_id"] == 555
    assert delivered.fields["final_text"].endswith("✅ Done: the video is below.")
    assert delivered.effects == (Effect.COUNT_SPEND, Effect.DISCARD_FILES, Effect.SHOW_FINAL)

    failed = machine.step(_job(R), Failed("fal refused it."))
    assert failed.fields["error"] == "fal refused it."
    assert failed.fields["final_text"].endswith("❌ fal refused it.")
    assert failed.effects == (Effect.DISCARD_FILES, Effect.SHOW_FINAL, Effect.TELL_REQUESTER)
    assert Effect.COUNT_SPEND not in failed.effects

    cancelled = machine.step(_job(Q), Cancelled(actor_id=9, refunded="$0.40 refunded"))
    assert cancelled.fields["error"] == "cancelled by <@9>"
    assert cancelled.fields["final_text"].endswith("🚫 Cancelled by <@9>; $0.40 refunded.")
    assert cancelled.effects == (Effect.SHOW_FINAL,)
    # Only a delivery counts spend; every end but a cancel (the member clicked it) tells the member.
    for state in UNFINISHED:
        for event in ONE_OF_EACH:
            key = (state, type(event))
            if key in EXPECTED and not isinstance(event, Posted):
                assert Effect.COUNT_SPEND not in machine.step(_job(state), event).effects


def test_each_state_calls_for_one_action() -> None:
    assert {s: machine.next_action(s) for s in JobState} == {
        W: Action.WAIT,
        P: Action.SUBMIT,
        S: Action.LOOK_UP,
        Q: Action.POLL,
        R: Action.POLL,
        C: Action.DELIVER,
        U: Action.FIND_POST,
        **{s: Action.NONE for s in FINISHED},
    }


def test_a_job_that_is_never_answered_is_never_submitted_twice() -> None:
    """SubmitStarted comes only from pending, and nothing but leaving the waiting line leads to pending:
    whatever happens after the submit began (a lost answer, a crash), the job is looked up, never sent
    again; and nothing leads back into the waiting line."""
    assert [key for key, to in EXPECTED.items() if to == P] == [(W, Promoted)]
    assert all(to != W for to in EXPECTED.values())
    assert [key for key, to in EXPECTED.items() if to == S] == [(P, SubmitStarted)]


@given(st.lists(st.sampled_from(ONE_OF_EACH), max_size=30))
def test_any_sequence_of_events_respects_the_order_and_the_end(events: list[Event]) -> None:
    """Applying any events that are legal where they come: states only move forward, and once a job has
    ended its state never changes."""
    order = [W, P, S, Q, R, C, U]
    job = _job(W)
    for event in events:
        try:
            done = machine.step(job, event)
        except IllegalTransition:
            continue
        if done.state is None:
            continue
        assert not job.state.finished
        if not done.state.finished:
            assert order.index(done.state) > order.index(job.state)
        job = job.model_copy(update={"state": done.state})


def test_a_waiting_job_is_cancelled_with_its_final_text() -> None:
    """Cancel while it waits: the same final text and effect as a queued job's (the refund is the store's)."""
    cancelled = machine.step(_job(W), Cancelled(actor_id=9, refunded="$0.40 refunded"))
    assert cancelled.state is JobState.CANCELLED
    assert cancelled.fields["final_text"].endswith("🚫 Cancelled by <@9>; $0.40 refunded.")
    assert cancelled.effects == (Effect.SHOW_FINAL,)
    # A waiting job is never submitted: it must be started (pending) first.
    with pytest.raises(IllegalTransition):
        machine.step(_job(W), SubmitStarted(at=1.0))
