"""Faults the fake Discord can be told to inject into its REST answers, for the bot's exactly-once tests.

- ``status``: answer with an error status (503 by default) without doing anything.
- ``reset``: drop the connection before doing anything (nothing happened; the bot hears no answer).
- ``answer_lost``: do the request (a message is created), then drop the connection: the answer is lost.
- ``hold``: wait until released (or forever), then do the request: a test can kill the bot meanwhile.
- ``hold_after``: do the request, then wait until released before answering.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from typing import Literal

Action = Literal["status", "reset", "answer_lost", "hold", "hold_after"]


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    action: Action
    status: int = 503
    count: int = 1  # matching requests still to hit; negative: every one
    contains: str | None = None  # only requests whose JSON body has this text
    hits: int = 0
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def release(self) -> None:
        self.released.set()


class Faults:
    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(
        self,
        method: str,
        path_regex: str,
        action: Action,
        *,
        status: int = 503,
        count: int = 1,
        contains: str | None = None,
    ) -> Fault:
        fault = Fault(method.upper(), re.compile(path_regex), action, status, count, contains)
        self._faults.append(fault)
        return fault

    def take(self, method: str, path: str, body: object) -> Fault | None:
        """The first armed fault for this request, counted as hit."""
        text = json.dumps(body, ensure_ascii=False) if body is not None else ""
        for fault in self._faults:
            if fault.contains is not None and fault.contains not in text:
                continue
            if fault.count != 0 and fault.method == method and fault.pattern.fullmatch(path):
                fault.count -= 1 if fault.count > 0 else 0
                fault.hits += 1
                return fault
        return None

    def clear(self) -> None:
        for fault in self._faults:
            fault.release()
        self._faults.clear()
