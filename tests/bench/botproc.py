"""The bot as its own process for the benchmark: `python -m bot` pointed at the fakes (discord.py's REST base
and gateway URL are library constants), plus an event-loop lag sampler started in the bot's own loop.

Run by the benchmark as ``python tests/bench/botproc.py`` with the bot's settings in the environment and:

    BENCH_DISCORD_API, BENCH_DISCORD_GATEWAY   where the fake Discord listens
    BENCH_LAG_FILE                              where to append "<monotonic time> <lag ms>" lines
    BENCH_STALL_FILE                            where to write the main thread's stack during each stall

The sampler sleeps SAMPLE_INTERVAL_S and records how late it woke up: the time any other callback held
the loop. Lines are flushed twice a second, so a kill -9 loses at most half a second of samples.
A watchdog thread notices when the loop has not run for STALL_MS and writes what the main thread is
doing at that moment (once per stall): the callback that holds the loop.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import discord  # noqa: E402
import yarl  # noqa: E402

discord.http.Route.BASE = os.environ["BENCH_DISCORD_API"]
discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(os.environ["BENCH_DISCORD_GATEWAY"])

from bot import __main__ as cli  # noqa: E402
from bot.config import Settings  # noqa: E402

SAMPLE_INTERVAL_S = 0.01
FLUSH_EVERY_S = 0.5


async def sample_lag(path: Path) -> None:
    with path.open("a", encoding="ascii") as out:
        flushed = time.monotonic()
        while True:
            before = time.monotonic()
            await asyncio.sleep(SAMPLE_INTERVAL_S)
            now = time.monotonic()
            out.write(f"{now:.4f} {(now - before - SAMPLE_INTERVAL_S) * 1000:.3f}\n")
            if now - flushed >= FLUSH_EVERY_S:
                out.flush()
                flushed = now


STALL_MS = 100


def watch_stalls(loop: asyncio.AbstractEventLoop, path: Path) -> None:
    main = threading.main_thread().ident
    beat = [time.monotonic()]

    def tick() -> None:
        beat[0] = time.monotonic()
        loop.call_later(SAMPLE_INTERVAL_S, tick)

    def watch() -> None:
        reported = 0.0
        with path.open("a", encoding="utf-8") as out:
            while True:
                time.sleep(0.02)
                last = beat[0]
                stalled = time.monotonic() - last
                if stalled * 1000 >= STALL_MS and last != reported:
                    reported = last
                    frame = sys._current_frames().get(main) if main is not None else None
                    stack = "".join(traceback.format_stack(frame)) if frame is not None else "?\n"
                    out.write(f"--- at {time.monotonic():.3f}: loop stalled {stalled * 1000:.0f} ms so far\n{stack}")
                    out.flush()

    loop.call_soon(tick)
    threading.Thread(target=watch, name="stall-watch", daemon=True).start()


_bot_run = cli.run


async def run_with_sampler(settings: Settings) -> int:
    sampler = asyncio.create_task(sample_lag(Path(os.environ["BENCH_LAG_FILE"])))
    if os.environ.get("BENCH_STALL_FILE"):
        watch_stalls(asyncio.get_running_loop(), Path(os.environ["BENCH_STALL_FILE"]))
    try:
        return await _bot_run(settings)
    finally:
        sampler.cancel()


cli.run = run_with_sampler  # main() looks `run` up when it calls it

if __name__ == "__main__":
    raise SystemExit(cli.main([]))
