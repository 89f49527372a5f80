"""The Messages endpoint without HTTP: from a request body to the events of its answer.

The HTTP handler streams or folds these events; the batch processor folds them into a
batch result. Both go through :func:`prepare` so a batch request is answered exactly like
the same request sent to ``POST /v1/messages``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from claude_nb.offline.faults import FaultSpec
from claude_nb.offline.format import TranscriptError, new_id
from claude_nb.offline.prompt import question
from claude_nb.offline.rate_limits import Admission, RateLimiter
from claude_nb.offline.replay import Emitted, StreamPlan, fold, replay
from claude_nb.offline.schema_values import off_schema_text
from claude_nb.offline.selection import Selection, output_schema, select_transcript
from claude_nb.offline.state import BackendState
from claude_nb.offline.validate import APIError, error_body, new_request_id, validate_messages

__all__ = ["TRANSCRIPT_HEADER", "Prepared", "batch_result", "expand_thread", "prepare"]

TRANSCRIPT_HEADER = "x-claude-nb-transcript"


@dataclass
class Prepared:
    """A validated request and the answer chosen for it (not sent yet)."""

    body: Mapping[str, Any]
    selection: Selection
    plan: StreamPlan
    thread: dict[str, Any] | None = None
    limiter: RateLimiter | None = None
    admission: Admission | None = None
    output_tokens: int = 0

    @property
    def headers(self) -> dict[str, str]:
        """Response headers this answer carries (the rate limit state)."""
        return {} if self.admission is None else self.admission.headers

    def events(self, state: BackendState) -> Iterable[Emitted]:
        """The answer's events; a ``thread`` request's history is saved first (the client
        may continue as soon as it sees ``message_stop``)."""
        emitted: Iterable[Emitted] = self._counted(replay(self.selection.transcript, self.plan))
        if self.thread is not None:
            emitted = list(emitted)
            if any(item.name == "message_stop" for item in emitted):
                state.save_conversation(self.body, fold(emitted))
        return emitted

    def _counted(self, emitted: Iterable[Emitted]) -> Iterator[Emitted]:
        for item in emitted:
            if item.name == "message_delta":
                self.output_tokens = int((item.data.get("usage") or {}).get("output_tokens") or 0)
            yield item

    def settle(self) -> None:
        """Settle the output tokens reserved for rate limits to those sent."""
        if self.limiter is not None and self.admission is not None:
            self.limiter.settle(self.admission.reserved_output, self.output_tokens)


def thread_param(body: Any) -> dict[str, Any] | None:
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


def expand_thread(state: BackendState, body: Any) -> tuple[Any, dict[str, Any] | None]:
    """The request with a ``thread: continue``'s history prepended, and its thread field."""
    thread = thread_param(body)
    if thread is not None and thread["type"] == "continue":
        body = state.resume_conversation(body, thread["previous_message_id"])
    return body, thread


def prepare(
    state: BackendState,
    body: Mapping[str, Any],
    *,
    fault: FaultSpec | None = None,
    transcript_header: str | None = None,
    thread: dict[str, Any] | None = None,
    limiter: RateLimiter | None = None,
    chunk: int | None = None,
    usage: Mapping[str, Any] | None = None,
) -> Prepared:
    """Choose the answer for a validated request body, within ``limiter``'s limits (a 429
    :class:`APIError` when over them)."""
    spoil = None
    if fault is not None and fault.off_schema is not None:
        spoil = functools.partial(off_schema_text, how=fault.off_schema)
    try:
        selection = select_transcript(
            body, header=transcript_header, default=state.transcript, spoil=spoil, chunk=chunk
        )
    except TranscriptError as exc:
        raise APIError(400, "invalid_request_error", f"{TRANSCRIPT_HEADER}: {exc}") from None
    admission = None
    if limiter is not None:
        would = state.prompt_cache.account(body, commit=False)
        admission = limiter.admit(
            would.input_tokens + would.cache_creation_input_tokens, int(body["max_tokens"])
        )
    cache = state.prompt_cache.account(body)
    plan = StreamPlan(
        model=str(body["model"]),
        input_tokens=cache.input_tokens,
        usage={**cache.message_start(), **(usage or {})},
        max_tokens=int(body["max_tokens"]),
        stop_sequences=tuple(body.get("stop_sequences") or ()),
        message_id=new_id("msg_01"),
        ttft=state.ttft,
        tokens_per_second=state.tokens_per_second,
    )
    return Prepared(body, selection, plan, thread, limiter, admission)


BATCH_CHUNK = 1 << 20
"""Delta size for batch answers: never streamed, so one delta per block."""


def batch_result(state: BackendState, params: Any) -> dict[str, Any]:
    """One batch request answered exactly as ``POST /v1/messages`` would answer it, as a
    ``MessageBatchResult``: ``succeeded`` with the message (``service_tier: batch``), or
    ``errored`` with the API error (invalid params, a server fault, an error event)."""
    request_id = new_request_id()
    try:
        if isinstance(params, Mapping) and params.get("stream"):
            raise APIError(
                400,
                "invalid_request_error",
                "stream: streaming is not supported in the Message Batches API",
            )
        validate_messages(params)
        fault = state.take_fault(
            question=question(params), structured=output_schema(params) is not None
        )
        if fault is not None and fault.status is not None:
            raise APIError(fault.status, fault.resolved_error_type, fault.resolved_message)
        prepared = prepare(
            state, params, fault=fault, chunk=BATCH_CHUNK, usage={"service_tier": "batch"}
        )
        emitted = list(prepared.events(state))
    except APIError as err:
        return {"type": "errored", "error": error_body(err.error_type, err.message, request_id)}
    error = next((item.data["error"] for item in emitted if item.name == "error"), None)
    if fault is not None and fault.error_after is not None:
        error = {"type": fault.resolved_error_type, "message": fault.resolved_message}
    if error is not None:
        body = error_body(str(error.get("type")), str(error.get("message")), request_id)
        return {"type": "errored", "error": body}
    return {"type": "succeeded", "message": fold(emitted)}
