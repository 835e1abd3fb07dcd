"""A protocol-level fake of fal.ai's queue HTTP API (the parts the Sora 2 bot uses).

Modules by concern: ``server`` (FakeFal: the HTTP handlers, the platform request list among them),
``scripts`` (JobScript: outcomes, timings and faults; a job's state), ``validation`` (payload checks),
``webhooks`` (the signing key, its JWKS, ``sign`` and the delivery loop) and ``media_cache`` (the stock
videos and the TLS material, shared per process).

It is an HTTPS server (aiohttp) on 127.0.0.1 whose certificate comes from a ``trustme``
test CA, so the real ``fal_client`` talks to it unchanged once the environment says::

    FAL_QUEUE_RUN_HOST=<fal.host>     # read by fal_client at import time
    SSL_CERT_FILE=<fal.ca_path>       # read by httpx when a client is created

Queue protocol (as ``fal_client`` 1.0.3 drives it)::

    POST /{owner}/{alias}[/{path}]                 submit -> 200 {request_id, *_url, ...}
                                                   ?fal_webhook=<url>: a webhook when the request ends
    GET  /{owner}/{alias}/requests/{id}/status     ?logs=true|1 to include logs
    GET  /{owner}/{alias}/requests/{id}/status/stream   the same objects as server-sent events, each sent
                                                   when it changes, ": ping" comments between; closed
                                                   after COMPLETED (Job.streams_opened counts them,
                                                   Job.stream_opened_at times their openings)
    GET  /{owner}/{alias}/requests/{id}            result
    PUT  /{owner}/{alias}/requests/{id}/cancel     cancel
    GET  /files/{name}                             the generated video (no auth, like a CDN)
    GET  /.well-known/jwks.json                    the webhook keys (``FakeFal.jwks_url``; no auth)

Status/result/cancel must use the app id (``fal-ai/sora-2``), not the endpoint path, as
fal_client and the returned URLs do; other prefixes answer 404.

A job's state is a function of the time since its submission (``time.monotonic``) and
of the ``JobScript`` it was given: ``IN_QUEUE`` for ``queue_seconds`` (position counting
down from ``start_position`` to 0), then ``IN_PROGRESS`` for ``run_seconds`` (logs grow),
then ``COMPLETED``; both durations are multiplied by ``time_scale``.

Choices where fal's behaviour is not pinned down (documented here so tests can rely on
them):

* Every queue response carries ``x-fal-request-id`` when a request id is known, so 5xx
  answers are never taken for ingress errors (fal_client does not retry them).
* Error responses that have an ``error_type`` also send it as ``x-fal-error-type``
  (fal_client falls back to that header for ``FalClientHTTPError.error_type``).
* Cancel: while ``IN_QUEUE`` -> 202 ``{"status": "CANCELLATION_REQUESTED"}`` and the job is
  removed from the queue; it then reports ``COMPLETED`` with ``error="Request was
  cancelled"``, ``error_type="request_cancelled"`` and its result answers 400
  ``{"detail": "Request was cancelled", "error_type": "request_cancelled"}``.
  While ``IN_PROGRESS`` -> 202 ``CANCELLATION_REQUESTED`` too (fal forwards the signal to
  the app); the job stops the same way only if ``JobScript.honor_cancel_in_progress``,
  otherwise the app ignores it and the job finishes normally. Once ``COMPLETED`` (or
  already cancelled) -> 400 ``{"status": "ALREADY_COMPLETED"}``. Unknown id -> 404
  ``{"status": "NOT_FOUND"}``.
* Outcome ``server_error_then_ok``: the job completes without an error, the first result
  fetch answers 500 (``internal_server_error``) and later fetches return the video.
* Outcome ``result_gone``: status is a clean ``COMPLETED``; the result answers 404
  ``{"detail": "Request not found"}`` (as if the result had expired).
* Each authenticated submit to a known endpoint consumes one script (``script_next`` FIFO,
  else ``default_script``), also when the payload is rejected; the payload is checked
  first, then ``outcome="validation_on_submit"`` rejects an otherwise valid one. Every such
  submit, accepted or not, is recorded in ``submissions`` (``request_id`` is None when the
  submit was rejected). Submits with a bad key (401) or to an unknown endpoint (404) do
  not consume a script; unknown endpoints are still recorded as submissions.
* A video job's stock file is as long as its ``duration`` (a remix: as its source), made once per length.
* Faults: ``JobScript.submit_answer`` loses, garbles or withholds the answer to a submit;
  ``JobScript.file_fault`` serves an HTML page or half the file for the first downloads; ``files_open``
  holds downloads; ``list_status`` makes the request list (``LIST_PATH``, fal's platform API) fail;
  ``JobScript.stream_cut_after`` (with ``stream_fault``: cut, garbage or silent) breaks the first
  ``stream_faults`` status streams of a job after that many events; ``stream_status`` refuses every stream.
* Webhooks: an accepted submit with ``fal_webhook`` records the URL (``Job.webhook_url``) and, at the
  moment the job is COMPLETED (``Job.completed_at``; a cancel completes it early), POSTs (plain http, a new
  connection each time) ``{"request_id", "gateway_request_id", "status": "OK"|"ERROR", "payload", "error"}``:
  the payload is exactly what a successful result fetch answers; for content_policy, server_error or a
  cancel it is the error body (``{"detail": ...}``) with ``error`` the status's error message. The result
  fetch's own faults (``server_error_then_ok``, ``result_gone``) do not touch the webhook, which carries the
  video. Headers ``X-Fal-Webhook-Request-Id``, ``-User-Id`` (``FakeFal.webhook_user_id``), ``-Timestamp``
  (unix seconds from ``webhook_clock``, per attempt) and ``-Signature`` (``webhooks.sign``: hex ED25519 over
  ``request_id\nuser_id\ntimestamp\nsha256_hex(body)``, by ``FakeFal.webhook_key``, published in the JWKS
  with any ``webhook_retired_keys``; ``rotate_webhook_key(keep_old=False)`` replaces it). A failed attempt
  (connection error, timeout after ``webhook_timeout_seconds``, non-2xx) is retried after each wait of
  ``webhook_retry_seconds`` (10 short waits: fal's 10 retries over 2 hours), each freshly signed.
  ``JobScript.webhook``: ``"send"``; ``"drop"`` (never sent: the bot's sweep must find the job);
  ``"payload_error"`` (``payload`` null, ``payload_error: "Payload too large"``: the bot must fetch the
  result). ``JobScript.webhook_duplicates`` sends the same body that many more times after a delivered one.
  ``Job.webhook_attempts`` counts every POST, ``Job.webhook_answers`` holds each one's status (0: connection
  error or timeout), ``Job.webhook_delivered_at`` the first 2xx (monotonic). ``FakeFal.jwks_status`` makes
  the JWKS answer that status. A webhook never counts as a result fetch (``Job.result_fetches``).
* Unknown payload fields are ignored (as fal's pydantic models do) unless
  ``reject_unknown_fields`` is set, then they are a 422 ``extra_forbidden`` error.
"""

from .media_cache import default_video_path
from .scripts import (
    CANCELLED_MESSAGE,
    CONTENT_POLICY_MESSAGE,
    FileFault,
    Job,
    JobScript,
    Outcome,
    RecordedRequest,
    StreamFault,
    Submission,
    SubmitAnswer,
    WebhookMode,
)
from .server import JWKS_PATH, LIST_PATH, FakeFal
from .validation import ENDPOINTS, validate_payload
from .webhooks import PAYLOAD_TOO_LARGE, WEBHOOK_USER_ID, generate_key, jwks, sign

__all__ = [
    "CANCELLED_MESSAGE",
    "CONTENT_POLICY_MESSAGE",
    "ENDPOINTS",
    "JWKS_PATH",
    "LIST_PATH",
    "PAYLOAD_TOO_LARGE",
    "WEBHOOK_USER_ID",
    "FakeFal",
    "FileFault",
    "Job",
    "JobScript",
    "Outcome",
    "RecordedRequest",
    "StreamFault",
    "Submission",
    "SubmitAnswer",
    "WebhookMode",
    "default_video_path",
    "generate_key",
    "jwks",
    "sign",
    "validate_payload",
]
