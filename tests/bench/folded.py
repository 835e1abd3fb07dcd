"""Summarise py-spy's folded stacks (``--profile`` output): where the bot's threads spend their samples.

    python -m tests.bench.folded RUN_FOLDER/inflight/inflight-first.folded [--top 30] [--match TEXT]

Prints, per thread, the functions with the most samples on the stack (inclusive) and at its top (self).
"""

from __future__ import annotations

import argparse
import re
from collections import Counter, defaultdict
from pathlib import Path

_THREAD = re.compile(r"^thread \((\w+)\)(?::\s*(.*))?$")


def summarise(path: Path, top: int, match: str | None) -> str:
    inclusive: dict[str, Counter[str]] = defaultdict(Counter)
    own: dict[str, Counter[str]] = defaultdict(Counter)
    totals: Counter[str] = Counter()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = stack.split(";")
        thread = "?"
        if frames and (found := _THREAD.match(frames[0])):
            thread, frames = " ".join(g for g in found.groups() if g), frames[1:]
        if match and not any(match in frame for frame in frames):
            continue
        count = int(count_text)
        totals[thread] += count
        for frame in set(frames):
            inclusive[thread][frame] += count
        if frames:
            own[thread][frames[-1]] += count
    lines = []
    for thread, total in totals.most_common():
        lines.append(f"thread {thread}: {total} samples")
        lines.append("  inclusive:")
        lines += [f"    {n / total:6.1%}  {frame}" for frame, n in inclusive[thread].most_common(top)]
        lines.append("  self:")
        lines += [f"    {n / total:6.1%}  {frame}" for frame, n in own[thread].most_common(top)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.folded")
    parser.add_argument("path", type=Path)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--match", help="only stacks with a frame containing this text")
    args = parser.parse_args()
    print(summarise(args.path, args.top, args.match))


if __name__ == "__main__":
    main()
