"""The raw wire: what the server really sent, byte for byte, with arrival times.

A :class:`WireTap` wraps the HTTP transport of the clients the magic builds. When the
run in flight asks for it (``--events``, ``--record``), every ``text/event-stream``
response is teed into a :class:`WireLog` as it is read — the SDK still does all the
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


class _TappedStream(httpx2.SyncByteStream):
    def __init__(self, inner: Any, log: WireLog) -> None:
        self.inner = inner
        self.log = log

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.inner:
            self.log.feed(chunk)
            yield chunk

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()


# While a run that records its wire has a request in flight: makes (and keeps) a new log.
recording: contextvars.ContextVar[Callable[[], WireLog] | None] = contextvars.ContextVar(
    "claude_nb_wire_recording", default=None
)


class WireTap(httpx2.BaseTransport):
    """A transport that tees event streams into the current run's wire logs, when it wants them."""

    def __init__(self, inner: httpx2.BaseTransport | None = None) -> None:
        from anthropic._constants import DEFAULT_CONNECTION_LIMITS

        self.inner = inner or httpx2.HTTPTransport(limits=DEFAULT_CONNECTION_LIMITS)

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = self.inner.handle_request(request)
        new_log = recording.get()
        if new_log is None:
            return response
        if "text/event-stream" not in response.headers.get("content-type", ""):
            return response
        log = new_log()
        return httpx2.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_TappedStream(response.stream, log),
            extensions=response.extensions,
            request=request,
        )

    def close(self) -> None:
        self.inner.close()
