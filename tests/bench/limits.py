"""Discord's rate limits as a bot meets them, for the fake Discord of the benchmark.

The test fake's own limiter knows one bucket per rule; Discord keeps one bucket per route *and* major
parameter (channel, webhook token), plus a global limit of 50 requests a second per bot that interaction
endpoints are exempt from. This limiter models that, answers 429 with ``retry_after`` (and the
``X-RateLimit-*`` headers discord.py reads), and counts every 429 by the rule that gave it.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass, field

from tests.fakes.discord.ratelimit import LimitDecision, RateLimiter, Window, _headers, bucket_hash

GLOBAL_LIMIT = 50
GLOBAL_WINDOW_S = 1.0
# Interaction callbacks and interaction webhooks (followups, @original edits) are not bound to the bot's
# global limit; they have their own per-token buckets.
_EXEMPT_FROM_GLOBAL = re.compile(r"/(interactions|webhooks)/.*")


@dataclass(frozen=True)
class Rule:
    """`limit` requests per `per_seconds` for every distinct value of the pattern's `major` group."""

    name: str
    method: str
    pattern: re.Pattern[str]
    limit: int
    per_seconds: float


def rule(name: str, method: str, regex: str, limit: int, per_seconds: float) -> Rule:
    return Rule(name, method, re.compile(regex), limit, per_seconds)


# Modelled on the buckets Discord reports to bots (X-RateLimit-Limit / Reset-After) for these routes.
DISCORD_RULES: tuple[Rule, ...] = (
    rule("create message", "POST", r"/channels/(?P<major>\d+)/messages", 5, 5.0),
    rule("edit message", "PATCH", r"/channels/(?P<major>\d+)/messages/\d+", 5, 5.0),
    rule("channel history", "GET", r"/channels/(?P<major>\d+)/messages", 5, 5.0),
    rule("interaction webhook", "*", r"/webhooks/\d+/(?P<major>[^/]+)(/messages/[^/]+)?", 5, 2.0),
)


@dataclass
class DiscordLimiter(RateLimiter):
    """Drop-in for the fake's RateLimiter (assign to ``FakeDiscord._limiter`` before ``start()``)."""

    rules: tuple[Rule, ...] = DISCORD_RULES
    buckets: dict[tuple[str, str], Window] = field(default_factory=dict)
    global_window: Window = field(default_factory=Window)
    refused_by: Counter[str] = field(default_factory=Counter)

    def decide(self, method: str, path: str, template: str | None, major: str) -> LimitDecision:
        now = time.monotonic()
        for item in self.rules:
            if item.method not in ("*", method):
                continue
            match = item.pattern.fullmatch(path)
            if match is None:
                continue
            window = self.buckets.setdefault((item.name, match["major"]), Window())
            if now >= window.reset_at:
                window.used = 0
                window.reset_at = now + item.per_seconds
            reset_after = window.reset_at - now
            bucket = bucket_hash(f"bench:{item.name}")
            if window.used >= item.limit:
                self.refused_by[item.name] += 1
                return self._refuse(reset_after, False, bucket, limit=item.limit)
            refused = self._global(now, path)
            if refused is not None:
                return refused
            window.used += 1
            return LimitDecision(_headers(item.limit, item.limit - window.used, reset_after, bucket))
        refused = self._global(now, path)
        if refused is not None:
            return refused
        return super().decide(method, path, template, major)

    def _global(self, now: float, path: str) -> LimitDecision | None:
        if _EXEMPT_FROM_GLOBAL.fullmatch(path):
            return None
        window = self.global_window
        if now >= window.reset_at:
            window.used = 0
            window.reset_at = now + GLOBAL_WINDOW_S
        if window.used >= GLOBAL_LIMIT:
            self.refused_by["global"] += 1
            return self._refuse(window.reset_at - now, True, None, limit=GLOBAL_LIMIT)
        window.used += 1
        return None

    def describe(self) -> str:
        parts = [f"{r.name} {r.limit}/{r.per_seconds:g}s" for r in self.rules]
        return "; ".join(parts) + f"; global {GLOBAL_LIMIT}/s (interaction routes exempt)"
