"""The raw wire: where a stream's bytes are read, guarded and (on request) logged.

A :class:`WireTap` wraps the HTTP transport of the clients the magic builds. Every
``text/event-stream`` response is read through it, so this is where the limits that the
SDK has no notion of hold: one SSE event may not grow past ``max_event_bytes`` (a line
with no newline would otherwise grow the SDK's buffer without bound), and a run's
overall deadline (:data:`deadline`) ends reading even when the server keeps trickling
pings, which reset every idle timeout. Both end the stream with one of our
:class:`~claude_nb.errors.StreamError` exceptions, which the runner records.

When the run in flight asks for it (``--events``, ``--record``), every event-stream
response is also teed into a :class:`WireLog` as it is read — the SDK still does all the
parsing of the stream it consumes. The log splits the bytes into frames (the SDK's own
``SSEDecoder`` reads the fields) so teaching mode can show each event's wire text,
including the ``ping`` events the SDK hides, and ``--record`` can save a replayable
``.sse`` file with ``: t=SECONDS`` timing comments (the offline server replays those at
the recorded pace).
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
from anthropic._streaming import SSEDecoder

from claude_nb.errors import DeadlineExceeded, EventTooLargeError

MAX_EVENT_BYTES = 32 * 2**20
"""Bytes one SSE event may hold before reading stops (the API's own request limit is
32 MB; no real event comes near it)."""
# Where an SSE event ends (what the SDK's decoder looks for).
_EVENT_ENDS = (b"\n\n", b"\r\r", b"\r\n\r\n")


@dataclass(frozen=True)
class WireFrame:
    """One SSE event as it crossed the wire."""

    t: float  # seconds since the run started, when its last byte arrived
    event: str  # the `event:` name (message_start, content_block_delta, ping, error...)
    data: str  # the `data:` payload (JSON text)
    raw: str  # the exact wire text, `event:`/`data:` lines and the blank line


class WireLog:
    """The frames of one streamed response, decoded as the bytes arrive."""

    def __init__(self, clock: Callable[[], float], label: str = "") -> None:
        self.clock = clock
        self.label = label
        self.frames: list[WireFrame] = []
        self.nbytes = 0
        self._decoder = SSEDecoder()
        self._partial = b""
        self._raw: list[str] = []

    def feed(self, chunk: bytes) -> None:
        t = self.clock()
        self.nbytes += len(chunk)
        data = self._partial + chunk
        lines = data.splitlines(keepends=True)
        self._partial = lines.pop() if lines and not lines[-1].endswith((b"\n", b"\r")) else b""
        for raw_line in lines:
            line = raw_line.decode("utf-8", errors="replace")
            self._raw.append(line)
            sse = self._decoder.decode(line.rstrip("\r\n"))
            if sse is not None:
                self.frames.append(
                    WireFrame(t, sse.event or "message", sse.data, "".join(self._raw))
                )
                self._raw = []

    def recording(self, t0: float | None = None) -> str:
        """The stream as a replayable ``.sse`` file with ``: t=`` timing comments."""
        start = self.frames[0].t if t0 is None and self.frames else (t0 or 0.0)
        out = [f": recorded by claude_nb on {time.strftime('%Y-%m-%d %H:%M:%S')}\n"]
        for f in self.frames:
            out.append(f": t={max(f.t - start, 0.0):.4f}\n{f.raw}")
        return "".join(out)

    def save(self, path: str | Path, t0: float | None = None) -> Path:
        path = Path(path).expanduser()
        path.write_text(self.recording(t0), encoding="utf-8")
        return path


@dataclass(frozen=True)
class Deadline:
    """A run's overall deadline: ``at`` on the ``time.perf_counter`` clock."""

    at: float
    seconds: float

    def check(self) -> None:
        if time.perf_counter() > self.at:
            raise DeadlineExceeded(self.seconds)


class _GuardedStream(httpx2.SyncByteStream):
    """An event stream's bytes, checked against the event cap and the deadline, and
    teed into a log when one is wanted."""

    def __init__(
        self, inner: Any, log: WireLog | None, max_event: int, deadline: Deadline | None
    ) -> None:
        self.inner = inner
        self.log = log
        self.max_event = max_event
        self.deadline = deadline

    def __iter__(self) -> Iterator[bytes]:
        log, limit, due = self.log, self.max_event, self.deadline
        pending = 0  # bytes since the last end of an event
        tail = b""
        for chunk in self.inner:
            if log is not None:
                log.feed(chunk)
            if due is not None:
                due.check()
            data = tail + chunk
            end = max(data.rfind(sep) for sep in _EVENT_ENDS)
            pending = len(data) - end if end >= 0 else pending + len(chunk)
            if pending > limit:
                raise EventTooLargeError(limit)
            tail = data[-3:]
            yield chunk

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()


# While a run that records its wire has a request in flight: makes (and keeps) a new log.
recording: contextvars.ContextVar[Callable[[], WireLog] | None] = contextvars.ContextVar(
    "claude_nb_wire_recording", default=None
)
# While a run with an overall deadline has a request in flight.
deadline: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar(
    "claude_nb_wire_deadline", default=None
)


class WireTap(httpx2.BaseTransport):
    """A transport that reads event streams through the guards above, and tees them into
    the current run's wire logs when it wants them."""

    def __init__(
        self, inner: httpx2.BaseTransport | None = None, *, max_event_bytes: int = MAX_EVENT_BYTES
    ) -> None:
        from anthropic._constants import DEFAULT_CONNECTION_LIMITS

        self.inner = inner or httpx2.HTTPTransport(limits=DEFAULT_CONNECTION_LIMITS)
        self.max_event_bytes = max_event_bytes

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        limit = deadline.get()
        if limit is not None:  # no read may wait past the deadline
            limit.check()
            left = limit.at - time.perf_counter()
            timeouts = dict(request.extensions.get("timeout") or {})
            read = timeouts.get("read")
            timeouts["read"] = left if read is None else min(read, left)
            request.extensions["timeout"] = timeouts
        response = self.inner.handle_request(request)
        if "text/event-stream" not in response.headers.get("content-type", ""):
            return response
        new_log = recording.get()
        log = new_log() if new_log is not None else None
        return httpx2.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_GuardedStream(response.stream, log, self.max_event_bytes, limit),
            extensions=response.extensions,
            request=request,
        )

    def close(self) -> None:
        self.inner.close()
