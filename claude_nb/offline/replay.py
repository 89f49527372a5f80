"""Replay a transcript for one request: patch its start, cut it like the API, pace it.

Per request the chosen transcript is adapted, not re-encoded: ``message_start`` gets a
fresh message id, the request's ``model`` and the request's input usage (tokens, prompt
cache reads and writes); ``max_tokens`` cuts the answer (``stop_reason: "max_tokens"``)
once the estimated output (``ceil(chars / 4)`` of text, thinking and tool-input deltas)
would exceed it; ``stop_sequences`` cut text before the first match, even when it
straddles deltas (``stop_reason: "stop_sequence"``). All other events are sent from
bytes serialized once per transcript.

Pacing without recorded timing: ``message_start`` goes out at once; the next event waits
``ttft`` seconds (time to first token); every content delta then waits its estimated
token count (``len/4``, at least 1) divided by ``tokens_per_second``; a server tool
result block (e.g. ``web_search_tool_result``) waits ``SERVER_TOOL_LATENCY``. With
recorded ``t=`` timing the recorded gaps are used instead (events without a ``t=`` go
out together with the previous one). The server divides every wait by ``speed``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from claude_nb.offline.format import CONTENT_FIELDS, SSEEvent, Transcript, make_event
from claude_nb.offline.tokens import estimate_output_tokens
from claude_nb.stream.protocol import MESSAGE_EVENTS

__all__ = ["SERVER_TOOL_LATENCY", "Emitted", "StreamPlan", "fold", "replay"]

SERVER_TOOL_LATENCY = 0.6
"""Seconds (before ``speed``) a server tool result block waits, like a real search."""


_DELTA_USAGE = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


@dataclass(frozen=True)
class StreamPlan:
    """Per-request adaptations applied while rendering a transcript."""

    model: str | None = None
    input_tokens: int | None = None
    max_tokens: int | None = None
    stop_sequences: tuple[str, ...] = ()
    message_id: str | None = None
    ttft: float = 0.4
    tokens_per_second: float = 80.0
    usage: Mapping[str, Any] | None = None
    """More ``message_start`` usage fields (prompt cache reads and writes, service tier);
    those ``message_delta`` also carries are set there too."""

    def start_usage(self) -> dict[str, Any]:
        usage = {} if self.input_tokens is None else {"input_tokens": self.input_tokens}
        usage.update(self.usage or {})
        return usage

    def delta_usage(self) -> dict[str, Any]:
        return {k: v for k, v in self.start_usage().items() if k in _DELTA_USAGE}


@dataclass(slots=True)
class Emitted:
    """One event to send: wire bytes, the parsed dict (lazy) and its pacing delay."""

    frame: bytes
    delay: float
    event: SSEEvent

    @property
    def name(self) -> str:
        return self.event.event

    @property
    def data(self) -> dict[str, Any]:
        return self.event.data


def _patched_start(event: SSEEvent, plan: StreamPlan) -> SSEEvent:
    patch = plan.start_usage()
    if plan.model is None and not patch and plan.message_id is None:
        return event
    data = json.loads(event.raw)
    message = data.get("message") or {}
    if plan.model is not None:
        message["model"] = plan.model
    if plan.message_id is not None:
        message["id"] = plan.message_id
    usage = message.get("usage")
    if isinstance(usage, dict):
        usage.update(patch)
    return make_event(data)


def _patched_delta(event: SSEEvent, plan: StreamPlan) -> SSEEvent:
    usage = event.data.get("usage")
    if not isinstance(usage, dict):  # a malformed event is replayed as written
        return event
    patch = {k: v for k, v in plan.delta_usage().items() if usage.get(k, 0) != v}
    if not patch:
        return event
    data = json.loads(event.raw)
    data["usage"].update(patch)
    return make_event(data)


def _delta_with(event: SSEEvent, value: str) -> SSEEvent:
    data = json.loads(event.raw)
    delta = data["delta"]
    delta[CONTENT_FIELDS[delta["type"]]] = value
    return make_event(data)


def _held_suffix(text: str, sequences: Sequence[str]) -> int:
    """Length of the longest suffix of ``text`` that starts some stop sequence."""
    best = 0
    for seq in sequences:
        for n in range(min(len(seq) - 1, len(text)), best, -1):
            if text.endswith(seq[:n]):
                best = n
                break
    return best


def _first_stop(text: str, sequences: Sequence[str]) -> tuple[int, str] | None:
    hits = [(pos, seq) for seq in sequences if (pos := text.find(seq)) >= 0]
    return min(hits) if hits else None


def _pacing(transcript: Transcript, plan: StreamPlan) -> list[float]:
    """Unscaled seconds to wait before each event of the transcript."""
    events = transcript.events
    if transcript.has_timing:
        delays, last = [], 0.0
        for e in events:
            if e.t is None:
                delays.append(0.0)
            else:
                delays.append(max(0.0, e.t - last))
                last = e.t
        return delays
    tps = plan.tokens_per_second if plan.tokens_per_second > 0 else float("inf")
    delays = []
    for i, e in enumerate(events):
        if i == 0 or e.event == "message_start":
            delays.append(0.0)
        elif i == 1:
            delays.append(plan.ttft)
        elif e.event == "content_block_delta":
            tokens = max(1.0, e.clen / 4) if e.clen > 0 else 1.0
            delays.append(tokens / tps)
        elif e.event == "content_block_start" and e.data["content_block"].get("type", "").endswith(
            "_tool_result"
        ):
            delays.append(SERVER_TOOL_LATENCY)
        else:
            delays.append(0.0)
    return delays


def replay(transcript: Transcript, plan: StreamPlan) -> Iterator[Emitted]:
    """Yield the events to send for one request, adapted to ``plan`` (see module doc)."""
    events = transcript.events
    frames = transcript.frames()
    delays = _pacing(transcript, plan)
    seqs = tuple(s for s in plan.stop_sequences if s)
    limit = plan.max_tokens * 4 if plan.max_tokens is not None else None
    if limit is not None and transcript.content_chars() <= limit:
        limit = None  # fast path: max_tokens cannot cut this transcript
    chars = 0
    open_blocks: dict[int, str] = {}
    pending: dict[int, tuple[SSEEvent, str]] = {}
    last_delta: SSEEvent | None = None
    cut: tuple[str, str | None] | None = None

    for i, event in enumerate(events):
        name, delay = event.event, delays[i]
        if name == "message_start":
            patched = _patched_start(event, plan)
            yield Emitted(patched.frame() if patched is not event else frames[i], delay, patched)
            continue
        if name == "message_delta":
            last_delta = event
            patched = _patched_delta(event, plan)
            yield Emitted(patched.frame() if patched is not event else frames[i], delay, patched)
            continue
        if name == "content_block_start":
            if limit is not None and chars >= limit:
                cut = ("max_tokens", None)
                break
            index = event.data["index"]
            open_blocks[index] = event.data["content_block"].get("type", "")
        elif name == "content_block_stop":
            index = event.data["index"]
            if index in pending:
                held_event, held = pending.pop(index)
                if held:
                    patched = _delta_with(held_event, held)
                    yield Emitted(patched.frame(), 0.0, patched)
            open_blocks.pop(index, None)
        elif event.clen >= 0 and (limit is not None or seqs):
            delta = event.data["delta"]
            value = delta[CONTENT_FIELDS[delta["type"]]]
            out = value
            stop_hit: str | None = None
            if seqs and delta["type"] == "text_delta":
                index = event.data["index"]
                combined = pending.pop(index, (event, ""))[1] + value
                hit = _first_stop(combined, seqs)
                if hit is not None:
                    out, stop_hit = combined[: hit[0]], hit[1]
                else:
                    keep = _held_suffix(combined, seqs)
                    out = combined[: len(combined) - keep]
                    if keep:
                        pending[index] = (event, combined[len(combined) - keep :])
            if limit is not None and chars + len(out) > limit:
                out = out[: max(0, limit - chars)]
                stop_hit, cut = None, ("max_tokens", None)
            chars += len(out)
            if out == value and cut is None:
                yield Emitted(frames[i], delay, event)
            elif out:
                patched = _delta_with(event, out)
                yield Emitted(patched.frame(), delay, patched)
            if stop_hit is not None:
                cut = ("stop_sequence", stop_hit)
            if cut is not None:
                break
            continue
        yield Emitted(frames[i], delay, event)

    if cut is None:
        return
    for index in sorted(open_blocks):
        stop = make_event({"type": "content_block_stop", "index": index})
        yield Emitted(stop.frame(), 0.0, stop)
    if last_delta is None:
        last_delta = next((e for e in events if e.event == "message_delta"), None)
    usage: dict[str, Any] = dict(last_delta.data.get("usage") or {}) if last_delta else {}
    usage.update(plan.delta_usage())
    reason, sequence = cut
    usage["output_tokens"] = (
        plan.max_tokens if reason == "max_tokens" else estimate_output_tokens(chars)
    )
    delta = {"stop_reason": reason, "stop_sequence": sequence, "stop_details": None}
    for extra in (
        make_event({"type": "message_delta", "delta": delta, "usage": usage}),
        make_event({"type": "message_stop"}),
    ):
        yield Emitted(extra.frame(), 0.0, extra)


def fold(emitted: Iterable[Emitted]) -> dict[str, Any]:
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
