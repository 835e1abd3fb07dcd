"""How a fake fal job behaves: its script (outcome, faults, timings), its submission and its state.

A job's state is a function of the time since its submission and of its ``JobScript``; see the
package docstring.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

Outcome = Literal[
    "ok",
    "content_policy",
    "validation_on_submit",
    "server_error",
    "result_gone",
    "server_error_then_ok",
]
RequestKind = Literal["submit", "status", "stream", "result", "cancel", "file", "list"]
# How a status stream goes wrong: "cut" closes the connection after `stream_cut_after` events; "garbage"
# sends a data line that is not JSON instead; "silent" stops sending anything (no keep-alives either)
# and holds the connection open.
StreamFault = Literal["cut", "garbage", "silent"]
# How the fake answers an accepted submit: "ok"; "drop" closes the connection once the job exists (the
# answer is lost); "garbage" answers 200 with a body that is not JSON; "hang" never answers (the job
# exists); "hang_before" never answers and never makes the job (fal did not get it).
SubmitAnswer = Literal["ok", "drop", "garbage", "hang", "hang_before"]
# What fal does with a submit's webhook: "send" it when the job ends; "drop" it (never delivered: the bot's
# slow sweep must find the job); "payload_error" send it with a null payload and `payload_error` (the bot
# must fetch the result).
WebhookMode = Literal["send", "drop", "payload_error"]
# A broken download: an HTML error page served as the video, or the mp4 cut in half.
FileFault = Literal["html", "truncated"]

CONTENT_POLICY_MESSAGE = "The prompt was flagged by the content moderation system."
CANCELLED_MESSAGE = "Request was cancelled"


@dataclass
class JobScript:
    """How the next job behaves. Durations are seconds (times ``time_scale``)."""

    queue_seconds: float = 0.6
    run_seconds: float = 1.0
    start_position: int = 2
    outcome: Outcome = "ok"
    video: Path | None = None
    video_by_seconds: dict[int, Path] | None = None  # the file for a job of that length (else the stock one)
    video_id: str | None = None
    status_errors: int = 0
    time_scale: float = 1.0
    honor_cancel_in_progress: bool = False
    submit_answer: SubmitAnswer = "ok"
    file_fault: FileFault | None = None
    file_faults: int = 1  # how many downloads of the video are broken before a good one
    # The status stream: after this many events its fault strikes (None: it runs to COMPLETED); it strikes
    # on the first `stream_faults` streams of the job only, so a reopened stream can succeed.
    stream_cut_after: int | None = None
    stream_fault: StreamFault = "cut"
    stream_faults: int = 1
    # The webhook (only for a submit with `?fal_webhook=`): how it is sent, and how many extra copies follow
    # a delivered one (each freshly signed).
    webhook: WebhookMode = "send"
    webhook_duplicates: int = 0


@dataclass
class Submission:
    """One authenticated POST to the queue, accepted (status 200) or not."""

    request_id: str | None
    endpoint: str
    payload: Any
    headers: dict[str, str]
    time: float
    status: int
    errors: list[dict[str, Any]] | None = None
    script: JobScript | None = None
    raw_body: bytes = b""

    @property
    def accepted(self) -> bool:
        return self.status == 200


@dataclass
class RecordedRequest:
    """One HTTP request the fake answered."""

    time: float
    method: str
    path: str
    query: dict[str, str]
    request_id: str | None
    status: int
    kind: RequestKind | None


@dataclass
class Job:
    """A submitted request; its state follows from the clock and its script."""

    request_id: str
    endpoint: str
    app: str
    payload: dict[str, Any]
    script: JobScript
    submitted_at: float
    submitted_wall: datetime
    video_id: str
    status_polls: int = 0
    streams_opened: int = 0
    stream_opened_at: list[float] = field(default_factory=list)  # monotonic time each status stream opened
    first_download_at: float | None = None  # monotonic time of the first request for its video file
    result_fetches: int = 0
    cancel_requested: bool = False
    # Seconds after submission when the job was stopped by a cancel (None: not stopped).
    cancelled_after: float | None = None
    file_name: str | None = None
    char_id: str | None = None
    # The webhook: the submit's `fal_webhook` URL (None: none asked), every POST made to it (retries and
    # duplicates included), the receiver's status per POST (0: connection error or timeout), and when the
    # first 2xx came back (time.monotonic).
    webhook_url: str | None = None
    webhook_attempts: int = 0
    webhook_answers: list[int] = field(default_factory=list)
    # Each attempt as sent (its headers and body), so a test can replay a genuine webhook.
    webhooks_sent: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    webhook_delivered_at: float | None = None

    @property
    def completed_at(self) -> float:
        """When the job is (or will be) COMPLETED, in time.monotonic: when it was stopped by a cancel, or at
        the end of its queue and run."""
        if self.cancelled_after is not None:
            return self.submitted_at + self.cancelled_after
        return self.submitted_at + self.queue_seconds + self.run_seconds

    @property
    def queue_seconds(self) -> float:
        return self.script.queue_seconds * self.script.time_scale

    @property
    def run_seconds(self) -> float:
        return self.script.run_seconds * self.script.time_scale

    def next_change(self, now: float | None = None) -> float:
        """The monotonic time its status object next changes by the clock alone (queue position, phase, a
        log line); inf once COMPLETED. A cancel changes it at any time besides."""
        t = self.elapsed(now)
        queue, run = self.queue_seconds, self.run_seconds
        if self.cancelled_after is not None or t >= queue + run:
            return math.inf
        if t < queue:
            start = max(self.script.start_position, 0)
            step = queue / (start + 1)
            steps = [step * k for k in range(1, start + 1)] + [queue]
        else:
            steps = [queue + run * k / 4 for k in (1, 2, 3)] + [queue + run]
        return self.submitted_at + min((s for s in steps if s > t), default=queue + run)

    def elapsed(self, now: float | None = None) -> float:
        return (time.monotonic() if now is None else now) - self.submitted_at

    def phase(self, now: float | None = None) -> Literal["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]:
        if self.cancelled_after is not None:
            return "COMPLETED"
        t = self.elapsed(now)
        if t < self.queue_seconds:
            return "IN_QUEUE"
        if t < self.queue_seconds + self.run_seconds:
            return "IN_PROGRESS"
        return "COMPLETED"

    @property
    def cancelled(self) -> bool:
        return self.cancelled_after is not None

    def queue_position(self, now: float | None = None) -> int:
        start = max(self.script.start_position, 0)
        if self.queue_seconds <= 0:
            return 0
        step = self.queue_seconds / (start + 1)
        passed = math.floor(self.elapsed(now) / step)
        return max(0, min(start, start - passed))

    def logs(self, now: float | None = None) -> list[dict[str, Any]]:
        """Log lines emitted so far: one at start, then every 25 % of the run."""
        t = self.elapsed(now)
        if self.cancelled_after is not None:
            t = min(t, self.cancelled_after)
        run_t = t - self.queue_seconds
        if run_t < 0:
            return []
        r = self.run_seconds
        events: list[tuple[float, str]] = [(0.0, "Starting video generation")]
        events += [(r * k / 4, f"Generating video... {25 * k}%") for k in (1, 2, 3)]
        done = self.phase(now) == "COMPLETED" and not self.cancelled
        if done:
            events += [(r, "Generating video... 100%"), (r, "Video generation finished")]
        out = []
        for offset, message in events:
            if offset <= run_t or (done and offset <= r):
                stamp = self.submitted_wall + timedelta(seconds=self.queue_seconds + offset)
                out.append(
                    {
                        "message": message,
                        "level": "INFO",
                        "source": "USER",
                        "timestamp": stamp.isoformat(),
                    }
                )
        return out
