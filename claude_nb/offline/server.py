"""A local HTTP server that speaks the Anthropic Messages API (offline backend).

The real ``anthropic`` SDK connects to it through ``base_url``; answers come from
transcripts (:mod:`claude_nb.offline.transcripts`), failures from fault specs
(:mod:`claude_nb.offline.faults`). Endpoints::

    POST /v1/messages               streaming (SSE, chunked) and non-streaming
    POST /v1/messages/count_tokens  {"input_tokens": N}
    GET  /v1/models                 a page of ModelInfo (ids from the SDK's ModelParam)
    GET  /v1/models/{id}

Any non-empty ``x-api-key`` or ``Authorization: Bearer`` is accepted (401 without one).
Every response has a ``request-id`` header. Each request is logged (logger
``claude_nb.offline``, keys never logged) and recorded as a :class:`RequestRecord`.

The beta ``thread`` field (server-held conversation state, which the SDK's
``tool_runner`` uses by default) works too: ``{"type": "create"}`` remembers the history
plus the reply under the reply's id, ``{"type": "continue", "previous_message_id": ...}``
prepends that history (and its ``system`` / ``tools``) before validation and selection.

Threads: one daemon thread per connection, tracked; :meth:`OfflineServer.stop` shuts
down every open connection (which wakes stalls, pacing waits and idle keep-alive
reads) and joins them, so no thread or socket outlives the server.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import logging
import select
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from claude_nb.offline.faults import STATUS_FOR_ERROR_TYPE, FaultSpec, parse_faults
from claude_nb.offline.transcripts import (
    Emitted,
    StreamPlan,
    Transcript,
    TranscriptError,
    estimate_input_tokens,
    load_transcript,
    make_event,
    new_id,
    render,
    select_transcript,
)
from claude_nb.offline.validate import (
    APIError,
    error_body,
    new_request_id,
    validate_count_tokens,
    validate_messages,
)
from claude_nb.sdk import MODELS
from claude_nb.stream.protocol import MESSAGE_EVENTS, is_retryable

__all__ = ["OUTCOMES", "OfflineServer", "RequestRecord"]

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
TRANSCRIPT_HEADER = "x-claude-nb-transcript"
FAULT_HEADER = "x-claude-nb-fault"
SPEED_HEADER = "x-claude-nb-speed"
_REDACTED_HEADERS = {"x-api-key", "authorization", "cookie", "proxy-authorization"}
_FLUSH_BYTES = 64 * 1024
_POLL = 0.2
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


class _Gone(Exception):
    """The exchange ended early: the client left, or the server is stopping."""

    def __init__(self, outcome: str) -> None:
        super().__init__(outcome)
        self.outcome = outcome


# --------------------------------------------------------------------------- models


def _display_name(model_id: str) -> str:
    words = [w for w in model_id.split("-") if not (w.isdigit() and len(w) == 8)]
    family = [w.capitalize() for w in words[1:] if not w.isdigit()]
    version = ".".join(w for w in words[1:] if w.isdigit())
    return " ".join(["Claude", *family, *([version] if version else [])])


def _model_info(model_id: str, position: int) -> dict[str, Any]:
    day = 28 - (position % 28)
    month = 12 - (position // 28) % 12
    return {
        "type": "model",
        "id": model_id,
        "display_name": _display_name(model_id),
        "created_at": f"2025-{month:02d}-{day:02d}T00:00:00Z",
        "lifecycle": "active",
        "deprecated_at": None,
        "max_input_tokens": 200000,
        "max_tokens": 64000,
    }


# --------------------------------------------------------------------------- http server


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # OfflineServer joins its own tracked threads
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], owner: OfflineServer) -> None:
        self.owner = owner
        super().__init__(address, _Handler)

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
        self.owner._track_thread(thread)
        thread.start()

    def _run(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            self.owner._untrack_thread(threading.current_thread())

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("connection error from %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "claude-nb-offline/1"
    sys_version = ""
    server: _HTTPServer

    # -- connection lifecycle -------------------------------------------------------
    def setup(self) -> None:
        super().setup()
        self.owner = self.server.owner
        self.owner._register_conn(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.owner._unregister_conn(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.client_address[0], *args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_OPTIONS(self) -> None:
        self._dispatch("OPTIONS")

    # -- plumbing -------------------------------------------------------------------
    def _dispatch(self, method: str) -> None:
        path = urlsplit(self.path).path.rstrip("/") or "/"
        headers = {
            k.lower(): ("[redacted]" if k.lower() in _REDACTED_HEADERS else v)
            for k, v in self.headers.items()
        }
        self.request_id = new_request_id()
        self.rec = self.owner._begin(method, path, headers, self.request_id)
        self.rec.client = "{}:{}".format(*self.client_address[:2])
        self.headers_sent = False
        try:
            raw = self._read_body()
            self._route(method, path, raw)
        except _Gone as gone:
            self.rec.outcome = gone.outcome
            self.close_connection = True
        except APIError as err:
            self._send_error(err.status, err.error_type, err.message)
        except OSError:
            self.rec.outcome = (
                "server_stopped" if self.owner._stopping.is_set() else "client_disconnected"
            )
            self.close_connection = True
        except Exception:
            logger.exception("offline backend failed on %s %s", method, path)
            if not self.headers_sent:
                self._send_error(500, "api_error", "Internal server error")
            self.close_connection = True
        finally:
            self.owner._end(self.rec)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            parts = []
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

    def _send_json(self, status: int, payload: Any, extra: Mapping[str, str] | None = None) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode()
        self.rec.status = status
        if self.rec.outcome is None:
            self.rec.outcome = "complete" if status < 400 else "http_error"
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.send_header("request-id", self.request_id)
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.headers_sent = True
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_error(
        self, status: int, error_type: str, message: str, extra: Mapping[str, str] | None = None
    ) -> None:
        should_retry = is_retryable(status)
        headers = {"x-should-retry": "true" if should_retry else "false", **(extra or {})}
        if status == 405:
            headers["allow"] = self._allowed
        self._send_json(status, error_body(error_type, message, self.request_id), headers)

    # -- routing --------------------------------------------------------------------
    def _route(self, method: str, path: str, raw: bytes) -> None:
        routes: dict[str, Any] = {
            "/v1/messages": {"POST": self._messages},
            "/v1/messages/count_tokens": {"POST": self._count_tokens},
            "/v1/models": {"GET": self._models},
        }
        if path.startswith("/v1/models/") and path.count("/") == 3:
            methods = {"GET": lambda _raw: self._model(unquote(path.rsplit("/", 1)[1]))}
        else:
            methods = routes.get(path)
        if methods is None:
            raise APIError(404, "not_found_error", "Not Found")
        self._allowed = ", ".join(methods)
        if method not in methods:
            raise APIError(405, "invalid_request_error", "Method Not Allowed")
        if not self._authorized():
            raise APIError(401, "authentication_error", "invalid x-api-key")
        methods[method](raw)

    def _authorized(self) -> bool:
        if self.headers.get("x-api-key", "").strip():
            return True
        scheme, _, token = self.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and bool(token.strip())

    def _json_body(self, raw: bytes) -> Any:
        try:
            body = json.loads(raw.decode("utf-8") if raw else "")
        except UnicodeDecodeError as exc:
            raise APIError(
                400, "invalid_request_error", f"The request body is not valid JSON: {exc}"
            ) from None
        except json.JSONDecodeError as exc:
            raise APIError(
                400, "invalid_request_error", f"The request body is not valid JSON: {exc}"
            ) from None
        self.rec.body = body
        return body

    def _count_tokens(self, raw: bytes) -> None:
        body = self._json_body(raw)
        validate_count_tokens(body)
        self._send_json(200, {"input_tokens": estimate_input_tokens(body)})

    def _models(self, raw: bytes) -> None:
        query = parse_qs(urlsplit(self.path).query)
        ids = list(MODELS)
        infos = [_model_info(m, i) for i, m in enumerate(ids)]
        try:
            limit = max(1, min(1000, int(query.get("limit", ["20"])[0])))
        except ValueError:
            raise APIError(
                400, "invalid_request_error", "limit: Input should be a valid integer"
            ) from None
        after, before = query.get("after_id", [None])[0], query.get("before_id", [None])[0]
        if after in ids:
            infos = infos[ids.index(after) + 1 :]
            page = infos[:limit]
        elif before in ids:
            infos = infos[: ids.index(before)]
            page = infos[-limit:]
        else:
            page = infos[:limit]
        payload = {
            "data": page,
            "has_more": len(page) < len(infos),
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
        }
        self._send_json(200, payload)

    def _model(self, model_id: str) -> None:
        ids = list(MODELS)
        if model_id not in ids:
            raise APIError(404, "not_found_error", f"model: {model_id}")
        self._send_json(200, _model_info(model_id, ids.index(model_id)))

    # -- messages -------------------------------------------------------------------
    def _messages(self, raw: bytes) -> None:
        body = self._json_body(raw)
        thread = _thread_param(body)
        if thread is not None and thread["type"] == "continue":
            body = self.owner._resume_conversation(body, thread["previous_message_id"])
        validate_messages(body)
        self.speed_override = self._speed_header()
        fault = self._take_fault()
        try:
            selection = select_transcript(
                body, header=self.headers.get(TRANSCRIPT_HEADER), default=self.owner.transcript
            )
        except TranscriptError as exc:
            raise APIError(400, "invalid_request_error", f"{TRANSCRIPT_HEADER}: {exc}") from None
        self.rec.transcript, self.rec.selection = selection.transcript.name, selection.reason
        self.rec.stream = bool(body.get("stream"))
        if fault is not None and fault.status is not None:
            status = fault.status
            self._send_error(
                status, fault.resolved_error_type, fault.resolved_message, fault.retry_headers()
            )
            return
        plan = StreamPlan(
            model=str(body["model"]),
            input_tokens=estimate_input_tokens(body),
            max_tokens=int(body["max_tokens"]),
            stop_sequences=tuple(body.get("stop_sequences") or ()),
            message_id=new_id("msg_01"),
            ttft=self.owner.ttft,
            tokens_per_second=self.owner.tokens_per_second,
        )
        emitted: Iterable[Emitted] = render(selection.transcript, plan)
        if thread is not None:
            # Saved before anything is sent: the client may continue as soon as it sees message_stop.
            emitted = list(emitted)
            if any(item.name == "message_stop" for item in emitted):
                self.owner._save_conversation(body, _accumulate(emitted))
        if self.rec.stream:
            self._stream(emitted, fault)
        else:
            self._complete(list(emitted), fault)

    def _speed_header(self) -> float | None:
        """Per-request pace (``x-claude-nb-speed``), e.g. from ``%%claude --speed 0.1``."""
        raw = self.headers.get(SPEED_HEADER)
        if raw is None:
            return None
        try:
            speed = float(raw)
        except ValueError:
            speed = -1.0
        if not speed >= 0:
            raise APIError(
                400, "invalid_request_error", f"{SPEED_HEADER}: expected a number >= 0, got {raw!r}"
            )
        return speed

    def _speed(self) -> float:
        override = getattr(self, "speed_override", None)
        return self.owner.speed if override is None else override

    def _take_fault(self) -> FaultSpec | None:
        header = self.headers.get(FAULT_HEADER)
        if header is None:
            return self.owner._take_server_fault(self.rec)
        try:
            spec = parse_faults(header)
        except ValueError as exc:
            raise APIError(400, "invalid_request_error", f"{FAULT_HEADER}: {exc}") from None
        return self.owner._take_fault(spec, "header:" + str(spec), self.rec)

    # -- streaming ------------------------------------------------------------------
    def _write_chunk(self, data: bytes) -> None:
        if data:
            self.connection.sendall(b"%X\r\n%s\r\n" % (len(data), data))

    def _stream(self, emitted: Iterable[Emitted], fault: FaultSpec | None) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("request-id", self.request_id)
        self.end_headers()
        self.headers_sent = True
        self.rec.status = 200
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
                self._write_chunk(b"".join(buffer))
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
            speed = self._speed()
            if speed > 0 and item.delay > 0:
                flush()
                self._wait(item.delay / speed)
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
        self._write_chunk(make_event(data).frame())
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
            self._wait(seconds)
        except _Gone as gone:
            raise _Gone("stalled" if gone.outcome == "server_stopped" else gone.outcome) from None

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

    def _wait(self, seconds: float) -> None:
        """Sleep ``seconds`` while watching the socket; raise :class:`_Gone` early."""
        deadline = time.monotonic() + seconds
        stopping = self.owner._stopping
        conn = self.connection
        while True:
            if stopping.is_set():
                raise _Gone("server_stopped")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                readable, _, _ = select.select([conn], [], [], min(remaining, _POLL))
            except (OSError, ValueError):
                raise _Gone("client_disconnected") from None
            if not readable:
                continue
            if stopping.is_set():
                raise _Gone("server_stopped")
            try:
                peek = conn.recv(1, socket.MSG_PEEK)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                raise _Gone("client_disconnected") from None
            if not peek:
                raise _Gone("client_disconnected")
            stopping.wait(min(remaining, _POLL))  # unexpected bytes: keep the pause

    # -- non-streaming --------------------------------------------------------------
    def _complete(self, emitted: list[Emitted], fault: FaultSpec | None) -> None:
        if fault is not None and fault.drop_after is not None:
            self._drop()
            return
        if fault is not None and fault.stall_after is not None:
            self._stall(fault.stall)
        speed = self._speed()
        total = sum(item.delay for item in emitted)
        if speed > 0 and total > 0:
            self._wait(total / speed)
        error = next((item.data["error"] for item in emitted if item.name == "error"), None)
        if fault is not None and fault.error_after is not None:
            error = {"type": fault.resolved_error_type, "message": fault.resolved_message}
        if error is not None:
            status = STATUS_FOR_ERROR_TYPE.get(str(error.get("type")), 500)
            self._send_error(status, str(error.get("type")), str(error.get("message")))
            return
        self._send_json(200, _accumulate(emitted))


def _thread_param(body: Any) -> dict[str, Any] | None:
    """The beta ``thread`` field (server-held conversation state), validated."""
    thread = body.get("thread") if isinstance(body, Mapping) else None
    if thread is None:
        return None
    if not isinstance(thread, dict) or thread.get("type") not in ("create", "continue"):
        raise APIError(
            400,
            "invalid_request_error",
            "thread: Input tag found using 'type' does not match any of the expected tags: 'create', 'continue'",
        )
    if thread["type"] == "continue" and not isinstance(thread.get("previous_message_id"), str):
        raise APIError(
            400, "invalid_request_error", "thread.continue.previous_message_id: Field required"
        )
    return thread


def _accumulate(emitted: Iterable[Emitted]) -> dict[str, Any]:
    """The non-streaming Message JSON, folded with the SDK's own accumulator."""
    from anthropic.lib.streaming._messages import accumulate_event

    snapshot: Any = None
    json_bufs: dict[int, bytes] = {}
    for item in emitted:
        if item.name not in MESSAGE_EVENTS:  # ping, error
            continue
        snapshot = accumulate_event(event=item.data, current_snapshot=snapshot, json_bufs=json_bufs)  # type: ignore[arg-type]
    if snapshot is None:
        raise RuntimeError("transcript has no message_start")
    return snapshot.to_dict(mode="json")


# --------------------------------------------------------------------------- public server


class OfflineServer:
    """A running offline backend. Create with :func:`claude_nb.offline.start`.

    ``speed``, ``ttft``, ``tokens_per_second``, ``transcript`` and ``faults`` can be
    changed while it runs; new values apply to the next request (``speed`` also to
    the next event of streams in flight).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        speed: float = 1.0,
        ttft: float = 0.4,
        tokens_per_second: float = 80.0,
        transcript: Transcript | str | None = None,
        faults: FaultSpec | str | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._records: list[RequestRecord] = []
        self._record_ids = itertools.count(1)
        self._inflight = 0
        self._threads: set[threading.Thread] = set()
        self._conns: set[socket.socket] = set()
        self._fault_counts: dict[str, int] = {}
        self._fault_generation = 0
        self._conversations: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._serve_thread: threading.Thread | None = None
        self._stopped = False
        self.speed = speed
        self.ttft = ttft
        self.tokens_per_second = tokens_per_second
        self.transcript = transcript  # type: ignore[assignment]
        self.faults = faults  # type: ignore[assignment]
        self._httpd = _HTTPServer((host, port), self)

    # -- settings -------------------------------------------------------------------
    @property
    def speed(self) -> float:
        """Pace multiplier: 1 realistic, 0.1 ten times slower, 0 no waits at all."""
        return self._speed

    @speed.setter
    def speed(self, value: float) -> None:
        if value < 0:
            raise ValueError(f"speed must be >= 0, got {value}")
        self._speed = float(value)

    @property
    def transcript(self) -> Transcript | None:
        """Default transcript for every request (None: choose per request)."""
        return self._transcript

    @transcript.setter
    def transcript(self, value: Transcript | str | None) -> None:
        self._transcript = load_transcript(value) if isinstance(value, str) else value

    @property
    def faults(self) -> FaultSpec | None:
        """Server-wide fault (a spec string or :class:`FaultSpec`); setting resets ``times``."""
        return self._faults

    @faults.setter
    def faults(self, value: FaultSpec | str | None) -> None:
        spec = parse_faults(value)
        with self._lock:
            self._faults = spec
            self._fault_generation += 1

    def reset_faults(self) -> None:
        """Forget how often every fault has fired (``times=`` counts start over)."""
        with self._lock:
            self._fault_counts.clear()

    # -- lifecycle ------------------------------------------------------------------
    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> OfflineServer:
        if self._serve_thread is None:
            self._serve_thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="claude-nb-offline",
                daemon=True,
            )
            self._serve_thread.start()
            logger.info("offline Anthropic API listening on %s", self.url)
        return self

    @property
    def running(self) -> bool:
        """False once :meth:`stop` was called."""
        return not self._stopped

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving: close the listening socket and every connection, join threads."""
        if self._stopped:
            return
        self._stopped = True
        self._stopping.set()
        if self._serve_thread is not None:
            self._httpd.shutdown()
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                conns, threads = list(self._conns), list(self._threads)
            for conn in conns:
                _shutdown(conn)
            if not threads or time.monotonic() >= deadline:
                break
            for thread in threads:
                thread.join(max(0.0, min(0.2, deadline - time.monotonic())))
        self._httpd.server_close()
        if self._serve_thread is not None:
            self._serve_thread.join(max(0.0, deadline - time.monotonic()))
        logger.info("offline Anthropic API on %s stopped", self.url)

    def __enter__(self) -> OfflineServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "running"
        return f"<OfflineServer {self.url} {state} speed={self.speed}>"

    # -- request log ----------------------------------------------------------------
    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot (copies) of every request so far, oldest first."""
        with self._lock:
            return [dataclasses.replace(r, headers=dict(r.headers)) for r in self._records]

    def clear_requests(self) -> None:
        with self._lock:
            self._records = [r for r in self._records if r.outcome is None]

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no request is in flight; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._inflight == 0, timeout)

    def _begin(
        self, method: str, path: str, headers: dict[str, str], request_id: str
    ) -> RequestRecord:
        with self._lock:
            record = RequestRecord(
                next(self._record_ids), method, path, headers, request_id, time.monotonic()
            )
            self._records.append(record)
            self._inflight += 1
            return record

    def _end(self, record: RequestRecord) -> None:
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
    def _save_conversation(self, body: Mapping[str, Any], message: Mapping[str, Any]) -> None:
        """Remember the full history after ``message`` so a ``thread: continue`` can resume it."""
        reply = {"role": "assistant", "content": message.get("content", [])}
        state = {"messages": [*body.get("messages", []), reply]}
        for key in ("system", "tools"):
            if key in body:
                state[key] = body[key]
        with self._lock:
            self._conversations[str(message["id"])] = state
            while len(self._conversations) > _MAX_CONVERSATIONS:
                self._conversations.popitem(last=False)

    def _resume_conversation(self, body: Mapping[str, Any], previous_id: str) -> dict[str, Any]:
        """The request as if it had sent the whole history (``thread: continue``)."""
        with self._lock:
            state = self._conversations.get(previous_id)
        if state is None:
            raise APIError(
                404, "not_found_error", f"thread.previous_message_id: {previous_id} not found"
            )
        merged = {**state, **{k: v for k, v in body.items() if k != "messages"}}
        merged["messages"] = [*state["messages"], *(body.get("messages") or [])]
        return merged

    # -- faults -----------------------------------------------------------------------
    def _take_server_fault(self, record: RequestRecord) -> FaultSpec | None:
        with self._lock:
            spec, key = self._faults, f"server:{self._fault_generation}"
        return self._take_fault(spec, key, record)

    def _take_fault(
        self, spec: FaultSpec | None, key: str, record: RequestRecord
    ) -> FaultSpec | None:
        if spec is None:
            return None
        with self._lock:
            if spec.times is not None:
                used = self._fault_counts.get(key, 0)
                if used >= spec.times:
                    return None
                self._fault_counts[key] = used + 1
        record.fault = str(spec)
        return spec

    # -- threads and sockets -------------------------------------------------------------
    def _track_thread(self, thread: threading.Thread) -> None:
        with self._lock:
            self._threads.add(thread)

    def _untrack_thread(self, thread: threading.Thread) -> None:
        with self._lock:
            self._threads.discard(thread)

    def _register_conn(self, conn: socket.socket) -> None:
        with self._lock:
            self._conns.add(conn)
        if self._stopping.is_set():
            _shutdown(conn)

    def _unregister_conn(self, conn: socket.socket) -> None:
        with self._lock:
            self._conns.discard(conn)


def _shutdown(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)
