"""The job runner's settings (bot/app.py fills them from the environment), shared by the runner and the
delivery."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bot.domain.quota import Limits
from bot.storage.jobs import DEFAULT_LEASE_SECONDS


@dataclass(frozen=True)
class RunnerConfig:
    poll_min: float = 2.0
    poll_max: float = 5.0
    # FAL_UPDATES: "stream" follows fal's status stream (polling while it fails), "poll" polls only,
    # "webhook" takes the result from fal's webhook (the stream shows progress meanwhile).
    updates: Literal["stream", "poll", "webhook"] = "stream"
    stream_retry: float = 60.0  # after a stream failed, poll this long before opening it again
    webhook_url: str | None = None  # FAL_WEBHOOK_URL: where fal posts (with updates="webhook")
    webhook_sweep: float = 30.0  # no webhook, no stream: ask fal about the job this often
    webhook_grace: float = 5.0  # fal said COMPLETED: wait this long for its webhook before fetching the result
    job_timeout: float = 3600.0
    progress_interval: float = 3.0
    max_download_bytes: int = 512 * 2**20
    ffmpeg: str | None = None
    work_dir: Path | None = None
    quota_defaults: Limits | None = None  # None: no quota (unlimited)
    lookup_interval: float | None = None  # how often a lost submit is looked for at fal (None: 6 x poll_max)
    post_retry_min: float = 2.0  # Discord down: first wait before posting a finished video again
    post_retry_max: float = 300.0
    delivery_patience: float = 24 * 3600.0  # then the job fails (and is refunded)
    lease_seconds: float = DEFAULT_LEASE_SECONDS  # JOB_LEASE_SECONDS: a dead process's jobs move after this
    claim_batch: int = 100  # jobs taken per claim
    line_check: float = 5.0  # a waiting job looks at its place (and whether it was started) this often
