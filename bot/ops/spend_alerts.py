"""Posting the spend alerts waiting in the outbox (bot/storage/spend_alerts.py): right after the
transaction that wrote one (kick), and at each start and heartbeat (sweep), so one written just before a
crash is posted after it. Each is claimed first (two processes never post the same), posted with its nonce
(a retry after a crash between the post and its record posts nothing new), then marked."""

from __future__ import annotations

import asyncio
import logging

from bot.domain.spend_alerts import AlertForbidden, AlertPoster, AlertUnavailable, alert_lines
from bot.storage.spend_alerts import SpendAlertStore

log = logging.getLogger(__name__)

# Long enough for a post and its discord.py retries; a claimer that died is replaced after it.
CLAIM_SECONDS = 60.0


class SpendAlerts:
    def __init__(
        self, store: SpendAlertStore, poster: AlertPoster, owner: str, claim_seconds: float = CLAIM_SECONDS
    ) -> None:
        self._store = store
        self._poster = poster
        self._owner = owner  # the claim's name: this process's lease owner
        self._claim_seconds = claim_seconds
        self._task: asyncio.Task[None] | None = None
        self._again = False  # kicked while a sweep ran: sweep once more after it

    def kick(self) -> None:
        """An alert was just committed: post it now, in the background (the caller answers its member)."""
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.create_task(self._sweep_until_quiet(), name="spend-alerts")

    async def sweep(self) -> int:
        """Post every pending alert this process can claim; returns how many were posted."""
        posted = 0
        for alert in await self._store.claim(self._owner, self._claim_seconds):
            where = f"guild={alert.guild_id} channel={alert.channel_id} alert={alert.id} ({alert.threshold} %)"
            try:
                lines = alert_lines(alert, await self._store.top_spenders(alert))
                message_id = await self._poster.post_alert(alert, lines)
            except AlertForbidden as exc:
                log.warning("%s: cannot post the spend alert (%s); given up", where, exc)
                await self._store.given_up(alert.id, self._owner)
                continue
            except AlertUnavailable as exc:
                log.info("%s: Discord unavailable (%s); the spend alert is tried again later", where, exc)
                await self._store.release(alert.id, self._owner)
                continue
            await self._store.sent(alert.id, self._owner, message_id)
            posted += 1
            log.info("%s: spend alert posted", where)
        return posted

    async def _sweep_until_quiet(self) -> None:
        while True:
            self._again = False
            try:
                await self.sweep()
            except Exception as exc:  # the database or Discord failed: the next heartbeat sweeps again
                log.warning("posting spend alerts failed (%s: %s)", type(exc).__name__, exc)
                return
            if not self._again:
                return

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
