"""What the offline backend knows across requests, apart from HTTP.

Settings (pace, default transcript, faults), the request log, how often each fault has
fired, and the server-held conversations of the beta ``thread`` field. The HTTP handler
reads and updates it; :class:`~claude_nb.offline.server.OfflineServer` exposes it.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from claude_nb.offline.batches import BatchStore
from claude_nb.offline.faults import FaultSpec, parse_faults
from claude_nb.offline.format import Transcript, load_transcript
from claude_nb.offline.prompt_cache import PromptCache
from claude_nb.offline.rate_limits import RateLimiter, RateLimits, parse_rate_limits
from claude_nb.offline.validate import APIError

__all__ = ["OUTCOMES", "BackendState", "RequestRecord"]

logger = logging.getLogger("claude_nb.offline")

OUTCOMES = (
    "complete",
    "client_disconnected",
    "dropped",
    "error_event",
    "stalled",
    "http_error",
    "server_stopped",
)
_MAX_CONVERSATIONS = 1000


@dataclass
class RequestRecord:
    """What the server saw and did for one request (``srv.requests`` gives copies).

    ``outcome`` is None while in flight, then one of :data:`OUTCOMES`:
    complete, client_disconnected (the client went away), dropped (``drop_after``
    fault), error_event (an SSE ``error`` was sent), stalled (a stall ended by server
    stop), http_error (a 4xx/5xx answer) or server_stopped (cut by ``stop()``).
    """

    id: int
    method: str
    path: str
    headers: dict[str, str]
    request_id: str
    started: float
    client: str = ""
    body: Any = None
    stream: bool = False
    transcript: str | None = None
    selection: str | None = None
    fault: str | None = None
    stalled: bool = False
    status: int | None = None
    events_sent: int = 0
    outcome: str | None = None
    ended: float | None = None

    @property
    def duration(self) -> float | None:
        return None if self.ended is None else self.ended - self.started


class BackendState:
    """Settings and memory shared by every request; thread-safe."""

    def __init__(
        self,
        *,
        speed: float = 1.0,
        ttft: float = 0.4,
        tokens_per_second: float = 80.0,
        transcript: Transcript | str | None = None,
        faults: FaultSpec | str | None = None,
        rate_limits: RateLimits | str | None = None,
        batch_seconds: float = 10.0,
    ) -> None:
        self.lock = threading.Lock()
        self._idle = threading.Condition(self.lock)
        self.stopping = threading.Event()
        self._records: list[RequestRecord] = []
        self._record_ids = itertools.count(1)
        self._inflight = 0
        self._fault_counts: dict[str, int] = {}
        self._fault_generation = 0
        self._conversations: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.prompt_cache = PromptCache()
        self.batches: BatchStore | None = None  # the server attaches its store
        self.batch_seconds = batch_seconds
        self._limiter: RateLimiter | None = None
        self._header_limiters: OrderedDict[str, RateLimiter] = OrderedDict()
        self.speed = speed
        self.ttft = ttft
        self.tokens_per_second = tokens_per_second
        self.transcript = transcript
        self.faults = faults
        self.rate_limits = rate_limits

    # -- settings -------------------------------------------------------------------
    @property
    def speed(self) -> float:
        return self._speed

    @speed.setter
    def speed(self, value: float) -> None:
        if value < 0:
            raise ValueError(f"speed must be >= 0, got {value}")
        self._speed = float(value)

    @property
    def transcript(self) -> Transcript | None:
        return self._transcript

    @transcript.setter
    def transcript(self, value: Transcript | str | None) -> None:
        self._transcript = load_transcript(value) if isinstance(value, str) else value

    @property
    def faults(self) -> FaultSpec | None:
        return self._faults

    @faults.setter
    def faults(self, value: FaultSpec | str | None) -> None:
        spec = parse_faults(value)
        with self.lock:
            self._faults = spec
            self._fault_generation += 1

    @property
    def batch_seconds(self) -> float:
        return self._batch_seconds

    @batch_seconds.setter
    def batch_seconds(self, value: float) -> None:
        if not value >= 0:
            raise ValueError(f"batch_seconds must be >= 0, got {value}")
        self._batch_seconds = float(value)

    @property
    def rate_limits(self) -> RateLimits | None:
        return None if self._limiter is None else self._limiter.limits

    @rate_limits.setter
    def rate_limits(self, value: RateLimits | str | None) -> None:
        limits = parse_rate_limits(value)
        with self.lock:
            self._limiter = None if limits is None else RateLimiter(limits)

    def limiter(self, header: RateLimits | None, header_sent: bool) -> RateLimiter | None:
        """The buckets a request draws from: the header's (shared by every request sending
        the same spec) when the header was sent, else the server's."""
        if not header_sent:
            return self._limiter
        if header is None:
            return None
        key = str(header)
        with self.lock:
            limiter = self._header_limiters.get(key)
            if limiter is None:
                limiter = self._header_limiters[key] = RateLimiter(header)
                while len(self._header_limiters) > _MAX_CONVERSATIONS:
                    self._header_limiters.popitem(last=False)
            return limiter

    # -- request log ----------------------------------------------------------------
    def records(self) -> list[RequestRecord]:
        """A snapshot (copies) of every request so far, oldest first."""
        with self.lock:
            return [dataclasses.replace(r, headers=dict(r.headers)) for r in self._records]

    def clear_records(self) -> None:
        with self.lock:
            self._records = [r for r in self._records if r.outcome is None]

    def wait_idle(self, timeout: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._inflight == 0, timeout)

    def begin(
        self, method: str, path: str, headers: dict[str, str], request_id: str
    ) -> RequestRecord:
        """Record a request coming in (it counts as in flight until :meth:`end`)."""
        with self.lock:
            record = RequestRecord(
                next(self._record_ids), method, path, headers, request_id, time.monotonic()
            )
            self._records.append(record)
            self._inflight += 1
            return record

    def end(self, record: RequestRecord) -> None:
        """Close the record and log it, then count the request out: once ``wait_idle``
        returns, every finished request's log line has been written."""
        with self._idle:
            record.ended = time.monotonic()
            if record.outcome is None:
                record.outcome = "complete"
        if record.outcome == "client_disconnected":
            logger.info(
                "client disconnected from %s %s (%s) after %d events",
                record.method,
                record.path,
                record.request_id,
                record.events_sent,
            )
        logger.info(
            "%s %s %s %s transcript=%s fault=%s events=%d %.2fs %s",
            record.method,
            record.path,
            record.status,
            record.outcome,
            record.transcript,
            record.fault,
            record.events_sent,
            record.duration or 0.0,
            record.request_id,
        )
        with self._idle:
            self._inflight -= 1
            self._idle.notify_all()

    # -- server-held conversations (beta ``thread`` field, used by the SDK tool runner) ----
    def save_conversation(self, body: Mapping[str, Any], message: Mapping[str, Any]) -> None:
        """Remember the full history after ``message`` so a ``thread: continue`` can resume it."""
        reply = {"role": "assistant", "content": message.get("content", [])}
        state = {"messages": [*body.get("messages", []), reply]}
        for key in ("system", "tools"):
            if key in body:
                state[key] = body[key]
        with self.lock:
            self._conversations[str(message["id"])] = state
            while len(self._conversations) > _MAX_CONVERSATIONS:
                self._conversations.popitem(last=False)

    def resume_conversation(self, body: Mapping[str, Any], previous_id: str) -> dict[str, Any]:
        """The request as if it had sent the whole history (``thread: continue``)."""
        with self.lock:
            state = self._conversations.get(previous_id)
        if state is None:
            raise APIError(
                404, "not_found_error", f"thread.previous_message_id: {previous_id} not found"
            )
        merged = {**state, **{k: v for k, v in body.items() if k != "messages"}}
        merged["messages"] = [*state["messages"], *(body.get("messages") or [])]
        return merged

    # -- faults -----------------------------------------------------------------------
    def take_fault(
        self,
        *,
        question: str = "",
        structured: bool = False,
        header: FaultSpec | None = None,
        header_sent: bool = False,
    ) -> FaultSpec | None:
        """The fault for a request, counted against its ``times=``: the header's spec when
        the header was sent (``none`` disables the server's; counted by its text), else the
        server's. A fault that does not apply (``match=``, ``off_schema``) is not counted."""
        with self.lock:
            if header_sent:
                spec, key = header, "header:" + str(header)
            else:
                spec, key = self._faults, f"server:{self._fault_generation}"
            if spec is None or not spec.applies(question, structured):
                return None
            if spec.times is not None:
                used = self._fault_counts.get(key, 0)
                if used >= spec.times:
                    return None
                self._fault_counts[key] = used + 1
        return spec
