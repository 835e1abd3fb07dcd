"""Benchmark: a busy server's load against the real bot, through the loopback fakes of Discord and fal.

    python -m tests.bench            full run (200-command burst, 1,000 jobs in flight + kill -9, 100 MiB video,
                                     two processes on PostgreSQL with 1,000 jobs + kill -9 of one)
    python -m tests.bench --quick    a small run of the same scenarios (about three minutes)
    python -m tests.bench --engine both --only burst    the single-process scenarios on SQLite and PostgreSQL,
                                     side by side in one table (the cluster scenario is PostgreSQL's alone)
    python -m tests.bench --only inflight --updates stream    the scenario with the bot on fal's status stream
                                     (FAL_UPDATES); without --updates the burst runs once per mode (poll,
                                     stream, webhook), side by side, and the others on the bot's default

Prints one table (and writes it, with every raw figure, to the run folder). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import math
import os
import platform
import re
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from bot.config import Settings
from tests.bench import harness
from tests.bench.harness import MIB, UPDATE_MODES, BotExited, percentile, start_postgres, stop_postgres
from tests.bench.limits import DiscordLimiter
from tests.bench.scenarios import DEFAULT_LEASE_SECONDS, Params, Timing, burst, cluster, inflight, summary_ms, video

QUICK = Params(
    burst_commands=40,
    burst_timing=Timing(queue=(1.0, 4.0), run=(8.0, 16.0)),
    inflight_jobs=150,
    inflight_rate=75.0,
    inflight_window=5.0,
    inflight_timing=Timing(queue=(14.0, 18.0), run=(4.0, 8.0)),
    video_bytes=20 * MIB,
    drain_timeout=120.0,
    cluster_jobs=150,
    cluster_rate=75.0,
    cluster_window=2.0,
    cluster_timing=Timing(queue=(25.0, 30.0), run=(4.0, 8.0)),
    cluster_lease=10.0,  # the bot's minimum is 5; the full run keeps the default 30
)
SINGLE = ("burst", "inflight", "video")  # one bot process: on either engine
SCENARIOS = (*SINGLE, "cluster")  # cluster: two processes, PostgreSQL only
ENGINES = ("sqlite", "postgresql")
LABEL = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
DEFAULT_UPDATES = str(Settings.model_fields["fal_updates"].default)  # FAL_UPDATES's default
# A column of the table: one engine with the bot in one updates mode.
Column = tuple[str, str]


def label(column: Column) -> str:
    return f"{LABEL[column[0]]}, {column[1]}"


def column_key(column: Column) -> str:
    return f"{column[0]}/{column[1]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small run (about three minutes)")
    parser.add_argument("--only", choices=SCENARIOS, action="append", help="run only this scenario (repeatable)")
    parser.add_argument(
        "--engine",
        choices=(*ENGINES, "both"),
        default="sqlite",
        help="the database of the single-process scenarios (both: side by side); cluster is always PostgreSQL",
    )
    parser.add_argument(
        "--updates",
        choices=(*UPDATE_MODES, "all"),
        action="append",
        help="how the bot follows fal (FAL_UPDATES) in the single-process scenarios (repeatable; all: every "
        "mode, side by side); without it the burst runs once per mode and the others on the bot's default",
    )
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the run folder (logs, databases, raw figures)")
    parser.add_argument(
        "--profile", action="store_true", help="sample every bot process with py-spy (implies --keep; slows the bot)"
    )
    parser.add_argument("--profile-seconds", type=int, default=0, help="with --profile: sample only the first N s")
    args = parser.parse_args(argv)
    if args.profile:
        harness.PROFILE = args.keep = True
        harness.PROFILE_SECONDS = args.profile_seconds
    params = dataclasses.replace(QUICK if args.quick else Params(), seed=args.seed)
    engines = list(ENGINES) if args.engine == "both" else [args.engine]
    chosen = args.updates or []
    updates = list(UPDATE_MODES) if "all" in chosen else list(dict.fromkeys(chosen))
    run_dir = Path(tempfile.mkdtemp(prefix="sora-bench-"))
    try:
        results = asyncio.run(run(params, args.only or list(SCENARIOS), engines, run_dir, updates))
        text = render(params, results, engines, quick=args.quick)
        print(text)
        (run_dir / "table.md").write_text(text + "\n", encoding="utf-8")
        (run_dir / "results.json").write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
    finally:
        if args.keep:
            print(f"\nrun folder kept: {run_dir}", file=sys.stderr)
        else:
            shutil.rmtree(run_dir, ignore_errors=True)
    return 0 if all(all(row.ok.values()) for row in table(params, results, engines, quick=args.quick)) else 1


def modes_of(name: str, updates: list[str]) -> list[str | None]:
    """The FAL_UPDATES each run of a scenario sets (None: the bot's default, nothing set): those asked for;
    else the burst once per mode (the default one as the bot has it) and the others on the default."""
    if updates:
        return list(updates)
    if name == "burst":
        return [None if mode == DEFAULT_UPDATES else mode for mode in UPDATE_MODES]
    return [None]


async def run(
    params: Params, which: list[str], engines: list[str], run_dir: Path, updates: list[str] | None = None
) -> dict[str, Any]:
    """{"columns": {"engine/mode": {scenario: figures}}, "cluster": figures}; one PostgreSQL server for the
    run when any scenario needs it (a fresh database per scenario), stopped at the end."""
    found: dict[str, Any] = {"columns": {}}
    steps = {"burst": burst, "inflight": inflight, "video": video}
    plan: list[tuple[str, str, str | None]] = [
        (engine, name, mode)
        for engine in engines
        for name in SINGLE
        if name in which
        for mode in modes_of(name, updates or [])
    ]
    if "cluster" in which:
        plan.append(("postgresql", "cluster", None))
    server = None
    server_error = ""
    try:
        if any(engine == "postgresql" for engine, _, _ in plan):
            print("[bench] starting PostgreSQL ...", file=sys.stderr, flush=True)
            try:
                server = await asyncio.to_thread(start_postgres)
            except Exception as exc:  # its scenarios say so; SQLite's still run
                server_error = f"no PostgreSQL server: {type(exc).__name__}: {exc}"
        for engine, name, mode in plan:
            column: Column = (engine, mode or DEFAULT_UPDATES)
            folder = run_dir / (name if name == "cluster" else f"{engine}-{column[1]}-{name}")
            folder.mkdir()
            started = time.monotonic()
            print(f"[bench] {name} on {label(column)} ...", file=sys.stderr, flush=True)
            try:
                url = None
                if engine == "postgresql":
                    if server is None:
                        raise RuntimeError(server_error)
                    url = server.url(server.new_database())
                if name == "cluster":
                    assert url is not None
                    figures = await cluster(params, folder, url)
                else:
                    figures = await steps[name](params, folder, url, mode)
            except BotExited as exc:
                # The webhook mode is being built: a bot that refuses it leaves that column "not available".
                print(f"[bench] {exc}", file=sys.stderr)
                figures = {"error": str(exc), "unavailable": mode == "webhook"}
            except Exception as exc:  # one broken scenario must not hide the others' figures
                traceback.print_exc()
                figures = {"error": f"{type(exc).__name__}: {exc}"}
            figures["scenario_s"] = time.monotonic() - started
            figures["mode"] = column[1]
            if name == "cluster":
                found["cluster"] = figures
            else:
                found["columns"].setdefault(column_key(column), {})[name] = figures
            print(f"[bench] {name} on {label(column)} done in {figures['scenario_s']:.0f} s", file=sys.stderr)
    finally:
        if server is not None:
            await asyncio.to_thread(stop_postgres, server)
    return found


# -- the table -------------------------------------------------------------------------------------------


def mib(value: float) -> str:
    return f"{value / MIB:.1f} MiB"


def rows(params: Params, r: dict[str, Any], *, quick: bool = False) -> list[tuple[str, str, str, bool]]:
    """(measure, result, target, met) for every figure measured. --quick jobs (9-20 s) are too short for
    the fal budget to be met by the default polling (first poll at 2 s), so there it is only reported."""
    out: list[tuple[str, str, str, bool]] = []
    for name, x in r.items():
        if x.get("unavailable"):
            out.append((f"scenario {name}", f"not available: {x['error']}", "(reported)", True))
        elif "error" in x:
            out.append((f"scenario {name}", f"did not complete: {x['error']}", "completes", False))
    b, f, v = (x if x and "error" not in x else None for x in (r.get("burst"), r.get("inflight"), r.get("video")))
    if b:
        p50, p99, top = summary_ms(b["ack_ms"])
        worst = math.inf if b["unanswered"] else top
        out.append(
            (
                f"ack latency, {b['commands']} commands in {b['seconds']:g} s (dispatch -> defer received)",
                f"p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {top:.0f} ms" + _unanswered(b),
                "p99 < 250 ms, none > 3 s",
                p99 < 250 and worst <= 3000,
            )
        )
        out += burst_updates_rows(b, quick=quick)
        out.append(
            (
                "Discord REST requests per job (burst)",
                f"{b['discord']['requests'] / max(b['accepted'], 1):.2f}",
                "(reported)",
                True,
            )
        )
        out.append(
            (
                f"Discord 429 responses, {b['accepted']} concurrent jobs",
                f"{b['count_429']}" + _refused(b),
                "0",
                b["count_429"] == 0,
            )
        )
        out.append(
            (
                f"event-loop lag p99, {b['accepted']} jobs in flight",
                f"{percentile(b['lag_ms'], 99):.1f} ms (max {max(b['lag_ms'], default=math.nan):.0f} ms)",
                "(reported)",
                True,
            )
        )
    if f:
        lag = f["lag_ms"]
        streams = f.get("streams_open") or {}
        out.append(
            (
                "fal status streams open at once, all jobs in flight (the fake's count)",
                f"peak {streams.get('peak', 0)} (at the start of the window {streams.get('all_in_flight', 0)}, "
                f"at the kill {streams.get('kill', 0)})",
                "(reported)",
                True,
            )
        )
        out.append(
            (
                f"event-loop lag p99, {f['in_flight_at_kill']} jobs in flight",
                f"{percentile(lag, 99):.1f} ms (p50 {percentile(lag, 50):.1f}, max {max(lag, default=math.nan):.0f})",
                "< 50 ms",
                percentile(lag, 99) < 50,
            )
        )
        out.append(
            (
                f"peak RSS, {f['in_flight_at_kill']} jobs in flight",
                f"{mib(f['peak_rss'])} (RSS at the kill {mib(f['rss_at_kill'])})",
                "< 200 MiB",
                f["peak_rss"] < 200 * MIB,
            )
        )
        if f.get("engine") == "postgresql":
            # A lone process restarted on PostgreSQL waits out its predecessor's leases (it cannot tell a
            # dead process from a live one): measured from the kill, against the lease.
            lease = DEFAULT_LEASE_SECONDS
            out.append(
                (
                    f"READY -> all {f['resumed']} unfinished jobs resumed, after kill -9",
                    f"{f['kill_to_resumed_s']:.2f} s after the kill (lease {lease:g} s; "
                    f"{f['resume_s']:.2f} s after READY)",
                    f"< lease + 5 s = {lease + 5:g} s after the kill",
                    f["kill_to_resumed_s"] < lease + 5 and f["resumed"] == f["in_flight_at_kill"],
                )
            )
        else:
            out.append(
                (
                    f"READY -> all {f['resumed']} unfinished jobs resumed, after kill -9",
                    f"{f['resume_s']:.2f} s",
                    "< 5 s",
                    f["resume_s"] < 5 and f["resumed"] == f["in_flight_at_kill"],
                )
            )
        out.append(
            (
                f"Discord 429 responses, {f['jobs']} jobs + restart",
                f"{f['count_429']}" + _refused(f),
                "(reported)",
                True,
            )
        )
    if v:
        out.append(
            (
                f"RSS added by delivering one {v['bytes'] / MIB:.1f} MiB video (tier-3 server, no re-encode)",
                f"{mib(v['added'])} (baseline {mib(v['baseline'])}, peak {mib(v['peak'])})"
                + ("" if v["intact"] else " - POSTED FILE DIFFERS"),
                "< 20 MiB",
                v["added"] < 20 * MIB and v["intact"],
            )
        )
    submitted = sum(x["accepted"] if "accepted" in x else 0 for x in (b or {}, f or {})) + (2 if v else 0)
    delivered = sum(x.get("delivered", 0) - x.get("duplicates", 0) for x in (b or {}, f or {}, v or {}))
    fired = sum(x.get("commands", x.get("jobs", 0)) for x in (b or {}, f or {})) + (2 if v else 0)
    duplicates = sum(x.get("duplicates", 0) for x in (b or {}, f or {}, v or {}))
    ratio = delivered / fired if fired else math.nan
    if not fired:
        return out  # no single-process scenario ran (--only cluster), or none completed
    out.append(
        (
            "jobs delivered / jobs submitted",
            f"{delivered} / {fired} = {ratio:.3f}"
            + (f", {duplicates} duplicate post(s)" if duplicates else "")
            + ("" if submitted == fired else f" ({fired - submitted} command(s) never acknowledged)"),
            "1.0",
            delivered == fired and duplicates == 0,
        )
    )
    return out


# fal queue requests per job each mode is held to (poll: a budget that grows with the job's seconds).
UPDATES_BUDGET = {"stream": 3, "webhook": 2}


def burst_updates_rows(b: dict[str, Any], *, quick: bool) -> list[tuple[str, str, str, bool]]:
    """The burst's rows that compare the updates modes: fal requests per job, COMPLETED -> download,
    progress edits, CPU and memory."""
    mode = b.get("mode", DEFAULT_UPDATES)
    fal = b["fal"]
    kinds = ", ".join(f"{k} {fal['by_kind'].get(k, 0)}" for k in ("submit", "status", "stream", "result", "cancel"))
    if mode in UPDATES_BUDGET:
        cap = UPDATES_BUDGET[mode]
        fal_row = (
            f"{fal['per_job']:.2f} per job, max {fal['max_per_job']} ({kinds}); "
            f"{fal[f'jobs_over_{cap}']} job(s) over {cap}",
            f"<= {cap} per job, whatever its length",
            fal["max_per_job"] <= cap,
        )
    else:
        budget = 2 + fal["job_seconds_mean"] / 4
        fal_row = (
            f"{fal['per_job']:.2f} per job, {fal['per_job_second']:.3f} per job-second ({kinds}); "
            f"{fal['jobs_over_budget']} job(s) over their own budget",
            "(reported)" if quick else f"<= 2 + job-s/4 = {budget:.2f}",
            quick or fal["per_job"] <= budget,
        )
    out = [
        (
            f"fal queue requests per job ({fal['jobs']} jobs of {fal['job_seconds_mean']:.0f} s on average; "
            "a status stream counts one)",
            *fal_row,
        )
    ]
    download = b.get("download")
    if download is not None:
        delays = download["delays_s"]
        p99 = percentile(delays, 99)
        judged = mode in UPDATES_BUDGET
        out.append(
            (
                "COMPLETED at fal -> the bot asks for the video (download start)",
                f"p50 {percentile(delays, 50):.2f} s, p99 {p99:.2f} s, max {max(delays, default=math.nan):.2f} s"
                + (f"; {download['not_downloaded']} job(s) never downloaded" if download["not_downloaded"] else ""),
                "p99 < 1 s" if judged else "(reported)",
                not judged or (p99 < 1 and not download["not_downloaded"]),
            )
        )
    if "progress_edits" in b:
        out.append(
            (
                "progress edits per job (message PATCHes Discord accepted, the final one included)",
                f"{b['progress_edits'] / max(b['accepted'], 1):.2f}",
                "(reported)",
                True,
            )
        )
    out.append((f"bot CPU for the burst's {b['accepted']} jobs", f"{b['cpu_s']:.1f} s", "(reported)", True))
    out.append(("peak RSS, burst", mib(b["peak_rss"]), "(reported)", True))
    return out


def cluster_rows(params: Params, c: dict[str, Any], *, quick: bool = False) -> list[tuple[str, str, str, bool]]:
    """The cluster scenario's rows (two processes on PostgreSQL, kill -9 of one)."""
    if "error" in c:
        return [("scenario cluster", f"did not complete: {c['error']}", "completes", False)]
    out: list[tuple[str, str, str, bool]] = []
    lease = c["lease_s"]
    offsets = c["taken_offsets_s"]
    out.append(
        (
            f"cluster: kill -9 -> all {c['orphans']} orphaned jobs polling fal again (survivor took them over)",
            f"{c['kill_to_taken_s']:.2f} s (first at {min(offsets, default=math.nan):.2f} s, median "
            f"{percentile(offsets, 50):.2f} s; lease {lease:g} s)"
            + (f"; {c['orphans_unsubmitted']} orphan(s) not yet at fal" if c["orphans_unsubmitted"] else ""),
            f"< lease + 5 s = {lease + 5:g} s",
            c["orphans"] > 0 and c["kill_to_taken_s"] < lease + 5,
        )
    )
    for name, lag in c["lag_ms"].items():
        when = "until the kill" if name == "cluster-1" else "through the takeover"
        out.append(
            (
                f"cluster: event-loop lag p99, {name} ({c['owned_at_kill'].get(name, 0)} jobs at the kill), {when}",
                f"{percentile(lag, 99):.1f} ms (p50 {percentile(lag, 50):.1f}, max {max(lag, default=math.nan):.0f})",
                "< 50 ms",
                percentile(lag, 99) < 50,
            )
        )
    for name, peak in c["peak_rss"].items():
        out.append((f"cluster: peak RSS, {name}", mib(peak), "< 200 MiB", 0 < peak < 200 * MIB))
    out.append(
        (
            f"cluster: Discord 429 responses, {c['jobs']} jobs + takeover",
            f"{c['count_429']}" + _refused(c),
            "(reported)",
            True,
        )
    )
    delivered = c["delivered"]
    out.append(
        (
            "cluster: jobs delivered / jobs submitted",
            f"{delivered} / {c['jobs']} = {delivered / c['jobs']:.3f}"
            + (f", {c['duplicates']} duplicate post(s)" if c["duplicates"] else "")
            + (f" ({c['jobs'] - c['accepted']} command(s) never acknowledged)" if c["accepted"] != c["jobs"] else ""),
            "1.0",
            delivered == c["jobs"] and c["duplicates"] == 0,
        )
    )
    out.append(
        (
            "cluster: fal submissions / jobs (never resubmitted)",
            f"{c['fal_submissions']} / {c['accepted']}",
            "1.0",
            c["fal_submissions"] == c["accepted"],
        )
    )
    return out


def cluster_notes(c: dict[str, Any]) -> list[str]:
    if "error" in c:
        return [f"- cluster: scenario took {c['scenario_s']:.0f} s"]
    p50, p99, top = summary_ms(c["ack_ms"])
    ramp = ", ".join(f"{name} {percentile(lag, 99):.0f} ms" for name, lag in c["ramp_lag_ms"].items())
    owned = ", ".join(f"{name} {n}" for name, n in c["owned_at_kill"].items())
    return [
        f"- cluster: ack latency while starting {c['jobs']} jobs at {c['rate']:g}/s: p50 {p50:.0f} ms, p99 "
        f"{p99:.0f} ms, max {top:.0f} ms; loop lag p99 during that ramp: {ramp}; harness loop lag p99 "
        f"{percentile(c['own_lag_ms'], 99):.0f} ms",
        f"- cluster: unfinished jobs leased at the kill: {owned}; all {c['delivered']} delivered {c['drain_s']:.0f} s "
        f"after the kill; {c['failed']} failed, {c['unfinished']} unfinished at the end; fal requests per job "
        f"{c['fal']['per_job']:.2f}; Discord requests per job {c['discord']['requests'] / max(c['accepted'], 1):.2f}",
        f"- cluster: scenario took {c['scenario_s']:.0f} s",
    ]


def _unanswered(b: dict[str, Any]) -> str:
    return f", {b['unanswered']} not acknowledged within 3 s" if b["unanswered"] else ""


def _refused(x: dict[str, Any]) -> str:
    return f" ({', '.join(f'{k}: {n}' for k, n in x['refused_by'].items())})" if x["refused_by"] else ""


@dataclass
class Row:
    """One measure, its result on each engine that has it, its target (per engine when they differ)."""

    measure: str
    results: dict[str, str] = dataclasses.field(default_factory=dict)
    targets: dict[str, str] = dataclasses.field(default_factory=dict)
    ok: dict[str, bool] = dataclasses.field(default_factory=dict)

    @property
    def reported(self) -> bool:
        return all(t == "(reported)" for t in self.targets.values())

    def target(self) -> str:
        distinct = list(dict.fromkeys(self.targets.values()))
        if len(distinct) == 1:
            return distinct[0]
        return "; ".join(f"{label(_column(c))}: {t}" for c, t in self.targets.items())


def _column(key: str) -> Column:
    engine, _, mode = key.partition("/")
    return engine, mode


def columns_of(r: dict[str, Any]) -> list[str]:
    """The table's columns ("engine/mode"), engines first, then the modes in UPDATE_MODES's order."""
    keys = set(r["columns"]) | ({column_key(("postgresql", DEFAULT_UPDATES))} if "cluster" in r else set())
    order = [column_key((e, m)) for e in ENGINES for m in UPDATE_MODES]
    return sorted(keys, key=lambda k: order.index(k) if k in order else len(order))


def table(params: Params, r: dict[str, Any], engines: list[str], *, quick: bool) -> list[Row]:
    """Every column's rows merged by measure (its counts blanked: '1000 jobs' on both is one measure),
    then the cluster's rows under PostgreSQL (the bot's default updates mode)."""
    merged: dict[str, Row] = {}
    per_engine = [(c, rows(params, r["columns"][c], quick=quick)) for c in columns_of(r) if c in r["columns"]]
    if "cluster" in r:
        per_engine.append(
            (column_key(("postgresql", DEFAULT_UPDATES)), cluster_rows(params, r["cluster"], quick=quick))
        )
    for engine, found in per_engine:
        seen: Counter[str] = Counter()  # the n-th row of a shape on one engine is the n-th on the other
        for measure, result, target, ok in found:
            shape = re.sub(r"(?<![\w-])\d[\d.,]*", "#", measure)
            seen[shape] += 1
            row = merged.setdefault(f"{shape} #{seen[shape]}", Row(measure))
            row.results[engine], row.targets[engine], row.ok[engine] = result, target, ok
    return list(merged.values())


def render(params: Params, r: dict[str, Any], engines: list[str], *, quick: bool) -> str:
    lines = [
        f"sora-discord-bot benchmark{' (--quick)' if quick else ''}: {os.cpu_count()} cores, "
        f"{platform.machine()}, Python {platform.python_version()}, discord.py {metadata.version('discord.py')}, "
        f"fal_client {metadata.version('fal_client')}; bot with its default settings, as its own process; "
        f"load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"burst: {params.burst_commands} /generate in {params.burst_seconds:g} s from {params.burst_commands} "
        f"members in {params.channels} channels; fal jobs {params.burst_timing}",
        f"in flight: {params.inflight_jobs} jobs started at {params.inflight_rate:g}/s, measured "
        f"{params.inflight_window:g} s with all in flight, then kill -9 and restart; fal jobs {params.inflight_timing}",
        f"video: {params.video_bytes / MIB:.2f} MiB mp4 into a premium-tier-3 server (100 MiB upload limit)",
        f"cluster: two processes (SHARD_COUNT=2, SHARD_IDS=0 and 1) on one PostgreSQL, {params.cluster_jobs} jobs "
        f"started at {params.cluster_rate:g}/s in {params.cluster_guilds_per_shard} guilds per shard, "
        f"{params.cluster_window:g} s with all in flight, then kill -9 of shard 1's process; "
        f"JOB_LEASE_SECONDS {params.lease_seconds:g}{'' if params.cluster_lease is not None else ' (default)'}; "
        f"fal jobs {params.cluster_timing}",
        f"Discord limits: {DiscordLimiter().describe()}",
        "",
    ]
    found = table(params, r, engines, quick=quick)
    shown = [c for c in columns_of(r) if any(c in row.results for row in found)]
    if len(shown) <= 1:
        name = label(_column(shown[0])) if shown else "result"
        lines += [f"| measure | result ({name}) | target | |", "|---|---|---|---|"]
    else:
        lines += [
            f"| measure | {' | '.join(label(_column(c)) for c in shown)} | target | |",
            "|---|" + "---|" * (len(shown) + 2),
        ]
    for row in found:
        if row.reported:
            mark = ""
        elif all(row.ok.values()):
            mark = "pass"
        else:
            mark = "**MISS**" + (
                f" ({', '.join(label(_column(c)) for c, ok in row.ok.items() if not ok)})" if len(shown) > 1 else ""
            )
        cells = " | ".join(row.results.get(e, "-") for e in shown)
        lines.append(f"| {row.measure} | {cells} | {row.target()} | {mark} |")
    for key in columns_of(r):
        if r["columns"].get(key):
            lines += ["", f"{label(_column(key))}:", *notes(r["columns"][key])]
    if "cluster" in r:
        lines += ["", "cluster:", *cluster_notes(r["cluster"])]
    return "\n".join(lines)


def notes(r: dict[str, Any]) -> list[str]:
    found = []
    b, f = (x if x and "error" not in x else None for x in (r.get("burst"), r.get("inflight")))
    if b:
        routes = ", ".join(f"{k} {n}" for k, n in list(b["discord"]["routes"].items())[:6])
        found.append(f"- burst: Discord requests by route: {routes}")
        found.append(
            f"- burst: fal requests by kind: {b['fal']['by_kind']}; bot CPU {b['cpu_s']:.1f} s for "
            f"{b['accepted']} jobs in {b['wall_s']:.0f} s; peak RSS {mib(b['peak_rss'])}; "
            f"harness loop lag p99 {percentile(b['own_lag_ms'], 99):.0f} ms"
        )
    if f:
        p50, p99, top = summary_ms(f["ack_ms"])
        found.append(
            f"- in flight: ack latency while starting {f['jobs']} jobs at {f['rate']:g}/s: p50 {p50:.0f} ms, "
            f"p99 {p99:.0f} ms, max {top:.0f} ms; loop lag p99 during that ramp "
            f"{percentile(f['ramp_lag_ms'], 99):.0f} ms; harness loop lag p99 {percentile(f['own_lag_ms'], 99):.0f} ms"
        )
        found.append(
            f"- in flight, {f['window_s']:.0f} s with all jobs in flight: bot CPU "
            f"{f['window_cpu_s'] / f['window_s']:.0%} of a core, "
            f"{f['window_fal_requests'] / f['window_s']:.0f} fal and "
            f"{f['window_discord_requests'] / f['window_s']:.0f} Discord requests a second"
        )
        found.append(
            f"- restart: process start -> READY {f['start_to_ready_s']:.2f} s; CPU while resuming: bot "
            f"{f['resume_cpu_s'][0]:.1f} s, fakes {f['resume_cpu_s'][1]:.1f} s; loop lag p99 while resuming "
            f"{percentile(f['restart_lag_ms'], 99):.0f} ms; all {f['accepted']} delivered {f['drain_s']:.0f} s after "
            f"READY; fal submissions {f['fal_submissions']} for {f['accepted']} jobs; fal requests per job "
            f"{f['fal']['per_job']:.2f} (restart included); Discord requests per job "
            f"{f['discord']['requests'] / max(f['accepted'], 1):.2f}"
        )
    for name, x in r.items():
        found.append(f"- {name}: scenario took {x['scenario_s']:.0f} s")
    return found


if __name__ == "__main__":
    raise SystemExit(main())
