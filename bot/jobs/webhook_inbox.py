"""Where the webhook receiver (bot/fal/webhook_receiver.py) hands each verified webhook: recorded in the
database before fal hears 200, then the job's owner is told (in this process directly; in another by the
database's notice, or at its next sweep)."""

from __future__ import annotations

from collections.abc import Callable

from bot.fal.webhook_receiver import Recorded
from bot.fal.webhooks import Webhook
from bot.storage.webhooks import WebhookStore


class JobWebhooks:
    def __init__(self, store: WebhookStore, arrived: Callable[[int], None]) -> None:
        self._store = store
        self._arrived = arrived  # JobRunner.webhook_arrived

    async def record(self, webhook: Webhook) -> Recorded:
        outcome, job_id = await self._store.record(
            webhook.request_id, webhook.signature, webhook.body.decode("utf-8", errors="replace")
        )
        if outcome == "recorded" and job_id is not None:
            self._arrived(job_id)
        return outcome
