"""Prompt caching, accounted the way the API does it, deterministically.

A request's prompt is read in order (tools, then system, then messages). A content
block, system block or tool carrying ``cache_control: {"type": "ephemeral"}`` (``"ttl":
"1h"`` for an hour instead of 5 minutes) marks a *breakpoint*; a top-level
``cache_control`` marks the last block. For each breakpoint the prefix up to it is looked
up, and so are the 20 blocks before it (so a chat that moves its breakpoint forward still
finds the previous turn's prefix); the longest prefix found is *read*
(``cache_read_input_tokens``). The rest, up to the last breakpoint, is *written*
(``cache_creation_input_tokens``, split by TTL in ``cache_creation``), provided the prefix
reaches the model's minimum cacheable length (:func:`min_cacheable_tokens`); what follows
the last breakpoint is ordinary ``input_tokens``. The three add up to the request's
whole input estimate (:mod:`claude_nb.offline.tokens`). A read refreshes the entry's
lifetime; entries are keyed by model and exact content (``cache_control`` itself aside).

At most 4 breakpoints, and a 1-hour one may not follow a 5-minute one: otherwise the
request is refused with a 400 like the API's.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from claude_nb.offline.tokens import prompt_parts
from claude_nb.offline.validate import APIError

__all__ = ["CacheUsage", "PromptCache", "min_cacheable_tokens"]

TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}
MAX_BREAKPOINTS = 4
LOOKBACK_BLOCKS = 20
_PURGE_AT = 10_000


def min_cacheable_tokens(model: str) -> int:
    """The shortest prefix the API caches for ``model`` (published: 1,024 tokens for
    Sonnet up to 4.5 and Opus up to 4.1, 2,048 for Sonnet 4.6 and Haiku 3.x, 4,096 for
    Opus 4.5+ and Haiku 4.5+; newer or unknown models: the latest of their family)."""
    match = re.match(r"claude-([a-z]+)-(\d+)(?:-(\d{1,2}))?(?:-|$)", model)
    family = match.group(1) if match else ""
    version = (int(match.group(2)), int(match.group(3) or 0)) if match else (99, 0)
    if family == "sonnet":
        return 2048 if version >= (4, 6) else 1024
    if family == "opus":
        return 4096 if version >= (4, 5) else 1024
    if family == "haiku":
        return 4096 if version >= (4, 5) else 2048
    return 4096


@dataclass(frozen=True)
class CacheUsage:
    """The input side of ``usage`` for one request."""

    input_tokens: int
    cache_read_input_tokens: int = 0
    ephemeral_5m_input_tokens: int = 0
    ephemeral_1h_input_tokens: int = 0

    @property
    def cache_creation_input_tokens(self) -> int:
        return self.ephemeral_5m_input_tokens + self.ephemeral_1h_input_tokens

    def message_start(self) -> dict[str, Any]:
        """The fields of ``message_start.message.usage`` this accounting sets."""
        return {
            **self.message_delta(),
            "cache_creation": {
                "ephemeral_5m_input_tokens": self.ephemeral_5m_input_tokens,
                "ephemeral_1h_input_tokens": self.ephemeral_1h_input_tokens,
            },
        }

    def message_delta(self) -> dict[str, Any]:
        """The fields of ``message_delta.usage`` this accounting sets."""
        return {
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
        }


@dataclass
class _Breakpoint:
    position: int  # index into the prefix list
    ttl: str


def _cache_control(part: Any, where: str) -> str | None:
    """The TTL of a block's ``cache_control`` (None when it has none); 400 when invalid."""
    control = part.get("cache_control") if isinstance(part, Mapping) else None
    if control is None:
        return None
    if not isinstance(control, Mapping) or control.get("type") != "ephemeral":
        raise APIError(
            400, "invalid_request_error", f"{where}.cache_control.type: Input should be 'ephemeral'"
        )
    ttl = control.get("ttl", "5m")
    if ttl not in TTL_SECONDS:
        raise APIError(
            400, "invalid_request_error", f"{where}.cache_control.ttl: Input should be '5m' or '1h'"
        )
    return str(ttl)


def _breakpoints(
    body: Mapping[str, Any], parts: list[tuple[str, Any, float]], is_block: list[bool]
) -> list[_Breakpoint]:
    """The request's breakpoints in prompt order (validated like the API)."""
    found = []
    for i, (kind, part, _) in enumerate(parts):
        ttl = _cache_control(part, kind) if is_block[i] else None
        if ttl is not None:
            found.append(_Breakpoint(i, ttl))
    auto = body.get("cache_control")
    if auto is not None:
        ttl = _cache_control({"cache_control": auto}, "request")
        last_block = max((i for i, b in enumerate(is_block) if b), default=None)
        if ttl is not None and last_block is not None:
            found = [b for b in found if b.position != last_block]
            found.append(_Breakpoint(last_block, ttl))
            found.sort(key=lambda b: b.position)
    if len(found) > MAX_BREAKPOINTS:
        raise APIError(
            400,
            "invalid_request_error",
            f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. Found {len(found)}.",
        )
    for earlier, later in itertools.pairwise(found):
        if earlier.ttl == "5m" and later.ttl == "1h":
            raise APIError(
                400,
                "invalid_request_error",
                "a cache_control block with ttl '1h' cannot come after one with ttl '5m': "
                "longer-lived cache entries must come first",
            )
    return found


def _canonical(part: Any) -> str:
    """A part as the model reads it: a string content is the same as one text block."""
    if isinstance(part, str):
        part = {"type": "text", "text": part}
    if isinstance(part, Mapping):
        part = {k: v for k, v in part.items() if k != "cache_control"}
    return json.dumps(part, sort_keys=True, ensure_ascii=False, default=str)


class PromptCache:
    """Cache entries (prefix hash -> expiry) shared by every request to one server."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, str]] = {}

    def clear(self) -> None:
        """Forget every entry (as if their lifetime had passed)."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        now = self._clock()
        with self._lock:
            return sum(1 for expires, _ in self._entries.values() if expires > now)

    def account(self, body: Mapping[str, Any], *, commit: bool = True) -> CacheUsage:
        """Read and write the cache for a validated request; its input usage. With
        ``commit=False`` nothing is written or refreshed (what a request *would* cost)."""
        parts = list(prompt_parts(body))
        total = sum(tokens for _, _, tokens in parts)
        whole = max(1, math.ceil(total))
        is_block = [kind != "overhead" for kind, _, _ in parts]
        breakpoints = _breakpoints(body, parts, is_block)
        if not breakpoints:
            return CacheUsage(input_tokens=whole)
        hashes: list[str] = []
        prefix_tokens: list[float] = []
        digest = hashlib.sha256(str(body.get("model", "")).encode())
        running = 0.0
        for kind, part, tokens in parts:
            running += tokens
            digest.update(f"\x00{kind}\x00{_canonical(part)}".encode())
            hashes.append(digest.copy().hexdigest())
            prefix_tokens.append(running)
        minimum = min_cacheable_tokens(str(body.get("model", "")))
        now = self._clock()
        with self._lock:
            if len(self._entries) > _PURGE_AT:
                self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
            hit = self._longest_hit(hashes, is_block, breakpoints, now, commit)
            read = math.ceil(prefix_tokens[hit]) if hit is not None else 0
            writes = {"5m": 0, "1h": 0}
            done = read
            for bp in breakpoints:
                size = math.ceil(prefix_tokens[bp.position])
                key = hashes[bp.position]
                if hit is not None and bp.position <= hit:
                    if commit and key in self._entries:
                        self._entries[key] = (now + TTL_SECONDS[bp.ttl], bp.ttl)
                    continue
                if size < minimum:
                    continue
                writes[bp.ttl] += size - done
                done = size
                if commit:
                    self._entries[key] = (now + TTL_SECONDS[bp.ttl], bp.ttl)
        return CacheUsage(
            input_tokens=whole - read - writes["5m"] - writes["1h"],
            cache_read_input_tokens=read,
            ephemeral_5m_input_tokens=writes["5m"],
            ephemeral_1h_input_tokens=writes["1h"],
        )

    def _longest_hit(
        self,
        hashes: list[str],
        is_block: list[bool],
        breakpoints: list[_Breakpoint],
        now: float,
        refresh: bool,
    ) -> int | None:
        """The furthest prefix position with a live entry, looking back from each breakpoint
        over at most ``LOOKBACK_BLOCKS`` blocks; refreshes the entry it finds."""
        best: int | None = None
        for bp in breakpoints:
            seen = 0
            for position in range(bp.position, -1, -1):
                if not is_block[position]:
                    continue
                if best is not None and position <= best:
                    break
                entry = self._entries.get(hashes[position])
                if entry is not None and entry[0] > now:
                    best = position
                    break
                seen += 1
                if seen >= LOOKBACK_BLOCKS:
                    break
        if best is not None and refresh:
            _, ttl = self._entries[hashes[best]]
            self._entries[hashes[best]] = (now + TTL_SECONDS[ttl], ttl)
        return best
