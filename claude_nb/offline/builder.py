"""Build realistic Messages API streams in code: generated answers, tests and benchmarks.

:class:`TranscriptBuilder` appends blocks in call order and adds what the live API adds
(``message_start``, a ``ping`` after the first block start, ids shaped like the API's),
so a built stream replays exactly like a recorded ``.sse`` file.
"""

from __future__ import annotations

import json
import random
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from claude_nb.offline.format import SSEEvent, Transcript, content_len, new_id
from claude_nb.offline.tokens import estimate_output_tokens
from claude_nb.sdk import default_model

__all__ = ["DEFAULT_MODEL", "TranscriptBuilder", "text_transcript"]

DEFAULT_MODEL = default_model()


class TranscriptBuilder:
    """Build a realistic stream programmatically (used for generated turns and benchmarks).

    >>> t = TranscriptBuilder(model="claude-x").text("Hello **world**").stop().build("hi")

    Blocks are appended in call order; ``message_start`` and a ``ping`` after the first
    ``content_block_start`` are added like the live API does. ``chunk`` is a fixed delta
    size or a ``(min, max)`` range drawn from a seeded RNG, so output is deterministic.
    """

    def __init__(
        self,
        *,
        model: str = DEFAULT_MODEL,
        input_tokens: int = 25,
        message_id: str | None = None,
        seed: int | None = 0,
        chunk: int | tuple[int, int] = (1, 12),
        pad: bool = True,
    ) -> None:
        self._rng = random.Random(seed) if seed is not None else random.Random(secrets.randbits(64))
        self.model = model
        self.input_tokens = input_tokens
        self.message_id = message_id or new_id("msg_01", self._rng)
        self.chunk = chunk
        self.pad = pad
        self._events: list[SSEEvent] = []
        self._index = 0
        self._chars = 0
        self._pinged = False
        self._closed = False
        self._last_server_tool_id: str | None = None
        self._started = False

    # -- low level ----------------------------------------------------------------
    def _raw(self, data: dict[str, Any]) -> str:
        raw = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        if self.pad and data.get("type") != "ping":
            raw = raw[:-1] + " " * self._rng.randint(0, 15) + "}"
        return raw

    def _emit(self, data: dict[str, Any]) -> None:
        if self._closed:
            raise RuntimeError("transcript already stopped")
        self._ensure_started()
        raw = '{"type": "ping"}' if data["type"] == "ping" else self._raw(data)
        clen = content_len(data)
        if clen > 0:
            self._chars += clen
        self._events.append(SSEEvent(data["type"], raw, None, clen, data))

    def _ensure_started(self) -> None:
        if self._started:
            return
        self._started = True
        message: dict[str, Any] = {
            "model": self.model,
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "stop_details": None,
            "usage": {
                "input_tokens": self.input_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
                "output_tokens": 1,
                "service_tier": "standard",
                "inference_geo": "not_available",
            },
        }
        data = {"type": "message_start", "message": message}
        self._events.append(SSEEvent("message_start", self._raw(data), None, -1, data))

    def _start(self, block: dict[str, Any]) -> int:
        index = self._index
        self._index += 1
        self._emit({"type": "content_block_start", "index": index, "content_block": block})
        if not self._pinged:
            self._pinged = True
            self._emit({"type": "ping"})
        return index

    def _stop_block(self, index: int) -> None:
        self._emit({"type": "content_block_stop", "index": index})

    def _split(self, text: str, chunk: int | tuple[int, int] | None) -> list[str]:
        chunk = self.chunk if chunk is None else chunk
        if isinstance(chunk, int):
            size = max(1, chunk)
            return [text[i : i + size] for i in range(0, len(text), size)]
        lo, hi = chunk
        parts, pos = [], 0
        while pos < len(text):
            size = self._rng.randint(max(1, lo), max(lo, hi, 1))
            parts.append(text[pos : pos + size])
            pos += size
        return parts

    def _delta(self, index: int, delta_type: str, key: str, value: str) -> None:
        if delta_type == "text_delta" and not self.pad:
            # Fast path for very long generated answers: no dict kept, template JSON.
            text = json.dumps(value, ensure_ascii=False)
            raw = f'{{"type":"content_block_delta","index":{index},"delta":{{"type":"text_delta","text":{text}}}}}'
            self._ensure_started()
            self._chars += len(value)
            self._events.append(SSEEvent("content_block_delta", raw, None, len(value), None))
            return
        self._emit(
            {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": delta_type, key: value},
            }
        )

    # -- blocks -------------------------------------------------------------------
    def text(
        self,
        text: str,
        *,
        chunk: int | tuple[int, int] | None = None,
        chunks: Sequence[str] | None = None,
        citations: Sequence[Mapping[str, Any]] = (),
    ) -> TranscriptBuilder:
        """A text block streamed as ``text_delta``s (exact ``chunks`` if given)."""
        parts = list(chunks) if chunks is not None else self._split(text, chunk)
        if chunks is not None and "".join(parts) != text and text:
            raise ValueError("chunks must join to text")
        block: dict[str, Any] = {"type": "text", "text": ""}
        if citations:
            block = {"citations": [], "type": "text", "text": ""}
        index = self._start(block)
        for citation in citations:
            self._emit(
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "citations_delta", "citation": dict(citation)},
                }
            )
        for part in parts:
            self._delta(index, "text_delta", "text", part)
        self._stop_block(index)
        return self

    def thinking(
        self, text: str, *, signature: str | None = None, chunk: int | tuple[int, int] | None = None
    ) -> TranscriptBuilder:
        """A thinking block: ``thinking_delta``s then one ``signature_delta``."""
        index = self._start({"type": "thinking", "thinking": "", "signature": ""})
        for part in self._split(text, chunk if chunk is not None else (8, 40)):
            self._delta(index, "thinking_delta", "thinking", part)
        sig = signature or _fake_blob(self._rng, 240)
        self._emit(
            {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "signature_delta", "signature": sig},
            }
        )
        self._stop_block(index)
        return self

    def redacted_thinking(self, data: str | None = None) -> TranscriptBuilder:
        """A ``redacted_thinking`` block, which arrives whole in its start event."""
        index = self._start(
            {"type": "redacted_thinking", "data": data or _fake_blob(self._rng, 360)}
        )
        self._stop_block(index)
        return self

    def _json_block(
        self, block: dict[str, Any], value: Mapping[str, Any], chunks: Sequence[str] | None
    ) -> str:
        index = self._start(block)
        text = json.dumps(value, ensure_ascii=False) if value else ""
        self._delta(index, "input_json_delta", "partial_json", "")
        parts = list(chunks) if chunks is not None else self._split(text, (2, 9))
        for part in parts:
            if part:
                self._delta(index, "input_json_delta", "partial_json", part)
        self._stop_block(index)
        return str(block["id"])

    def tool_use(
        self,
        name: str,
        input: Mapping[str, Any],
        *,
        id: str | None = None,
        chunks: Sequence[str] | None = None,
    ) -> TranscriptBuilder:
        """A client ``tool_use`` block; its input JSON streams in mid-token splits.

        An empty input streams a single ``partial_json: ""`` like the live API.
        """
        block = {
            "type": "tool_use",
            "id": id or new_id("toolu_01", self._rng),
            "name": name,
            "input": {},
            "caller": {"type": "direct"},
        }
        self._json_block(block, input, chunks)
        return self

    def server_tool_use(
        self, name: str, input: Mapping[str, Any], *, id: str | None = None
    ) -> TranscriptBuilder:
        """A ``server_tool_use`` block (e.g. ``web_search``); remembers its id for the result."""
        block = {
            "type": "server_tool_use",
            "id": id or new_id("srvtoolu_01", self._rng),
            "name": name,
            "input": {},
        }
        self._last_server_tool_id = self._json_block(block, input, None)
        return self

    def web_search_result(
        self, results: Sequence[Mapping[str, Any]], *, tool_use_id: str | None = None
    ) -> TranscriptBuilder:
        """A ``web_search_tool_result`` block; it arrives whole, with no deltas."""
        content = []
        for r in results:
            item = {"type": "web_search_result", "title": r["title"], "url": r["url"]}
            item["encrypted_content"] = r.get("encrypted_content") or _fake_blob(self._rng, 180)
            item["page_age"] = r.get("page_age")
            content.append(item)
        return self.block(
            {
                "type": "web_search_tool_result",
                "tool_use_id": tool_use_id or self._last_server_tool_id,
                "content": content,
            }
        )

    def block(
        self, content_block: Mapping[str, Any], deltas: Sequence[Mapping[str, Any]] = ()
    ) -> TranscriptBuilder:
        """Any content block (also unknown future types), with optional raw deltas."""
        index = self._start(dict(content_block))
        for delta in deltas:
            self._emit({"type": "content_block_delta", "index": index, "delta": dict(delta)})
        self._stop_block(index)
        return self

    def ping(self) -> TranscriptBuilder:
        self._emit({"type": "ping"})
        return self

    def error(
        self, error_type: str = "overloaded_error", message: str = "Overloaded"
    ) -> TranscriptBuilder:
        """End the stream with an ``error`` event (no ``message_stop``), as the API does."""
        self._emit({"type": "error", "error": {"type": error_type, "message": message}})
        self._closed = True
        return self

    @property
    def last_server_tool_id(self) -> str | None:
        return self._last_server_tool_id

    def stop(
        self,
        stop_reason: str = "end_turn",
        *,
        stop_sequence: str | None = None,
        stop_details: Mapping[str, Any] | None = None,
        output_tokens: int | None = None,
        usage: Mapping[str, Any] | None = None,
        container: Mapping[str, Any] | None = None,
    ) -> TranscriptBuilder:
        """``message_delta`` (stop reason, cumulative usage) and ``message_stop``."""
        delta: dict[str, Any] = {
            "stop_reason": stop_reason,
            "stop_sequence": stop_sequence,
            "stop_details": dict(stop_details) if stop_details else None,
        }
        if container:
            delta["container"] = dict(container)
        out = output_tokens if output_tokens is not None else estimate_output_tokens(self._chars)
        body: dict[str, Any] = {
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": out,
        }
        body.update(usage or {})
        self._emit({"type": "message_delta", "delta": delta, "usage": body})
        self._emit({"type": "message_stop"})
        self._closed = True
        return self

    # -- output -------------------------------------------------------------------
    def events(self) -> list[dict[str, Any]]:
        self._ensure_started()
        return [e.data for e in self._events]

    def build(
        self, name: str = "generated", description: str = "", *, followup: str | None = None
    ) -> Transcript:
        self._ensure_started()
        return Transcript(
            name=name, events=list(self._events), description=description, followup=followup
        )

    def to_sse(self, **kwargs: Any) -> str:
        return self.build(**kwargs).to_sse()


def _fake_blob(rng: random.Random, length: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    return "Eq" + "".join(rng.choice(alphabet) for _ in range(length - 2))


def text_transcript(
    text: str,
    chunk_chars: int = 4,
    *,
    model: str = DEFAULT_MODEL,
    name: str = "generated",
    input_tokens: int = 25,
    stop_reason: str = "end_turn",
) -> Transcript:
    """A single-text-block answer split into ``chunk_chars``-sized deltas (benchmarks).

    Serialization is template based, so a 200 KB answer (~52,000 deltas) builds in a
    fraction of a second and is served from cached bytes.
    """
    builder = TranscriptBuilder(model=model, input_tokens=input_tokens, pad=False, seed=None)
    builder.text(text, chunk=chunk_chars)
    builder.stop(stop_reason)
    return builder.build(name, f"{len(text)} chars of generated text in {chunk_chars}-char deltas")
