"""The offline backend's endpoints, routed by path and method like the real API::

    POST /v1/messages               streaming (SSE, chunked) and non-streaming
    POST /v1/messages/count_tokens  {"input_tokens": N}
    GET  /v1/models                 a page of ModelInfo (ids from the SDK's ModelParam)
    GET  /v1/models/{id}
    POST /v1/messages/batches              create (up to 100,000 requests)
    GET  /v1/messages/batches              list, newest first
    GET  /v1/messages/batches/{id}         retrieve;  DELETE: delete an ended batch
    POST /v1/messages/batches/{id}/cancel
    GET  /v1/messages/batches/{id}/results JSONL, one MessageBatchIndividualResponse a line

Any non-empty ``x-api-key`` or ``Authorization: Bearer`` is accepted (401 without one).
Test headers: ``x-claude-nb-transcript`` (which answer), ``x-claude-nb-fault`` (a fault
spec for this request), ``x-claude-nb-speed`` (this request's pace) and
``x-claude-nb-rate-limit`` (rate limits shared by the requests sending the same spec).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from claude_nb.offline.faults import FaultSpec, parse_faults
from claude_nb.offline.messages import TRANSCRIPT_HEADER, expand_thread, prepare
from claude_nb.offline.model_list import model_info, models_page
from claude_nb.offline.prompt import question
from claude_nb.offline.rate_limits import RateLimiter, parse_rate_limits
from claude_nb.offline.selection import output_schema
from claude_nb.offline.tokens import estimate_input_tokens
from claude_nb.offline.transport import Exchange
from claude_nb.offline.validate import APIError, validate_count_tokens, validate_messages

__all__ = ["FAULT_HEADER", "RATE_LIMIT_HEADER", "SPEED_HEADER", "APIHandler"]

FAULT_HEADER = "x-claude-nb-fault"
SPEED_HEADER = "x-claude-nb-speed"
RATE_LIMIT_HEADER = "x-claude-nb-rate-limit"

Route = Callable[[bytes], None]


class APIHandler(Exchange):
    """Routes each request to its endpoint (after the 404/405/401 checks the API makes)."""

    def route(self, method: str, path: str, raw: bytes) -> None:
        methods = self._methods(path)
        if methods is None:
            raise APIError(404, "not_found_error", "Not Found")
        self.allowed = ", ".join(methods)
        if method not in methods:
            raise APIError(405, "invalid_request_error", "Method Not Allowed")
        if not self._authorized():
            raise APIError(401, "authentication_error", "invalid x-api-key")
        methods[method](raw)

    def _methods(self, path: str) -> dict[str, Route] | None:
        parts = path.strip("/").split("/")
        if parts[:3] == ["v1", "messages", "batches"]:
            return self._batch_methods([unquote(p) for p in parts[3:]])
        if path == "/v1/messages":
            return {"POST": self._messages}
        if path == "/v1/messages/count_tokens":
            return {"POST": self._count_tokens}
        if path == "/v1/models":
            return {"GET": lambda _raw: self.send_json(200, models_page(self._query()))}
        if len(parts) == 3 and parts[:2] == ["v1", "models"]:
            model_id = unquote(parts[2])
            return {"GET": lambda _raw: self.send_json(200, model_info(model_id))}
        return None

    def _batch_methods(self, rest: list[str]) -> dict[str, Route] | None:
        store = self.state.batches
        assert store is not None
        if not rest:
            return {
                "POST": self._create_batch,
                "GET": lambda _raw: self.send_json(200, store.list(self._query(), self._base())),
            }
        batch_id = rest[0]
        if len(rest) == 1:
            return {
                "GET": lambda _raw: self.send_json(
                    200, store.describe(store.get(batch_id), self._base())
                ),
                "DELETE": lambda _raw: self.send_json(200, store.delete(batch_id)),
            }
        if rest[1:] == ["cancel"]:
            return {"POST": lambda _raw: self.send_json(200, store.cancel(batch_id, self._base()))}
        if rest[1:] == ["results"]:
            return {"GET": lambda _raw: self._send_results(batch_id)}
        return None

    def _base(self) -> str:
        """This server's URL as the client reached it (for ``results_url``)."""
        host = self.headers.get("host") or "{}:{}".format(*self.server.server_address[:2])
        return f"http://{host}"

    def _create_batch(self, raw: bytes) -> None:
        store = self.state.batches
        assert store is not None
        self.rec.body = {"requests": "(spooled to the batch folder)"}
        speed = self._speed_header()
        speed = self.state.speed if speed is None else speed
        seconds = self.state.batch_seconds / speed if speed > 0 else 0.0
        self.send_json(200, store.create(raw, seconds, self._base()))

    def _send_results(self, batch_id: str) -> None:
        store = self.state.batches
        assert store is not None
        path = store.results_file(batch_id)
        with path.open("rb") as results:
            size = os.fstat(results.fileno()).st_size
            self.rec.outcome = "complete"
            self.start_response(200, "application/binary", content_length=str(size))
            if self.command != "HEAD":
                shutil.copyfileobj(results, self.wfile, 64 * 1024)

    def _authorized(self) -> bool:
        if self.headers.get("x-api-key", "").strip():
            return True
        scheme, _, token = self.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and bool(token.strip())

    def _query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.path).query)

    # -- endpoints --------------------------------------------------------------------
    def _count_tokens(self, raw: bytes) -> None:
        body = self.json_body(raw)
        validate_count_tokens(body)
        self.send_json(200, {"input_tokens": estimate_input_tokens(body)})

    def _messages(self, raw: bytes) -> None:
        body, thread = expand_thread(self.state, self.json_body(raw))
        validate_messages(body)
        self.speed_override = self._speed_header()
        fault = self._take_fault(body)
        self.rec.stream = bool(body.get("stream"))
        if fault is not None and fault.status is not None:
            self.send_api_error(
                fault.status,
                fault.resolved_error_type,
                fault.resolved_message,
                fault.retry_headers(),
            )
            return
        prepared = prepare(
            self.state,
            body,
            fault=fault,
            transcript_header=self.headers.get(TRANSCRIPT_HEADER),
            thread=thread,
            limiter=self._limiter(),
        )
        self.rec.transcript = prepared.selection.transcript.name
        self.rec.selection = prepared.selection.reason
        self.response_headers.update(prepared.headers)
        try:
            emitted = prepared.events(self.state)
            if self.rec.stream:
                self.stream_events(emitted, fault)
            else:
                self.complete_events(list(emitted), fault)
        finally:
            prepared.settle()

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

    def _limiter(self) -> RateLimiter | None:
        header = self.headers.get(RATE_LIMIT_HEADER)
        spec = None
        if header is not None:
            try:
                spec = parse_rate_limits(header)
            except ValueError as exc:
                raise APIError(
                    400, "invalid_request_error", f"{RATE_LIMIT_HEADER}: {exc}"
                ) from None
        return self.state.limiter(spec, header_sent=header is not None)

    def _take_fault(self, body: Mapping[str, Any]) -> FaultSpec | None:
        header = self.headers.get(FAULT_HEADER)
        spec = None
        if header is not None:
            try:
                spec = parse_faults(header)
            except ValueError as exc:
                raise APIError(400, "invalid_request_error", f"{FAULT_HEADER}: {exc}") from None
        fault = self.state.take_fault(
            question=question(body),
            structured=output_schema(body) is not None,
            header=spec,
            header_sent=header is not None,
        )
        self.rec.fault = None if fault is None else str(fault)
        return fault
