"""Rate limits for the offline backend, enforced and reported the way the API does.

A spec string sets requests, input tokens and output tokens per minute::

    rpm=50;itpm=30000;otpm=8000[;window=SECONDS]

given to ``offline.start(rate_limits=...)``, set later as ``srv.rate_limits = ...``,
passed to ``claude-nb serve --rate-limit``, or sent per request in the
``x-claude-nb-rate-limit`` header (requests sending the same header text share their
limits; ``none`` turns the server's off for that request).

Each limit is a token bucket, continuously refilled at ``limit / 60`` per second, holding
at most ``limit * window / 60`` (``window`` defaults to 60 s: a whole minute's worth can
come at once; the API may enforce a limit over a shorter window, e.g. 60 RPM as one
request per second, which ``window=1`` models). A request needs 1 request, its input
tokens (uncached plus cache writes: cache reads do not count, like the API's) and its
``max_tokens`` of output, reserved up front and settled to the real output at the end.
When any bucket is short the answer is ``429 rate_limit_error`` with ``retry-after``
(whole seconds, as the API sends) and ``retry-after-ms`` (exact; the SDK prefers it), and
nothing is taken. Every ``/v1/messages`` response carries the API's headers for the
limits that are set: ``anthropic-ratelimit-{requests,input-tokens,output-tokens}-{limit,
remaining,reset}``, plus ``anthropic-ratelimit-tokens-*`` for the most restrictive token
limit. ``reset`` is when the bucket would be full again (RFC 3339). Unlike the API, token
``remaining`` values are exact, not rounded to thousands, so small test limits stay
readable.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, fields

from claude_nb.offline.validate import APIError

__all__ = ["RateLimiter", "RateLimits", "parse_rate_limits"]

_DIMENSIONS = (("rpm", "requests"), ("itpm", "input-tokens"), ("otpm", "output-tokens"))
_WHAT = {"rpm": "requests", "itpm": "input tokens", "otpm": "output tokens"}
_DOCS = "https://docs.claude.com/en/api/rate-limits"


@dataclass(frozen=True)
class RateLimits:
    """Per-minute limits (None: no limit on that dimension) and the burst window."""

    rpm: int | None = None
    itpm: int | None = None
    otpm: int | None = None
    window: float = 60.0

    def __str__(self) -> str:
        parts = [f"{f.name}={getattr(self, f.name)}" for f in fields(self)[:3]]
        parts = [p for p in parts if not p.endswith("=None")]
        if self.window != 60.0:
            parts.append(f"window={self.window:g}")
        return ";".join(parts)

    @classmethod
    def parse(cls, spec: str) -> RateLimits:
        """Parse ``rpm=N;itpm=N;otpm=N;window=S``; ``ValueError`` with a precise message."""
        values: dict[str, float] = {}
        for part in (p.strip() for p in spec.split(";")):
            if not part:
                continue
            key, sep, raw = part.partition("=")
            key = key.strip().lower()
            if not sep or not raw.strip():
                raise ValueError(f"rate limit spec {spec!r}: expected key=value, got {part!r}")
            if key not in ("rpm", "itpm", "otpm", "window"):
                raise ValueError(
                    f"rate limit spec {spec!r}: unknown key {key!r} (known: rpm, itpm, otpm, window)"
                )
            try:
                number = float(raw) if key == "window" else int(raw)
            except ValueError:
                kind = "a number of seconds" if key == "window" else "an integer"
                raise ValueError(
                    f"rate limit spec {spec!r}: {key} must be {kind}, got {raw.strip()!r}"
                ) from None
            if not number > 0:
                raise ValueError(
                    f"rate limit spec {spec!r}: {key} must be > 0, got {raw.strip()!r}"
                )
            values[key] = number
        if not any(k in values for k in ("rpm", "itpm", "otpm")):
            raise ValueError(f"rate limit spec {spec!r}: set at least one of rpm=, itpm=, otpm=")
        return cls(
            rpm=_int(values.get("rpm")),
            itpm=_int(values.get("itpm")),
            otpm=_int(values.get("otpm")),
            window=float(values.get("window", 60.0)),
        )


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)


def parse_rate_limits(spec: str | RateLimits | None) -> RateLimits | None:
    """:class:`RateLimits` from a spec string (``None``, ``""``, ``none`` -> no limits)."""
    if spec is None or isinstance(spec, RateLimits):
        return spec
    if not isinstance(spec, str):
        raise ValueError(f"rate limit spec must be a string, got {type(spec).__name__}")
    if spec.strip().lower() in ("", "none", "off"):
        return None
    return RateLimits.parse(spec)


@dataclass
class _Bucket:
    limit: int
    capacity: float
    level: float
    updated: float

    def refill(self, now: float) -> None:
        rate = self.limit / 60.0
        self.level = min(self.capacity, self.level + (now - self.updated) * rate)
        self.updated = now

    def wait_for(self, need: float) -> float:
        """Seconds until ``need`` (at most the capacity) is available."""
        short = min(need, self.capacity) - self.level
        return max(0.0, short / (self.limit / 60.0))


@dataclass(frozen=True)
class Admission:
    """An admitted request: what it reserved, and the headers its response carries."""

    reserved_output: int
    headers: dict[str, str]


class RateLimiter:
    """The buckets of one :class:`RateLimits`; thread-safe, clocks injectable for tests."""

    def __init__(
        self,
        limits: RateLimits,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._wall = wall
        self._lock = threading.Lock()
        now = clock()
        self._buckets: dict[str, _Bucket] = {}
        for key, _ in _DIMENSIONS:
            limit = getattr(limits, key)
            if limit is not None:
                capacity = max(1.0, limit * limits.window / 60.0)
                self._buckets[key] = _Bucket(limit, capacity, capacity, now)

    def admit(self, input_tokens: int, max_tokens: int) -> Admission:
        """Take what the request needs, or raise a 429 :class:`APIError` taking nothing."""
        need = {"rpm": 1.0, "itpm": float(input_tokens), "otpm": float(max_tokens)}
        with self._lock:
            now = self._clock()
            for bucket in self._buckets.values():
                bucket.refill(now)
            waits = {
                key: bucket.wait_for(need[key])
                for key, bucket in self._buckets.items()
                if bucket.wait_for(need[key]) > 0
            }
            if waits:
                key = max(waits, key=lambda k: waits[k])
                seconds = waits[key]
                headers = {
                    "retry-after": str(max(1, math.ceil(seconds))),
                    "retry-after-ms": str(max(1, math.ceil(seconds * 1000))),
                    **self._headers(now),
                }
                limit = self._buckets[key].limit
                raise APIError(
                    429,
                    "rate_limit_error",
                    f"This request would exceed your organization's rate limit of {limit:,} "
                    f"{_WHAT[key]} per minute (offline server). For details, refer to: {_DOCS}. "
                    "You can see the response headers for current usage. Please reduce the "
                    "prompt length or the maximum tokens requested, or try again later.",
                    headers,
                )
            reserved = 0
            for key, bucket in self._buckets.items():
                take = min(need[key], bucket.capacity)
                bucket.level -= take
                if key == "otpm":
                    reserved = int(take)
            return Admission(reserved, self._headers(now))

    def settle(self, reserved_output: int, output_tokens: int) -> None:
        """Give back the output reserved but not used (or take more if it ran over)."""
        bucket = self._buckets.get("otpm")
        if bucket is None:
            return
        with self._lock:
            bucket.refill(self._clock())
            bucket.level = min(bucket.capacity, bucket.level + reserved_output - output_tokens)

    def _headers(self, now: float) -> dict[str, str]:
        headers: dict[str, str] = {}
        wall = self._wall()
        for key, name in _DIMENSIONS:
            bucket = self._buckets.get(key)
            if bucket is None:
                continue
            for field, value in _bucket_headers(bucket, wall).items():
                headers[f"anthropic-ratelimit-{name}-{field}"] = value
        tokens = [self._buckets[k] for k in ("itpm", "otpm") if k in self._buckets]
        if tokens:
            tightest = min(tokens, key=lambda b: b.level / b.capacity)
            for field, value in _bucket_headers(tightest, wall).items():
                headers[f"anthropic-ratelimit-tokens-{field}"] = value
        return headers


def _bucket_headers(bucket: _Bucket, wall: float) -> dict[str, str]:
    full_in = (bucket.capacity - bucket.level) / (bucket.limit / 60.0)
    reset = dt.datetime.fromtimestamp(math.ceil(wall + full_in), tz=dt.timezone.utc)
    return {
        "limit": str(bucket.limit),
        "remaining": str(max(0, math.floor(bucket.level))),
        "reset": reset.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
