"""How the offline backend talks HTTP: connections, JSON replies and paced SSE streams.

:class:`BackendHTTPServer` runs one daemon thread per connection and tracks every thread
and socket, so stopping it shuts down every open connection (which wakes stalls, pacing
waits and idle keep-alive reads) and joins them: no thread or socket outlives the server.

:class:`Exchange` is the request handler's base: it logs each request in the
:class:`~claude_nb.offline.state.BackendState`, turns :class:`APIError` into the API's
error JSON, and sends answers either as a paced, chunked SSE stream (with the mid-stream
faults of :mod:`claude_nb.offline.faults`) or as one JSON message folded by the SDK's own
accumulator. Endpoints live in :mod:`claude_nb.offline.handler`.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import select
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from typing import Any
from urllib.parse import urlsplit

from claude_nb.offline.faults import STATUS_FOR_ERROR_TYPE, FaultSpec
from claude_nb.offline.format import make_event
from claude_nb.offline.replay import Emitted, fold
from claude_nb.offline.state import BackendState, RequestRecord
from claude_nb.offline.validate import APIError, error_body, new_request_id
from claude_nb.stream.protocol import is_retryable

__all__ = ["BackendHTTPServer", "Exchange", "Gone"]

logger = logging.getLogger("claude_nb.offline")

_REDACTED_HEADERS = {"x-api-key", "authorization", "cookie", "proxy-authorization"}
_FLUSH_BYTES = 64 * 1024
_POLL = 0.2
_MAX_BODY = 32 * 1024 * 1024  # the Messages API's limit
_MAX_BATCH_BODY = 256 * 1024 * 1024  # the Message Batches API's


class Gone(Exception):
    """The exchange ended early: the client left, or the server is stopping."""

    def __init__(self, outcome: str) -> None:
        super().__init__(outcome)
        self.outcome = outcome


class BackendHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that tracks its connections and their threads."""

    daemon_threads = True
    block_on_close = False  # close_connections() joins the tracked threads
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], state: BackendState, handler: type[Exchange]
    ) -> None:
        self.state = state
        self._conn_threads: set[threading.Thread] = set()
        self._conns: set[socket.socket] = set()
        self._registry_lock = threading.Lock()
        super().__init__(address, handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls getfqdn(), a DNS lookup that can hang offline.
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._run,
            args=(request, client_address),
            name="claude-nb-offline-conn",
            daemon=True,
        )
        with self._registry_lock:
            self._conn_threads.add(thread)
        thread.start()

    def _run(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._registry_lock:
                self._conn_threads.discard(threading.current_thread())

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("connection error from %s", client_address, exc_info=True)

    def register(self, conn: socket.socket) -> None:
        with self._registry_lock:
            self._conns.add(conn)
        if self.state.stopping.is_set():
            _shutdown(conn)

    def unregister(self, conn: socket.socket) -> None:
        with self._registry_lock:
            self._conns.discard(conn)

    def close_connections(self, deadline: float) -> None:
        """Shut down every open connection and join their threads (until ``deadline``)."""
        while True:
            with self._registry_lock:
                conns, threads = list(self._conns), list(self._conn_threads)
            for conn in conns:
                _shutdown(conn)
            if not threads or time.monotonic() >= deadline:
                return
            for thread in threads:
                thread.join(max(0.0, min(0.2, deadline - time.monotonic())))


def _shutdown(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)


class Exchange(BaseHTTPRequestHandler):
    """One HTTP exchange at a time on a connection; subclasses implement :meth:`route`."""

    protocol_version = "HTTP/1.1"
    server_version = "claude-nb-offline/1"
    sys_version = ""
    server: BackendHTTPServer
    state: BackendState
    rec: RequestRecord
    request_id: str
    allowed: str = ""
    speed_override: float | None = None

    # -- connection lifecycle -------------------------------------------------------
    def setup(self) -> None:
        super().setup()
        self.state = self.server.state
        self.server.register(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.unregister(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.client_address[0], *args)

    def do_GET(self) -> None:
        self.dispatch("GET")

    def do_POST(self) -> None:
        self.dispatch("POST")

    def do_PUT(self) -> None:
        self.dispatch("PUT")

    def do_DELETE(self) -> None:
        self.dispatch("DELETE")

    def do_PATCH(self) -> None:
        self.dispatch("PATCH")

    def do_HEAD(self) -> None:
        self.dispatch("HEAD")

    def do_OPTIONS(self) -> None:
        self.dispatch("OPTIONS")

    def route(self, method: str, path: str, raw: bytes) -> None:
        raise APIError(404, "not_found_error", "Not Found")

    # -- plumbing -------------------------------------------------------------------
    def dispatch(self, method: str) -> None:
        path = urlsplit(self.path).path.rstrip("/") or "/"
        headers = {
            k.lower(): ("[redacted]" if k.lower() in _REDACTED_HEADERS else v)
            for k, v in self.headers.items()
        }
        self.request_id = new_request_id()
        self.rec = self.state.begin(method, path, headers, self.request_id)
        self.rec.client = "{}:{}".format(*self.client_address[:2])
        self.headers_sent = False
        self.speed_override = None
        self.response_headers: dict[str, str] = {}
        try:
            limit = _MAX_BATCH_BODY if path.startswith("/v1/messages/batches") else _MAX_BODY
            raw = self.read_body(limit)
            self.route(method, path, raw)
        except Gone as gone:
            self.rec.outcome = gone.outcome
            self.close_connection = True
        except APIError as err:
            self.send_api_error(err.status, err.error_type, err.message, err.headers)
        except OSError:
            self.rec.outcome = (
                "server_stopped" if self.state.stopping.is_set() else "client_disconnected"
            )
            self.close_connection = True
        except Exception:
            logger.exception("offline backend failed on %s %s", method, path)
            if not self.headers_sent:
                self.send_api_error(500, "api_error", "Internal server error")
            self.close_connection = True
        finally:
            self.state.end(self.rec)

    def read_body(self, limit: int) -> bytes:
        """The request body; a 413 like the API's past ``limit`` bytes."""
        if int(self.headers.get("content-length") or 0) > limit:
            self.close_connection = True
            raise APIError(
                413,
                "request_too_large",
                f"Request exceeds the maximum allowed number of bytes ({limit:,}).",
            )
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def json_body(self, raw: bytes) -> Any:
        """The request body parsed as JSON (400 like the API when it is not)."""
        try:
            body = json.loads(raw.decode("utf-8") if raw else "")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise APIError(
                400, "invalid_request_error", f"The request body is not valid JSON: {exc}"
            ) from None
        self.rec.body = body
        return body

    def start_response(self, status: int, content_type: str, **headers: str) -> None:
        """Status line and headers (``request-id`` and :attr:`response_headers` added)."""
        self.rec.status = status
        self.send_response(status)
        self.send_header("content-type", content_type)
        for key, value in headers.items():
            self.send_header(key.replace("_", "-"), value)
        self.send_header("request-id", self.request_id)
        for key, value in self.response_headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.headers_sent = True

    def send_json(self, status: int, payload: Any) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode()
        if self.rec.outcome is None:
            self.rec.outcome = "complete" if status < 400 else "http_error"
        self.start_response(status, "application/json", content_length=str(len(body)))
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_api_error(
        self, status: int, error_type: str, message: str, extra: Mapping[str, str] | None = None
    ) -> None:
        should_retry = is_retryable(status)
        self.response_headers["x-should-retry"] = "true" if should_retry else "false"
        self.response_headers.update(extra or {})
        if status == 405:
            self.response_headers["allow"] = self.allowed
        self.send_json(status, error_body(error_type, message, self.request_id))

    def speed(self) -> float:
        return self.state.speed if self.speed_override is None else self.speed_override

    # -- streaming ------------------------------------------------------------------
    def write_chunk(self, data: bytes) -> None:
        if data:
            self.connection.sendall(b"%X\r\n%s\r\n" % (len(data), data))

    def stream_events(self, emitted: Iterable[Emitted], fault: FaultSpec | None) -> None:
        """Send ``emitted`` as a chunked SSE body, paced, with ``fault`` mid-stream."""
        self.start_response(
            200,
            "text/event-stream; charset=utf-8",
            cache_control="no-cache",
            transfer_encoding="chunked",
        )
        trigger = None
        if fault is not None:
            trigger = next(
                (
                    n
                    for n in (fault.error_after, fault.drop_after, fault.stall_after)
                    if n is not None
                ),
                None,
            )
        buffer: list[bytes] = []
        size = queued = 0
        outcome = "complete"

        def flush() -> None:
            nonlocal size
            if buffer:
                self.write_chunk(b"".join(buffer))
                buffer.clear()
                size = 0
                self.rec.events_sent = queued

        for item in itertools.chain(emitted, (None,)):
            if fault is not None and trigger is not None and queued >= trigger:
                trigger = None
                flush()
                action = self._fire(fault)
                if action == "over":
                    return
                if action == "end":
                    outcome = "error_event"
                    queued += 1
                    break
            if item is None:
                break
            speed = self.speed()
            if speed > 0 and item.delay > 0:
                flush()
                self.wait(item.delay / speed)
            buffer.append(item.frame)
            size += len(item.frame)
            queued += 1
            if item.name == "error":
                outcome = "error_event"
            if size >= _FLUSH_BYTES:
                flush()
        flush()
        self.rec.events_sent = queued
        self.connection.sendall(b"0\r\n\r\n")
        self.rec.outcome = outcome

    def _fire(self, fault: FaultSpec) -> str:
        """Carry out a mid-stream fault: "over" (connection gone), "end" or "continue"."""
        if fault.drop_after is not None:
            self._drop()
            return "over"
        if fault.stall_after is not None:
            self._stall(fault.stall)
            return "continue"
        data = {
            "type": "error",
            "error": {"type": fault.resolved_error_type, "message": fault.resolved_message},
            "request_id": self.request_id,
        }
        self.write_chunk(make_event(data).frame())
        return "end"

    def _stall(self, seconds: float) -> None:
        self.rec.stalled = True
        logger.info(
            "stalling %s for %.1fs after %d events (injected)",
            self.request_id,
            seconds,
            self.rec.events_sent,
        )
        try:
            self.wait(seconds)
        except Gone as gone:
            raise Gone("stalled" if gone.outcome == "server_stopped" else gone.outcome) from None

    def _drop(self) -> None:
        logger.info(
            "dropping connection for %s after %d events (injected)",
            self.request_id,
            self.rec.events_sent,
        )
        self.rec.outcome = "dropped"
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def wait(self, seconds: float) -> None:
        """Sleep ``seconds`` while watching the socket; raise :class:`Gone` early."""
        deadline = time.monotonic() + seconds
        stopping = self.state.stopping
        conn = self.connection
        while True:
            if stopping.is_set():
                raise Gone("server_stopped")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                readable, _, _ = select.select([conn], [], [], min(remaining, _POLL))
            except (OSError, ValueError):
                raise Gone("client_disconnected") from None
            if not readable:
                continue
            if stopping.is_set():
                raise Gone("server_stopped")
            try:
                peek = conn.recv(1, socket.MSG_PEEK)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                raise Gone("client_disconnected") from None
            if not peek:
                raise Gone("client_disconnected")
            stopping.wait(min(remaining, _POLL))  # unexpected bytes: keep the pause

    # -- non-streaming --------------------------------------------------------------
    def complete_events(self, emitted: list[Emitted], fault: FaultSpec | None) -> None:
        """Send ``emitted`` as one JSON message, after waiting as long as the stream would."""
        if fault is not None and fault.drop_after is not None:
            self._drop()
            return
        if fault is not None and fault.stall_after is not None:
            self._stall(fault.stall)
        speed = self.speed()
        total = sum(item.delay for item in emitted)
        if speed > 0 and total > 0:
            self.wait(total / speed)
        error = next((item.data["error"] for item in emitted if item.name == "error"), None)
        if fault is not None and fault.error_after is not None:
            error = {"type": fault.resolved_error_type, "message": fault.resolved_message}
        if error is not None:
            status = STATUS_FOR_ERROR_TYPE.get(str(error.get("type")), 500)
            self.send_api_error(status, str(error.get("type")), str(error.get("message")))
            return
        self.send_json(200, fold(emitted))
