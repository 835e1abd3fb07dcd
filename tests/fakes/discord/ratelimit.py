"""Rate-limit behaviour of the Discord fake: forced 429s, optional buckets, and the X-RateLimit headers."""

from __future__ import annotations

import hashlib
import math
import re
import time
from dataclasses import dataclass, field

from .models import JSON

# Informational default bucket: never exhausted, so discord.py never throttles itself by accident.
DEFAULT_LIMIT = 50
DEFAULT_WINDOW_S = 1.0


@dataclass
class ForcedLimit:
    method: str
    pattern: re.Pattern[str]
    remaining: int
    retry_after: float
    is_global: bool


@dataclass
class RouteLimit:
    method: str
    pattern: re.Pattern[str]
    limit: int
    per_seconds: float
    bucket: str
    remaining: int = 0
    reset_at: float = 0.0


@dataclass
class Window:
    used: int = 0
    reset_at: float = 0.0


@dataclass
class LimitDecision:
    """What the limiter says about one request: headers to add, and a 429 body if refused."""

    headers: dict[str, str]
    refused: JSON | None = None
    status: int = 200


def _matches(method: str, pattern: re.Pattern[str], req_method: str, path: str) -> bool:
    return method in ("*", req_method) and pattern.fullmatch(path) is not None


def bucket_hash(key: str) -> str:
    return hashlib.sha1(key.encode()).hexdigest()[:32]


@dataclass
class RateLimiter:
    forced: list[ForcedLimit] = field(default_factory=list)
    route_limits: list[RouteLimit] = field(default_factory=list)
    windows: dict[str, Window] = field(default_factory=dict)
    count_429: int = 0

    def add_forced(self, method: str, path_regex: str, count: int, retry_after: float, is_global: bool) -> None:
        self.forced.append(ForcedLimit(method.upper(), re.compile(path_regex), count, retry_after, is_global))

    def add_route_limit(self, method: str, path_regex: str, limit: int, per_seconds: float) -> None:
        bucket = bucket_hash(f"limit:{method}:{path_regex}")
        self.route_limits.append(
            RouteLimit(method.upper(), re.compile(path_regex), limit, per_seconds, bucket, remaining=limit)
        )

    def clear(self) -> None:
        self.forced.clear()
        self.route_limits.clear()

    def decide(self, method: str, path: str, template: str | None, major: str) -> LimitDecision:
        now = time.monotonic()
        for forced in self.forced:
            if forced.remaining > 0 and _matches(forced.method, forced.pattern, method, path):
                forced.remaining -= 1
                bucket = None if forced.is_global else bucket_hash(f"{method} {template or path}")
                return self._refuse(forced.retry_after, forced.is_global, bucket, limit=1)
        for rule in self.route_limits:
            if not _matches(rule.method, rule.pattern, method, path):
                continue
            if now >= rule.reset_at:
                rule.remaining = rule.limit
                rule.reset_at = now + rule.per_seconds
            reset_after = rule.reset_at - now
            if rule.remaining <= 0:
                return self._refuse(reset_after, False, rule.bucket, limit=rule.limit)
            rule.remaining -= 1
            return LimitDecision(_headers(rule.limit, rule.remaining, reset_after, rule.bucket))
        if template is None:
            return LimitDecision({})
        key = f"{method} {template}"
        window = self.windows.setdefault(f"{key} {major}", Window())
        if now >= window.reset_at:
            window.used = 0
            window.reset_at = now + DEFAULT_WINDOW_S
        window.used += 1
        remaining = max(DEFAULT_LIMIT - window.used, 1)
        return LimitDecision(_headers(DEFAULT_LIMIT, remaining, window.reset_at - now, bucket_hash(key)))

    def _refuse(self, retry_after: float, is_global: bool, bucket: str | None, *, limit: int) -> LimitDecision:
        self.count_429 += 1
        headers = {"Retry-After": str(max(1, math.ceil(retry_after)))}
        if is_global:
            headers["X-RateLimit-Global"] = "true"
            headers["X-RateLimit-Scope"] = "global"
        else:
            headers.update(_headers(limit, 0, retry_after, bucket or bucket_hash("unknown")))
            headers["X-RateLimit-Scope"] = "user"
        body: JSON = {
            "message": "You are being rate limited.",
            "retry_after": round(retry_after, 3),
            "global": is_global,
            "code": 0,
        }
        return LimitDecision(headers, refused=body, status=429)


def _headers(limit: int, remaining: int, reset_after: float, bucket: str) -> dict[str, str]:
    reset_after = max(reset_after, 0.0)
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
        "X-RateLimit-Reset-After": f"{reset_after:.3f}",
        "X-RateLimit-Bucket": bucket,
    }
