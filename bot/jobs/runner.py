"""The job runner: one task and one state machine per job, every transition persisted before it is
acted on, so a restart resumes each unfinished job from where it was and delivers it exactly once.

Leases (bot/storage/jobs.py): the runner's process (`owner`) holds the jobs it runs. It creates its jobs
leased to itself, claims orphaned ones at start, and a heartbeat (every lease/3 s) renews its leases and
claims those whose owner died (its lease ran out) or stopped cleanly (released: told at once by a notice
on PostgreSQL). Every write of a job is fenced by the owner: a task whose job was taken over gets
LeaseLost and stops quietly (no effects). A clean stop releases the leases once the tasks are stopped."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import secrets
import socket
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.domain import sora
from bot.domain.guild_settings import GuildSettings, refusal, shape_arguments
from bot.domain.messenger import Messenger, VideoCard
from bot.domain.models import FalResult, Job, JobState, Refused, Video, VideoRequest
from bot.domain.sora import PriceTable, fal_call
from bot.domain.text import Money, Text, dump
from bot.fal.backend import FalBackend, QueueStatus, StatusStreaming
from bot.fal.errors import (
    FalAnswerLost,
    FalError,
    FalLookupRefused,
    FalResultGone,
    FalStreamBroken,
    FalUnavailable,
    refusal_sentence,
)
from bot.jobs import machine, progress
from bot.jobs.config import RunnerConfig
from bot.jobs.delivery import Delivery
from bot.jobs.download import DownloadError
from bot.jobs.failures import JobFailed, who
from bot.jobs.machine import (
    Accepted,
    Action,
    AnswerLost,
    Cancelled,
    Effect,
    Event,
    Failed,
    FinalShown,
    Posted,
    PostStarted,
    ProgressMoved,
    ResultFetched,
    Started,
    SubmitStarted,
)
from bot.jobs.progress import ProgressReporter
from bot.storage.jobs import JobAlreadyFinished, JobStore, LeaseLost, Reservation
from bot.storage.settings import SettingsStore
from bot.storage.videos import VideoStore
from bot.storage.webhooks import WebhookStore

log = logging.getLogger(__name__)  # job lines only, each starting with who(job)
lease_log = logging.getLogger("bot.jobs.leases")  # the process's leases as a whole

STATUS_FAILURES_ALLOWED = 8
SUBMIT_ATTEMPTS = 3
# fal's clock and ours may differ: a lost submit is looked for from this long before we sent it.
LOOKUP_SLACK = 60.0
FINAL_ATTEMPTS = 5
ORPHAN_CHECK_SECONDS = 2.0  # how often a process looks for jobs whose owner's lease ran out (PostgreSQL)
ALREADY_FINISHED = Text("This video is already finished.")
WENT_WRONG = Text("Something went wrong on our side; nothing was charged.")
BEING_SENT = Text("This request is being sent to fal right now; try again in a moment.")
ALREADY_STARTED = Text("fal has already started making this video, so it can no longer be cancelled.")
NOT_FOUND_AT_FAL = Text(
    "fal never confirmed this request (its answer was lost, or the bot restarted while sending it), so it "
    "was stopped; nothing was charged. Please ask again."
)


@dataclass(frozen=True)
class Origin:
    """Where a request came from."""

    guild_id: int
    channel_id: int
    user_id: int
    reply_to_message_id: int | None = None
    role_ids: tuple[int, ...] = ()  # the member's roles, for a Pro-role rule
    progress_message_id: int | None = None  # the interaction's "thinking…" answer, when known


@dataclass
class _Following:
    """What following one job at fal remembers across polls and streams."""

    running_since: float | None = None
    job: Job | None = None  # the job as last persisted while a stream was read
    webhook: asyncio.Event | None = None  # FAL_UPDATES=webhook: set when one may have been recorded


def new_owner_id() -> str:
    """This process start's identity as a lease owner: host, pid, and a random part (a pid is reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class JobRunner:
    def __init__(
        self,
        store: JobStore,
        videos: VideoStore,
        fal: FalBackend,
        messenger: Messenger,
        http: aiohttp.ClientSession,
        prices: PriceTable,
        config: RunnerConfig,
        clock: Callable[[], float] = time.time,
        settings: SettingsStore | None = None,
        on_spend: Callable[[int, float], None] | None = None,
        owner: str | None = None,
        shards: str | None = None,
        webhooks: WebhookStore | None = None,
        on_beat: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self.owner = owner or new_owner_id()  # the lease owner of every job this runner runs
        self._shards = shards  # what the processes row says this process serves ("0-3"), for /status
        self._settings = settings
        self._webhooks = webhooks  # fal's webhooks as recorded by any process's receiver (FAL_UPDATES=webhook)
        self._arrivals: dict[int, asyncio.Event] = {}  # job id -> set when its webhook may have come
        self._on_spend = on_spend  # (guild id, USD): told once per delivered job, when its cost is committed
        self._on_beat = on_beat  # owed work swept at the start and each heartbeat (the spend alerts' outbox)
        self._store = store
        self._videos = videos
        self._fal = fal
        self._messenger = messenger
        self._http = http
        self._prices = prices
        self._config = config
        self._clock = clock
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._chores: set[asyncio.Task[None]] = set()  # owed final texts, shown after a restart
        self._stopping = False
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._resuming: asyncio.Task[int] | None = None  # resume_all in flight: stop() cancels it
        self._wake = asyncio.Event()  # claim now: another process released its jobs
        self._promotions: dict[int, asyncio.Event] = {}  # waiting job id -> set when it may have been started
        self._delivery = Delivery(messenger, http, videos, config, clock)
        # Live processes on the database (this one included), learnt at each heartbeat: they share the bot
        # token's Discord budget, so each takes its share of the progress edits. 1 until known, and on SQLite.
        self._processes = 1

    @property
    def active(self) -> int:
        return len(self._tasks)

    @property
    def processes(self) -> int:
        """The live processes sharing the database (and the bot token), this one included, as of the
        last heartbeat."""
        return self._processes

    def progress_interval(self) -> float:
        return progress.edit_interval(self._config.progress_interval, self.active, self._processes)

    async def screen(self, request: VideoRequest, origin: Origin) -> None:
        """The server's rules alone, read without waiting for any writer: raises Refused. accept() applies
        them again before the quota."""
        rules = await self._settings.get(origin.guild_id) if self._settings else GuildSettings()
        why = refusal(rules, request, origin.channel_id, origin.role_ids)
        if why is not None:
            raise Refused(why)

    async def accept(self, request: VideoRequest, origin: Origin) -> Job:
        """Record the job and reserve its cost (nothing sent to fal yet); the caller then calls start().
        Raises Refused (QuotaRefused for limits), having spent nothing, when the server's rules or a
        limit say no."""
        rules = await self._settings.get(origin.guild_id) if self._settings else GuildSettings()
        why = refusal(rules, request, origin.channel_id, origin.role_ids)
        if why is not None:
            raise Refused(why)
        endpoint, arguments = fal_call(request)
        arguments = shape_arguments(rules, endpoint, arguments)
        defaults = self._config.quota_defaults
        reservation = (
            Reservation(self._prices.cost_micros(request), defaults, sora.describe(request)) if defaults else None
        )
        return await self._store.create_job(
            request.spec,
            guild_id=origin.guild_id,
            channel_id=origin.channel_id,
            user_id=origin.user_id,
            endpoint=endpoint,
            arguments=arguments,
            cost_usd=self._prices.cost(request),
            reply_to_message_id=origin.reply_to_message_id,
            progress_message_id=origin.progress_message_id,
            reservation=reservation,
            owner=self.owner,
            lease_seconds=self._config.lease_seconds,
            on_promoted=self._promoted,
        )

    async def cancel(self, job_id: int, actor_id: int) -> str:
        """Cancel a queued job at fal and refund it; returns the sentence for whoever asked.

        Any process may cancel any job, whichever process holds it: fal's cancel needs only the request id,
        and the CANCELLED write is allowed by state rather than by owner (an unfinished job; nothing is
        written to a finished one). The state being final, the owner's next write changes nothing, and on
        PostgreSQL the write notifies the owner, which stops the job's task at once."""
        job = await self._store.get_job(job_id)
        if job is None or job.state.finished:
            return ALREADY_FINISHED
        if job.state == JobState.WAITING:
            return await self._cancel_waiting(job, actor_id)
        if job.state in (JobState.PENDING, JobState.SUBMITTING):
            return BEING_SENT
        if job.state != JobState.QUEUED or job.request_id is None:
            return ALREADY_STARTED
        task = self._tasks.get(job.id)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if not await self._fal.cancel(job.endpoint, job.request_id):
            # fal said no: it has started (or finished). The job carries on from its stored state, here if
            # it ran here (another process's carries on there).
            fresh = await self._store.get_job(job.id)
            if task is not None and fresh is not None and not fresh.state.finished:
                self.start(fresh)
            return ALREADY_STARTED
        refunded = self._refunded(job)
        job = await self._apply(job, Cancelled(actor_id, refunded), fenced=False)
        if job.state != JobState.CANCELLED:
            return ALREADY_FINISHED
        self._messenger.forget(job.id)
        return Text("Cancelled; {refunded}.", refunded=refunded)

    def _refunded(self, job: Job) -> Text:
        if self._config.quota_defaults is None:
            return Text("nothing was charged")
        return Text("{amount} refunded", amount=Money(round(job.cost_usd * 1_000_000)))

    async def _cancel_waiting(self, job: Job, actor_id: int) -> str:
        """A job in the waiting line was never sent to fal: its cancel is the write alone (with its refund),
        and only while it still waits (a promotion, from any process, wins the race: it is then sent)."""
        task = self._tasks.get(job.id)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        refunded = self._refunded(job)
        written = await self._apply(job, Cancelled(actor_id, refunded), fenced=False, expect=JobState.WAITING)
        if written.state == JobState.CANCELLED:
            self._messenger.forget(job.id)
            return Text("Cancelled; {refunded}.", refunded=refunded)
        if task is not None and not written.state.finished:
            self.start(written)  # started meanwhile: it carries on here
        if written.state.finished:
            return ALREADY_FINISHED
        return BEING_SENT

    async def set_progress_message(self, job: Job, message_id: int) -> Job:
        """For jobs started from a message (reply-to-remix): the bot's acknowledgement is the progress message."""
        return await self._apply(job, ProgressMoved(message_id))

    def start(self, job: Job, *, hold_edits: float = 0.0) -> None:
        if self._stopping or job.id in self._tasks:
            return
        task = asyncio.create_task(self._run(job, hold_edits), name=f"job-{job.id}")
        self._tasks[job.id] = task
        job_id = job.id
        task.add_done_callback(lambda _t: self._tasks.pop(job_id, None))

    async def resume_all(self) -> int:
        """At a start: claim the unfinished jobs nobody holds (on SQLite, one process per file: all of
        them) and pick each up from its stored state; then keep the leases with a heartbeat. A job caught
        mid-submit is looked for at fal (never sent again); finished jobs whose last text the member never
        saw get it.

        It runs as a task of the runner's own, which stop() cancels and waits for: a stop just after the
        gateway connected (this is called from on_connect) must not leave it reading a database that is
        being closed. After stop(), it does nothing (returns 0)."""
        if self._stopping:
            return 0
        task = asyncio.create_task(self._resume_all(), name="resume-jobs")
        self._resuming = task
        try:
            return await task  # cancelled by stop(): the caller's await raises CancelledError
        finally:
            if self._resuming is task:
                self._resuming = None

    async def _resume_all(self) -> int:
        resumed = 0
        if not self._stopping:
            # The processes row is written by the first beat: a start with nothing to claim writes nothing.
            resumed = await self._claim(orphans=self._store.exclusive)
            try:
                if await self._store.listen(self._notice):
                    lease_log.info("listening for other processes' notices")
            except Exception as exc:  # the notices only hurry what the heartbeat does anyway
                lease_log.warning("cannot listen for other processes' notices (%s: %s)", type(exc).__name__, exc)
            self._heartbeat_task = asyncio.create_task(self._heartbeat(), name="lease-heartbeat")
            await self._move_lines()  # slots freed while the bot was down
            self._sweep()
        for job in await self._store.unshown_finals():
            if job.id not in self._tasks:
                self._chore(self._show_final(job), f"final-{job.id}")
        unfinished = {job.id for job in await self._store.unfinished_jobs()}  # other processes' too
        await asyncio.to_thread(self._delivery.drop_stale_files, unfinished)
        return resumed

    async def _claim(self, *, orphans: bool = False) -> int:
        """Take the claimable jobs, batch by batch, and start each from its stored state."""
        started = 0
        while not self._stopping and await self._store.any_claimable(self.owner, orphans=orphans):
            jobs = await self._store.claim(
                self.owner, self._config.lease_seconds, self._config.claim_batch, orphans=orphans
            )
            # Their messages still show where they were: spread the first edits over one load-stretched
            # interval rather than sending them all at once (Discord answers such a burst with 429s).
            spread = progress.edit_interval(self._config.progress_interval, len(jobs) + self.active, self._processes)
            for job in jobs:
                if job.id in self._tasks:
                    continue  # ours already (its lease ran out while its task was busy)
                log.info("%s resuming", who(job))
                self.start(job, hold_edits=random.uniform(0, spread))
                started += 1
            if len(jobs) < self._config.claim_batch:
                break
        return started

    async def _heartbeat(self) -> None:
        """Every lease/3 s (or at once when another process released its jobs): renew this process's
        leases, stop the tasks of jobs another process took over, and claim the orphans. When renewing has
        failed for longer than the lease, another process may own our jobs: their tasks are stopped (the
        fence would refuse their writes anyway), to be claimed again once the database answers."""
        lease = self._config.lease_seconds
        renewed_at = beat_at = time.monotonic()
        # Orphans are looked for more often than leases are renewed (a read, writing nothing when there is
        # none): a dead process's jobs then move within a couple of seconds of their lease running out,
        # not up to a third of a lease later. SQLite has no other process whose jobs could be orphaned.
        tick = lease / 3 if self._store.exclusive else min(lease / 3, ORPHAN_CHECK_SECONDS)
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), tick)
                woken = True
            except TimeoutError:
                woken = False
            self._wake.clear()
            beat = woken or time.monotonic() - beat_at >= lease / 3 - tick / 2
            try:
                if beat:  # renew, recount the processes, let go of jobs taken over; else only look for orphans
                    beat_at = time.monotonic()
                    held = await self._store.renew(self.owner, lease, self._shards)
                    renewed_at = time.monotonic()
                    self._processes = await self._live_processes()
                    await self._drop_lost(held)
                    await self._move_lines()  # a lost wake-up never strands a waiting job
                    self._sweep()
                claimed = await self._claim()
                if claimed:
                    lease_log.info("took over %d job(s) from processes that stopped or died", claimed)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                what = "renewing the job leases" if beat else "looking for orphaned jobs"
                lease_log.warning("%s failed (%s: %s)", what, type(exc).__name__, exc)
                if beat and time.monotonic() - renewed_at > lease and self._tasks:
                    lease_log.warning("the job leases have run out: stopping %d job task(s)", len(self._tasks))
                    await self._abandon(list(self._tasks))

    async def _live_processes(self) -> int:
        """How many processes beat within two leases (this one's row was just written); 1 on an
        exclusive database (SQLite: one process per file)."""
        if self._store.exclusive:
            return 1
        return max(1, len(await self._store.live_processes(within=2 * self._config.lease_seconds)))

    async def _drop_lost(self, held: set[int]) -> None:
        """Stop the tasks of unfinished jobs this process no longer holds (taken over after a stall)."""
        lost = []
        for job_id in [job_id for job_id in self._tasks if job_id not in held]:
            job = await self._store.get_job(job_id)  # renew's set may predate a job created since
            if job is not None and not job.state.finished and await self._store.holder(job_id) != self.owner:
                lost.append(job_id)
        if lost:
            lease_log.warning("jobs %s were taken over by another process: their tasks stop", lost)
            await self._abandon(lost)

    async def _abandon(self, job_ids: list[int]) -> None:
        tasks = [task for job_id in job_ids if (task := self._tasks.get(job_id)) is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _notice(self, payload: str) -> None:
        """A notice from another process (PostgreSQL's NOTIFY): jobs were released (claim them now), or
        one of ours was cancelled there (its task stops: the state is final)."""
        if payload == "released":
            self._wake.set()
        elif payload.startswith("cancelled:") and payload[10:].isdigit():
            task = self._tasks.get(int(payload[10:]))
            if task is not None:
                task.cancel()
        elif payload.startswith("webhook:") and payload[8:].isdigit():
            self.webhook_arrived(int(payload[8:]))
        elif payload.startswith("promoted:") and payload[9:].isdigit():
            self._wake_waiting(int(payload[9:]))

    # -- the waiting line -----------------------------------------------------------------------------

    def _wake_waiting(self, job_id: int) -> None:
        """The job may have left the waiting line: its task (if this process runs it) looks now."""
        promotion = self._promotions.get(job_id)
        if promotion is not None:
            promotion.set()

    def _promoted(self, jobs: list[Job]) -> None:
        for job in jobs:
            log.info("%s its turn came: leaving the waiting line", who(job))
            self._wake_waiting(job.id)

    async def _move_line(self, guild_id: int) -> None:
        """A slot may have freed in the server: start its next waiting jobs (fairly; exactly once whichever
        processes do this at once: JobStore.promote)."""
        defaults = self._config.quota_defaults
        if defaults is None:
            return
        self._promoted(await self._store.promote(guild_id, defaults))

    async def _move_lines(self) -> None:
        if self._config.quota_defaults is None:
            return
        for guild_id in await self._store.waiting_guilds():
            await self._move_line(guild_id)

    async def _wait_in_line(self, job: Job, reporter: ProgressReporter) -> Job:
        """A job in the waiting line: show its place, changed as the line moves (at most as often as the
        progress throttle lets the message be edited), until a promotion (any process's) starts it. Woken
        by this process's promotions and other processes' notices; looks every line_check regardless."""
        promotion = self._promotions.setdefault(job.id, asyncio.Event())
        defaults = self._config.quota_defaults
        try:
            while True:
                promotion.clear()
                fresh = await self._store.get_job(job.id)
                if fresh is None or fresh.state != JobState.WAITING:
                    return fresh or job
                if defaults is not None:
                    reporter.update(progress.waiting(fresh, await self._store.place_in_line(fresh, defaults)))
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._config.line_check):
                        await promotion.wait()
        finally:
            self._promotions.pop(job.id, None)

    def webhook_arrived(self, job_id: int) -> None:
        """A webhook for the job was recorded (by this process's receiver, or another's: a notice): its
        task, if this process runs it, reads it now rather than at its next sweep."""
        arrival = self._arrivals.get(job_id)
        if arrival is not None:
            arrival.set()

    async def stop(self) -> list[Job]:
        """Stop every job task; their states are already on disk, so the next start (or another process)
        resumes them. Then release the leases, so another process takes the jobs at once. Returns the
        unfinished jobs this process held (now released): other processes' jobs are not its to report."""
        self._stopping = True
        # A resume in flight first (it starts job tasks; none can start once _stopping is set).
        resuming = self._resuming is not None
        tasks: list[asyncio.Task[Any]] = [self._resuming] if self._resuming is not None else []
        tasks += [*self._tasks.values(), *self._chores]
        if self._heartbeat_task is not None:
            tasks.append(self._heartbeat_task)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            kept = await self._store.leased_jobs(self.owner)
        except Exception as exc:
            lease_log.warning("could not read this process's unfinished jobs (%s)", exc)
            kept = []
        if self._heartbeat_task is not None or resuming or kept:  # the database holds leases of ours
            self._heartbeat_task = None
            try:
                released = await self._store.release(self.owner)
            except Exception as exc:
                lease_log.warning("could not release the job leases (%s); they expire on their own", exc)
            else:
                if released:
                    lease_log.info("released %d job(s) to the other processes", released)
        return kept

    async def wait_idle(self) -> None:
        while self._tasks or self._chores:
            await asyncio.gather(*self._tasks.values(), *self._chores, return_exceptions=True)

    def _sweep(self) -> None:
        """Run on_beat beside the heartbeat (it may wait on Discord), its failure logged: the next beat retries."""
        on_beat = self._on_beat
        if on_beat is None:
            return

        async def sweep() -> None:
            try:
                await on_beat()
            except Exception as exc:
                lease_log.warning("sweeping owed work failed (%s: %s)", type(exc).__name__, exc)

        self._chore(sweep(), "sweep")

    def _chore(self, coroutine: Coroutine[Any, Any, None], name: str) -> None:
        if self._stopping:
            coroutine.close()
            return
        task = asyncio.create_task(coroutine, name=name)
        self._chores.add(task)
        task.add_done_callback(self._chores.discard)

    # -- the state machine: perform what each state calls for, write each step, then its effects -------

    async def _run(self, job: Job, hold_edits: float = 0.0) -> None:
        reporter = ProgressReporter(
            lambda text: self._edit(job.id, text), self.progress_interval, final_interval=self._config.progress_interval
        )
        if hold_edits:
            reporter.hold(hold_edits)
        try:
            await self._drive(job, reporter)
        except LeaseLost as lost:
            # Another process took the job over (this one stalled past its lease): it carries on there.
            # Nothing was written; no effect is performed here.
            await reporter.close()
            log.warning("%s lost its lease to %s; its task stops here", who(job), lost.holder)
        finally:
            self._messenger.forget(job.id)

    async def _drive(self, job: Job, reporter: ProgressReporter) -> None:
        try:
            just_submitted = False
            while (action := machine.next_action(job.state)) is not Action.NONE:
                if action is Action.WAIT:
                    job = await self._wait_in_line(job, reporter)
                elif action is Action.SUBMIT:
                    job = await self._submit(job, reporter)
                    just_submitted = job.state == JobState.QUEUED
                elif action is Action.LOOK_UP:
                    job = await self._find_lost_submit(job, reporter)
                elif action is Action.POLL:
                    job = await self._wait(job, reporter, first_poll_now=not just_submitted)
                else:
                    await self._deliver(job, reporter)
                    return
        except asyncio.CancelledError:
            await reporter.close()
            raise
        except (JobFailed, FalError, DownloadError) as exc:
            await self._apply(await self._fresh(job), Failed(exc.user_message), reporter)
        except Exception:
            log.exception("%s failed unexpectedly", who(job))
            await self._apply(await self._fresh(job), Failed(WENT_WRONG), reporter)

    async def _apply(
        self,
        job: Job,
        event: Event,
        reporter: ProgressReporter | None = None,
        video: Video | None = None,
        *,
        fenced: bool = True,
        expect: JobState | None = None,
    ) -> Job:
        """One transition: the machine's step, written in one write that returns the new row, then its
        effects. A job that had already ended (in the database, whatever this task thought) stays as it is
        and no effect is performed. Fenced by this process's lease (raises LeaseLost, nothing written,
        when another process holds the job), but for a Cancel (allowed by state: see cancel())."""
        done = machine.step(job, event)
        if done.ignored:
            log.warning("%s ended already; %s ignored", who(job), type(event).__name__)
            return job
        if not done.writes:
            return job
        # A Text is written as its English sentence (the database stores plain text); the last text also
        # as its pattern and values, to be shown in its readers' language after a restart too.
        fields = {name: str(value) if isinstance(value, Text) else value for name, value in done.fields.items()}
        if "final_text" in fields:
            fields["final_pattern"] = dump(done.fields["final_text"])
        owner = self.owner if fenced else None
        if "result" in fields:
            fields["result_json"] = json.dumps(fields.pop("result"))
        try:
            if done.state is JobState.DELIVERED:
                assert video is not None
                written = await self._store.mark_delivered(
                    job, video, final_text=fields["final_text"], final_pattern=fields["final_pattern"], owner=owner
                )
            else:
                written = await self._store.update_job(job.id, done.state, owner=owner, expect=expect, **fields)
        except JobAlreadyFinished:
            written = await self._fresh(job)
        if done.state is not None and written.state != done.state:
            log.warning("%s had ended as %s; %s ignored", who(job), written.state, type(event).__name__)
            return written
        if isinstance(event, Posted):
            log.info("%s delivered message=%s", who(written), event.message_id)
        elif isinstance(event, Failed):
            log.info("%s failed: %s", who(written), event.reason)
        elif isinstance(event, Cancelled):
            log.info("%s cancelled by %s", who(written), event.actor_id)
        if done.state is not None and done.state.finished:
            # Its slot (or its place in the line) is free: the server's next waiting job may start.
            self._chore(self._move_line_quietly(written.guild_id), f"line-{written.guild_id}")
        # The store keeps sentences as English strings; shown now, they keep their Texts, so each reader
        # gets their language (after a restart, an owed one is shown as stored: English).
        kept = {
            name: value
            for name in ("final_text", "error")
            if isinstance(value := done.fields.get(name), Text) and getattr(written, name) == value
        }
        if kept:
            written = written.model_copy(update=kept)
        for effect in done.effects:
            await self._perform(effect, written, reporter)
        return written

    async def _move_line_quietly(self, guild_id: int) -> None:
        try:
            await self._move_line(guild_id)
        except Exception as exc:  # the heartbeat moves it later
            lease_log.warning("moving the waiting line of guild %s failed (%s: %s)", guild_id, type(exc).__name__, exc)

    async def _perform(self, effect: Effect, job: Job, reporter: ProgressReporter | None) -> None:
        if effect is Effect.COUNT_SPEND:
            if self._on_spend is not None:
                self._on_spend(job.guild_id, job.cost_usd)
        elif effect is Effect.DISCARD_FILES:
            await self._delivery.discard_files(job.id)
        elif effect is Effect.SHOW_FINAL:
            await self._show_final(job, reporter)
        elif effect is Effect.TELL_REQUESTER:
            try:
                await self._messenger.tell_requester(job, job.error or "")
            except Exception as exc:
                log.warning("%s could not tell the member it failed (%s)", who(job), exc)

    async def _fresh(self, job: Job) -> Job:
        return await self._store.get_job(job.id) or job

    async def _edit(self, job_id: int, text: str) -> int | None:
        job = await self._store.get_job(job_id)
        if job is None:
            return None
        if job.state.finished and job.final_text is not None and text != job.final_text:
            return None  # ended meanwhile (cancelled from another process): its last text stays shown
        message_id = await self._messenger.edit_progress(job, text)
        if message_id is not None and message_id != job.progress_message_id:
            await self._apply(job, ProgressMoved(message_id))
        return message_id

    async def _submit(self, job: Job, reporter: ProgressReporter) -> Job:
        reporter.update(progress.submitting(job))
        job = await self._apply(job, SubmitStarted(self._clock()))
        for attempt in range(1, SUBMIT_ATTEMPTS + 1):
            try:
                request_id = await self._fal.submit(job.endpoint, job.arguments, webhook_url=self._webhook_url())
                break
            except FalAnswerLost as exc:
                # fal may have the job: look for it instead of sending it again (a second video, billed).
                log.warning("%s submit answer lost (%s); looking for it at fal", who(job), exc.user_message)
                return await self._apply(job, AnswerLost())
            except FalUnavailable as exc:
                # fal answered (5xx, 429): that proves it did not take the job, so sending it again is safe.
                if exc.status is None or attempt == SUBMIT_ATTEMPTS:
                    raise
                await asyncio.sleep(2**attempt)
        job = await self._apply(job, Accepted(request_id))
        log.info("%s submitted request=%s", who(job), request_id)
        return job

    def _webhook_url(self) -> str | None:
        if self._config.updates == "webhook" and self._webhooks is not None:
            return self._config.webhook_url
        return None

    async def _find_lost_submit(self, job: Job, reporter: ProgressReporter) -> Job:
        """A submit whose answer never came (or the bot died during it): fal may have the request. Look for
        it in fal's list of this key's requests, by endpoint, time and exact input, for as long as the job
        itself would be waited for; adopt it when found. Never send it again."""
        reporter.update(progress.finding_submit(job))
        sent = job.submitted_at or job.updated_at
        deadline = sent + self._config.job_timeout
        interval = self._config.lookup_interval or self._config.poll_max * 6
        while True:
            try:
                for request_id in await self._fal.find_request(job.endpoint, job.arguments, sent - LOOKUP_SLACK):
                    if await self._store.job_with_request(request_id) is None:  # not another job's twin
                        job = await self._apply(job, Accepted(request_id))
                        log.info("%s found at fal after a lost submit: request=%s", who(job), request_id)
                        return job
            except FalLookupRefused as exc:
                log.warning("%s a lost submit cannot be looked up at fal (%s)", who(job), exc.user_message)
                raise JobFailed(NOT_FOUND_AT_FAL) from exc
            except FalError as exc:
                log.warning("%s fal's request list failed (%s); trying again", who(job), exc.user_message)
            if self._clock() >= deadline:
                raise JobFailed(NOT_FOUND_AT_FAL)
            await asyncio.sleep(interval)

    async def _wait(self, job: Job, reporter: ProgressReporter, *, first_poll_now: bool = True) -> Job:
        """Follow the job at fal until it ends. With FAL_UPDATES=stream and a backend that streams, through
        fal's status stream (one connection for the whole job); when the stream fails, by polling until
        stream_retry has passed, then through a new stream. Polling: after poll_min, then doubling up to
        poll_max; a job just submitted is known to be queued, so its first poll waits too; a resumed one
        is polled at once (or its stream reopened). The deadline (job_timeout) holds in both."""
        if self._webhook_url() is None:
            return await self._follow(job, reporter, _Following(), first_poll_now)
        # Webhooks: fal posts the result; the stream (or a slow sweep) shows progress and finds a job whose
        # webhook was lost. The event is set by webhook_arrived.
        follow = _Following(webhook=self._arrivals.setdefault(job.id, asyncio.Event()))
        try:
            return await self._follow(job, reporter, follow, first_poll_now)
        finally:
            self._arrivals.pop(job.id, None)

    async def _follow(self, job: Job, reporter: ProgressReporter, follow: _Following, first_poll_now: bool) -> Job:
        assert job.request_id is not None
        request_id = job.request_id  # the job is reloaded below; its request id stays the same
        streams = self._config.updates != "poll" and isinstance(self._fal, StatusStreaming)
        next_stream = self._clock() if streams else float("inf")
        hooks = follow.webhook is not None
        delay = self._config.webhook_sweep if hooks else self._config.poll_min
        if not first_poll_now and not streams:
            await self._pause(delay, follow)
            delay = delay if hooks else min(self._config.poll_max, delay * 2)
        failures = 0
        deadline = job.since + self._config.job_timeout  # its time in the waiting line does not count
        while True:
            if hooks and (taken := await self._take_webhook(job, request_id, follow)) is not None:
                return taken
            if self._clock() > deadline:
                await self._fal.cancel(job.endpoint, request_id)
                raise JobFailed(Text("fal took too long to make this video, so it was cancelled; nothing was charged."))
            if self._clock() >= next_stream:
                try:
                    job, done = await self._follow_stream(job, request_id, reporter, follow, deadline)
                except FalStreamBroken as exc:
                    job = follow.job or job  # a Started persisted from the stream stays
                    log.info("%s status stream failed (%s); polling for now", who(job), exc.user_message)
                    done = False
                if done:
                    return job
                next_stream = self._clock() + self._config.stream_retry
                # The stream's state is unknown: look at once, then back off (or sweep, awaiting a webhook).
                delay = self._config.webhook_sweep if hooks else self._config.poll_min
                continue  # (past the deadline, or a webhook came: handled at the top)
            try:
                status = await self._fal.status(job.endpoint, request_id)
                failures = 0
            except FalResultGone:
                raise
            except FalError as exc:
                failures += 1
                if failures > STATUS_FAILURES_ALLOWED:
                    raise JobFailed(Text("fal stopped answering about this video; nothing was charged.")) from exc
                log.warning("%s status poll failed (%s), retrying", who(job), exc.user_message)
                await self._pause(min(self._config.poll_max * 2, self._config.poll_min * 2**failures), follow)
                continue
            job, done = await self._on_status(job, request_id, status, reporter, follow)
            if done:
                return job
            await self._pause(delay, follow)
            delay = delay if hooks else min(self._config.poll_max, delay * 2)

    async def _pause(self, seconds: float, follow: _Following) -> None:
        """Wait between looks at fal; a webhook's arrival ends the wait."""
        if follow.webhook is None:
            await asyncio.sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await follow.webhook.wait()

    async def _take_webhook(self, job: Job, request_id: str, follow: _Following) -> Job | None:
        """The job's result from its recorded webhook (None: none has come). fal's ERROR fails the job with
        fal's reason; a webhook that could not carry the result has it fetched, once."""
        assert self._webhooks is not None and follow.webhook is not None
        follow.webhook.clear()
        body = await self._webhooks.body(request_id)
        if body is None:
            return None
        data = json.loads(body)  # verified and parsed by the receiver before it was recorded
        payload = data.get("payload")
        if data.get("status") == "ERROR":
            detail = payload.get("detail") if isinstance(payload, dict) else None
            if isinstance(detail, list):
                raise JobFailed(refusal_sentence(detail, payload.get("error_type")))
            reason = str(data.get("error") or detail or "an error at fal")[:200].rstrip(".")
            raise JobFailed(Text("fal could not make this video ({reason}).", reason=reason))
        log.info("%s its webhook came", who(job))
        if isinstance(payload, dict) and not data.get("payload_error"):
            try:
                FalResult.model_validate(payload)
                return await self._apply(job, ResultFetched(payload))
            except ValueError:  # pydantic: not a video; fal's own answer to a GET decides
                log.warning("%s its webhook held no video; fetching the result", who(job))
        return await self._apply(job, ResultFetched(await self._fetch_result(job)))

    async def _follow_stream(
        self, job: Job, request_id: str, reporter: ProgressReporter, follow: _Following, deadline: float
    ) -> tuple[Job, bool]:
        """Read the job's status stream until it completes (True) or the deadline passes (False). Raises
        FalStreamBroken when the stream fails; the job as it was when it did is kept in `follow`."""
        assert isinstance(self._fal, StatusStreaming)
        follow.job = job
        async with contextlib.aclosing(self._fal.stream(job.endpoint, request_id)) as statuses:
            while True:
                # The deadline bounds the wait for the next event only, never the handling of one (a
                # persisted transition or the result's fetch is not cut in the middle).
                try:
                    async with asyncio.timeout(max(0.0, deadline - self._clock()) + 0.001):
                        status = await self._next_status(statuses, follow)
                except TimeoutError:
                    return job, False  # the deadline: the caller cancels the request
                except StopAsyncIteration:
                    break
                if status is None:
                    return job, False  # a webhook came: the caller takes it
                job, done = await self._on_status(job, request_id, status, reporter, follow)
                follow.job = job
                if done:
                    return job, True
        # FalQueue.stream raises when its stream ends before COMPLETED; another backend's may just end.
        raise FalStreamBroken("fal's status stream ended before the request completed.")

    async def _next_status(self, statuses: AsyncGenerator[QueueStatus, None], follow: _Following) -> QueueStatus | None:
        """The stream's next status, or None when a webhook arrives first."""
        if follow.webhook is None:
            return await anext(statuses)
        step = asyncio.ensure_future(anext(statuses))
        arrival = asyncio.ensure_future(follow.webhook.wait())
        try:
            await asyncio.wait((step, arrival), return_when=asyncio.FIRST_COMPLETED)
        finally:
            arrival.cancel()
            if not step.done():
                step.cancel()
                await asyncio.wait((step,))  # the stream unwinds before it is closed
        if step.cancelled():
            return None
        return step.result()

    async def _on_status(
        self, job: Job, request_id: str, status: QueueStatus, reporter: ProgressReporter, follow: _Following
    ) -> tuple[Job, bool]:
        """Act on one status, polled or streamed: report progress, persist Started, and at COMPLETED fetch
        the result once (True) or fail the job with fal's explanation."""
        if status.state == "queued":
            reporter.update(progress.queued(job, status.position, self._clock() - job.since))
            return job, False
        if status.state == "running":
            if job.state == JobState.QUEUED:
                job = await self._apply(job, Started())
            follow.running_since = follow.running_since or self._clock()
            last = status.logs[-1] if status.logs else None
            reporter.update(progress.generating(job, self._clock() - follow.running_since, last))
            return job, False
        if follow.webhook is not None:
            # fal posts the outcome as it says COMPLETED: the webhook brings the result, no fetch needed.
            await self._pause(self._config.webhook_grace, follow)
            taken = await self._take_webhook(job, request_id, follow)
            if taken is not None:
                return taken, True
            log.info("%s completed at fal, no webhook yet; fetching the result", who(job))
        if status.error:
            # The result carries fal's own explanation (422 detail list, or the 5xx).
            try:
                await self._fal.result(job.endpoint, request_id)
            except FalError as exc:
                raise JobFailed(exc.user_message) from exc
            raise JobFailed(refusal_sentence(status.error, status.error_type))
        return await self._apply(job, ResultFetched(await self._fetch_result(job))), True

    async def _fetch_result(self, job: Job) -> dict[str, Any]:
        assert job.request_id is not None
        for attempt in range(1, 4):
            try:
                data = await self._fal.result(job.endpoint, job.request_id)
                FalResult.model_validate(data)
                return data
            except FalUnavailable:
                if attempt == 3:
                    raise
                await asyncio.sleep(2**attempt)
            except ValueError as exc:  # pydantic: not a video result
                raise JobFailed(Text("fal's answer held no video.")) from exc
        raise AssertionError("unreachable")

    # -- delivery: the paid video is kept until Discord has it ------------------------------------------

    async def _deliver(self, job: Job, reporter: ProgressReporter) -> None:
        assert job.result is not None
        result = FalResult.model_validate(job.result)
        if job.state == JobState.UPLOADING:
            # We died (or lost Discord's answer) while posting: the post may have gone through. Never twice.
            posted = await self._delivery.look_for_post(job, patiently=True)
            if posted is not None:
                await self._finish(job, result, posted, reporter)
                return
            # Not posted: post it now (the job stays uploading, which is where a restart would look again).
        parent_link = await self._delivery.parent_link(job)
        ready = await self._delivery.ready_video(job, result, reporter)
        card = VideoCard.for_job(job, result.video_id, parent_link=parent_link, note=ready.note, link=ready.link)
        reporter.update(progress.uploading(job))
        if job.state != JobState.UPLOADING:
            job = await self._apply(job, PostStarted())
        message_id = await self._delivery.post(job, card, ready.path, result.video.url, reporter)
        await self._finish(job, result, message_id, reporter)

    async def _finish(self, job: Job, result: FalResult, message_id: int, reporter: ProgressReporter) -> None:
        video = Video.of(job, result.video_id, message_id, self._clock())
        delivered = await self._apply(job, Posted(message_id), reporter, video)
        if delivered.state != JobState.DELIVERED:  # cancelled meanwhile (and refunded): the post stays, uncharged
            log.warning("%s its video was posted after it had ended; not charged", who(job))

    async def _show_final(self, job: Job, reporter: ProgressReporter | None = None) -> None:
        """Show the job's last text, written with its final state; a few tries, then it waits for the next
        start (resume_all), so a crash or a Discord outage never leaves a message saying "Uploading…"."""
        assert job.final_text is not None
        for attempt in range(FINAL_ATTEMPTS):
            if attempt:
                await asyncio.sleep(min(30.0, self._config.post_retry_min * 2**attempt))
            if reporter is not None:
                shown = await reporter.final(job.final_text)
                reporter = None  # later tries go straight to Discord
            else:
                shown = await self._try_edit(job.id, job.final_text)
            if shown:
                await self._apply(job, FinalShown(self._clock()))
                return
        log.warning("%s its last text is not shown yet; it is owed until the next start", who(job))

    async def _try_edit(self, job_id: int, text: str) -> bool:
        try:
            await self._edit(job_id, text)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("job=%s edit failed (%s: %s)", job_id, type(exc).__name__, exc)
            return False
        return True
