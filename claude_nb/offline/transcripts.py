"""Transcripts for the offline backend: load, build, choose, cut and pace SSE streams.

A transcript is a recorded (or hand-written) Anthropic Messages API stream in raw wire
format, one file per answer, ``claude_nb/offline/transcripts/NAME.sse``::

    : description=A markdown answer with tables, code and math
    : followup=tool_followup

    event: message_start
    data: {"type":"message_start","message":{...}}

    : t=0.412
    event: content_block_start
    data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

File format (it stays a valid SSE body: SSE parsers, the SDK's included, ignore lines
starting with ``:``):

* Frames are ``event: NAME`` plus one or more ``data: JSON`` lines, ended by a blank
  line. The JSON is kept byte for byte, so real captures replay with their wire padding.
* Comment lines ``: key=value`` *before the first event* are transcript metadata:
  ``description`` (one line, shown by ``claude-nb transcripts``) and ``followup`` (the
  transcript to serve for the continuation turn, see selection below).
* A comment line ``: t=SECONDS`` before an event is recorded timing: seconds since the
  request started at which that event was received. When a transcript has any ``t=``
  lines it is replayed at the recorded pace divided by ``speed`` (events without a
  ``t=`` go out together with the previous one) and ``ttft`` / ``tokens_per_second``
  are ignored. This is the format ``--record`` writes.

Pacing without recorded timing: ``message_start`` goes out at once; the next event waits
``ttft`` seconds (time to first token); every content delta then waits its estimated
token count (``len/4``, at least 1) divided by ``tokens_per_second``; a server tool
result block (e.g. ``web_search_tool_result``) waits ``SERVER_TOOL_LATENCY``. The server
divides every wait by ``speed`` (0 = no waits at all).

Choosing the transcript for a ``POST /v1/messages`` request is described by
:func:`describe_selection` (also printed by ``claude-nb transcripts``).

Per request the chosen transcript is adapted, not re-encoded: ``message_start`` gets a
fresh message id, the request's ``model`` and an estimated ``usage.input_tokens``
(:func:`estimate_input_tokens`); ``max_tokens`` cuts the answer (``stop_reason:
"max_tokens"``) once the estimated output (``ceil(chars / 4)`` of text, thinking and
tool-input deltas) would exceed it; ``stop_sequences`` cut text before the first match,
even when it straddles deltas (``stop_reason: "stop_sequence"``). All other events are
sent from bytes serialized once per transcript.
"""

from __future__ import annotations

import functools
import json
import math
import random
import re
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from claude_nb.sdk import default_model
from claude_nb.stream.protocol import CONTENT_FIELDS

__all__ = [
    "SERVER_TOOL_LATENCY",
    "Emitted",
    "SSEEvent",
    "Selection",
    "StreamPlan",
    "Transcript",
    "TranscriptBuilder",
    "TranscriptError",
    "describe_selection",
    "estimate_input_tokens",
    "estimate_output_tokens",
    "load_transcript",
    "make_event",
    "new_id",
    "parse_sse",
    "render",
    "select_transcript",
    "text_transcript",
    "transcript_names",
]

SERVER_TOOL_LATENCY = 0.6
"""Seconds (before ``speed``) a server tool result block waits, like a real search."""

DEFAULT_MODEL = default_model()
IMAGE_TOKENS = 1500
TOOL_SYSTEM_TOKENS = 300
_EMPTY_START_TYPES = {"text", "thinking", "tool_use", "server_tool_use", "mcp_tool_use"}
_ID_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


class TranscriptError(ValueError):
    """A transcript file or name that cannot be used."""


def new_id(prefix: str, rng: random.Random | None = None, length: int = 22) -> str:
    """An id shaped like the API's (``msg_01…``, ``toolu_01…``, ``srvtoolu_01…``)."""
    choice = rng.choice if rng is not None else secrets.choice
    return prefix + "".join(choice(_ID_ALPHABET) for _ in range(length))


def estimate_output_tokens(chars: int) -> int:
    """Output tokens for ``chars`` characters of streamed content (~4 chars a token)."""
    return max(1, math.ceil(chars / 4)) if chars > 0 else 0


# --------------------------------------------------------------------------- events


@dataclass(slots=True)
class SSEEvent:
    """One SSE frame: its ``event`` name and the ``data`` JSON kept as on the wire.

    ``clen`` is the length of the streamed content a delta carries (text, thinking or
    tool-input JSON), -1 for other events; it drives token estimates without parsing.
    """

    event: str
    raw: str
    t: float | None = None
    clen: int = -1
    _data: dict[str, Any] | None = None

    @property
    def data(self) -> dict[str, Any]:
        if self._data is None:
            self._data = json.loads(self.raw)
        return self._data

    def frame(self) -> bytes:
        return self.wire().encode()

    def wire(self) -> str:
        """The frame as text: ``event:`` line, ``data:`` line(s), blank line."""
        data = self.raw.replace("\n", "\ndata: ") if "\n" in self.raw else self.raw
        return f"event: {self.event}\ndata: {data}\n\n"


def _content_len(data: Mapping[str, Any]) -> int:
    if data.get("type") != "content_block_delta":
        return -1
    delta = data.get("delta") or {}
    key = CONTENT_FIELDS.get(delta.get("type", ""))
    value = delta.get(key) if key else None
    return len(value) if isinstance(value, str) else -1


def make_event(data: dict[str, Any], *, raw: str | None = None, t: float | None = None) -> SSEEvent:
    """An :class:`SSEEvent` for ``data`` (serialized compactly unless ``raw`` is given)."""
    if raw is None:
        raw = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return SSEEvent(str(data.get("type", "")), raw, t, _content_len(data), data)


def parse_sse(text: str, *, source: str = "<sse>") -> tuple[dict[str, str], list[SSEEvent]]:
    """Parse an SSE body into (metadata, events); see the module docstring for the format."""
    meta: dict[str, str] = {}
    events: list[SSEEvent] = []
    name: str | None = None
    data_lines: list[str] = []
    pending_t: float | None = None
    start_line = 0

    def flush(lineno: int) -> None:
        nonlocal name, data_lines, pending_t
        if name is None and not data_lines:
            return
        raw = "\n".join(data_lines)
        where = f"{source}:{start_line}"
        if name is None:
            raise TranscriptError(f"{where}: data without an 'event:' line")
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise TranscriptError(f"{where}: invalid JSON in data: {exc}") from None
        if not isinstance(data, dict) or data.get("type") != name:
            raise TranscriptError(f"{where}: data.type does not match event {name!r}")
        events.append(SSEEvent(name, raw, pending_t, _content_len(data), data))
        name, data_lines, pending_t = None, [], None

    for lineno, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line:
            flush(lineno)
            continue
        if line.startswith(":"):
            key, sep, value = line[1:].strip().partition("=")
            if not sep:
                continue
            if key == "t":
                try:
                    pending_t = float(value)
                except ValueError:
                    raise TranscriptError(f"{source}:{lineno}: bad timing {line!r}") from None
            elif not events and name is None:
                meta[key.strip()] = value.strip()
            continue
        field_name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field_name == "event":
            if name is None and not data_lines:
                start_line = lineno
            name = value
        elif field_name == "data":
            if name is None and not data_lines:
                start_line = lineno
            data_lines.append(value)
    flush(0)
    if not events:
        raise TranscriptError(f"{source}: no events")
    return meta, events


# --------------------------------------------------------------------------- transcript


@dataclass
class Transcript:
    """A stream to replay: named events plus metadata. Treat instances as immutable."""

    name: str
    events: list[SSEEvent]
    description: str = ""
    followup: str | None = None
    source: str | None = None
    _frames: list[bytes] | None = field(default=None, repr=False, compare=False)
    _content_chars: int | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_sse(cls, text: str, *, name: str = "custom", source: str | None = None) -> Transcript:
        meta, events = parse_sse(text, source=source or name)
        return cls(
            name=meta.get("name", name),
            events=events,
            description=meta.get("description", ""),
            followup=meta.get("followup") or None,
            source=source,
        )

    @classmethod
    def from_events(
        cls, events: Sequence[Mapping[str, Any]], *, name: str = "custom", description: str = ""
    ) -> Transcript:
        return cls(name=name, events=[make_event(dict(e)) for e in events], description=description)

    @property
    def has_timing(self) -> bool:
        return any(e.t is not None for e in self.events)

    def frames(self) -> list[bytes]:
        """Wire bytes of every event, serialized once and cached."""
        if self._frames is None:
            self._frames = [e.frame() for e in self.events]
        return self._frames

    def content_chars(self) -> int:
        """Characters of streamed content (text, thinking, tool input), cached."""
        if self._content_chars is None:
            self._content_chars = sum(e.clen for e in self.events if e.clen > 0)
        return self._content_chars

    def text(self) -> str:
        """All ``text_delta`` text concatenated (every text block, in order)."""
        parts = []
        for e in self.events:
            if e.clen > 0 and e.event == "content_block_delta":
                delta = e.data["delta"]
                if delta.get("type") == "text_delta":
                    parts.append(delta["text"])
        return "".join(parts)

    def dicts(self) -> list[dict[str, Any]]:
        return [e.data for e in self.events]

    def to_sse(self, *, timing: bool = True) -> str:
        """The transcript in the ``.sse`` file format (metadata comments included)."""
        out = []
        if self.description:
            out.append(f": description={self.description}\n")
        if self.followup:
            out.append(f": followup={self.followup}\n")
        if out:
            out.append("\n")
        for e in self.events:
            if timing and e.t is not None:
                out.append(f": t={e.t:.3f}\n")
            out.append(e.wire())
        return "".join(out)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.to_sse(), encoding="utf-8", newline="\n")
        return path


def _shipped_dir() -> Any:
    return resources.files("claude_nb.offline").joinpath("transcripts")


def transcript_names() -> list[str]:
    """Names of the transcripts shipped with the package, sorted."""
    return sorted(
        p.name[: -len(".sse")] for p in _shipped_dir().iterdir() if p.name.endswith(".sse")
    )


@functools.lru_cache(maxsize=64)
def _load_shipped(name: str) -> Transcript:
    text = _shipped_dir().joinpath(f"{name}.sse").read_text(encoding="utf-8")
    return Transcript.from_sse(text, name=name, source=f"{name}.sse")


@functools.lru_cache(maxsize=32)
def _load_path(path: str, mtime: float) -> Transcript:
    text = Path(path).read_text(encoding="utf-8")
    return Transcript.from_sse(text, name=Path(path).stem, source=path)


def load_transcript(name_or_path: str | Path) -> Transcript:
    """A shipped transcript by name (``"markdown"``) or any ``.sse`` file by path."""
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or text.endswith(".sse") or "/" in text or "\\" in text:
        path = Path(text).expanduser()
        if not path.is_file():
            raise TranscriptError(f"transcript file not found: {text}")
        return _load_path(str(path.resolve()), path.stat().st_mtime)
    if text not in transcript_names():
        raise TranscriptError(
            f"unknown transcript {text!r} (available: {', '.join(transcript_names())})"
        )
    return _load_shipped(text)


# --------------------------------------------------------------------------- builder


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
        clen = _content_len(data)
        if clen > 0:
            self._chars += clen
        self._events.append(SSEEvent(data["type"], raw, None, clen, data))

    def _ensure_started(self) -> None:
        if self._started:
            return
        self._started = True
        message = {
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


# --------------------------------------------------------------------------- estimates


def _block_chars(block: Any) -> tuple[int, int]:
    """(characters, images) of one content block, for the input token estimate."""
    if isinstance(block, str):
        return len(block), 0
    if not isinstance(block, Mapping):
        return 0, 0
    kind = block.get("type")
    if kind == "text":
        return len(str(block.get("text", ""))), 0
    if kind == "image":
        return 0, 1
    if kind == "document":
        source = block.get("source") or {}
        if source.get("type") == "text":
            return len(str(source.get("data", ""))), 0
        return 0, 2
    if kind == "tool_result":
        content = block.get("content")
        if isinstance(content, list):
            chars = images = 0
            for item in content:
                c, i = _block_chars(item)
                chars, images = chars + c, images + i
            return chars, images
        return len(str(content or "")), 0
    if kind == "thinking":
        return len(str(block.get("thinking", ""))), 0
    if kind in ("tool_use", "server_tool_use"):
        return len(str(block.get("name", ""))) + len(json.dumps(block.get("input", {}))), 0
    return len(json.dumps(block, default=str)), 0


def estimate_input_tokens(body: Mapping[str, Any]) -> int:
    """Plausible ``input_tokens`` for a request: ~chars/4 of system, messages and tools.

    Images count ``IMAGE_TOKENS`` each, binary documents twice that; offering tools adds
    ``TOOL_SYSTEM_TOKENS`` (the API's tool-use system prompt). Also backs count_tokens.
    """
    chars = images = 0
    system = body.get("system")
    blocks: list[Any] = []
    if isinstance(system, str):
        chars += len(system)
    elif isinstance(system, list):
        blocks.extend(system)
    messages = body.get("messages") or []
    for message in messages if isinstance(messages, list) else []:
        content = message.get("content") if isinstance(message, Mapping) else None
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            blocks.extend(content)
    for block in blocks:
        c, i = _block_chars(block)
        chars, images = chars + c, images + i
    tools = body.get("tools") or []
    if isinstance(tools, list) and tools:
        chars += sum(len(json.dumps(t, default=str)) for t in tools)
        chars += TOOL_SYSTEM_TOKENS * 4
    n_messages = len(messages) if isinstance(messages, list) else 0
    return max(1, math.ceil(chars / 4) + IMAGE_TOKENS * images + 3 * n_messages + 4)


# --------------------------------------------------------------------------- rendering


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
    if plan.model is None and plan.input_tokens is None and plan.message_id is None:
        return event
    data = json.loads(event.raw)
    message = data.get("message") or {}
    if plan.model is not None:
        message["model"] = plan.model
    if plan.message_id is not None:
        message["id"] = plan.message_id
    usage = message.get("usage")
    if plan.input_tokens is not None and isinstance(usage, dict):
        usage["input_tokens"] = plan.input_tokens
    return make_event(data)


def _patched_delta(event: SSEEvent, plan: StreamPlan) -> SSEEvent:
    usage = event.data.get("usage") or {}
    if plan.input_tokens is None or usage.get("input_tokens") in (None, plan.input_tokens):
        return event
    data = json.loads(event.raw)
    data["usage"]["input_tokens"] = plan.input_tokens
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


def render(transcript: Transcript, plan: StreamPlan) -> Iterator[Emitted]:
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
    if plan.input_tokens is not None:
        usage["input_tokens"] = plan.input_tokens
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


# --------------------------------------------------------------------------- selection

_SELECTION_TEXT = """\
How the offline backend chooses the answer for POST /v1/messages (first rule that applies):
  1. header `x-claude-nb-transcript: NAME` (a shipped transcript) or an absolute path to a .sse file;
  2. else the server's default transcript (`offline.start(transcript=...)`, `serve --transcript`);
     for 1 and 2, a continuation request (the last user message carries tool_result blocks,
     or the last message is an assistant turn with server tool blocks, i.e. after pause_turn)
     gets the transcript's `followup` instead when it declares one
     (tool_use -> tool_followup, pause_turn -> pause_turn_continue);
  3. else if the last message is an assistant turn containing server_tool_use blocks (a
     pause_turn being resumed) -> `pause_turn_continue`;
  4. else if the last user message contains tool_result blocks -> a GENERATED follow-up
     (end_turn) that quotes each tool result's text (truncated) and says which tools failed;
  5. else if client tools are offered (no `type`, or `type: "custom"`) and tool_choice is not
     `none` -> a GENERATED tool_use turn: a short sentence, then one tool_use per offered tool
     (at most 2, i.e. parallel calls; only the named one for tool_choice `tool`) whose input
     is built from its input_schema (required properties and ones with a default: default,
     enum[0], examples[0], const, else string -> a plausible word for the property name,
     integer -> 3, number -> 2.5, boolean -> true, array -> [], object -> {} / its required
     properties), stop_reason tool_use;
  6. else if a server tool whose type starts with `web_search_` is offered -> `web_search`;
  7. else if `thinking.type` is `enabled` or `adaptive` -> `thinking`;
  8. else -> `markdown`.
Rules 3-8 look at the full history: a `thread: continue` request is first expanded with
the history the server holds for it. Every answer's message_start carries the request's
model, a fresh id and an estimated usage.input_tokens; max_tokens and stop_sequences cut
the answer like the API does."""


def describe_selection() -> str:
    """The transcript selection rules, as documented for users."""
    return _SELECTION_TEXT


@dataclass(frozen=True)
class Selection:
    transcript: Transcript
    reason: str


def _last(messages: Sequence[Any], role: str | None = None) -> Mapping[str, Any] | None:
    if not messages or not isinstance(messages[-1], Mapping):
        return None
    message = messages[-1]
    return message if role is None or message.get("role") == role else None


def _blocks(message: Mapping[str, Any] | None, kind: str) -> list[Mapping[str, Any]]:
    content = message.get("content") if message else None
    if not isinstance(content, list):
        return []
    return [b for b in content if isinstance(b, Mapping) and b.get("type") == kind]


def _is_continuation(messages: Sequence[Any]) -> str | None:
    if _blocks(_last(messages, "user"), "tool_result"):
        return "tool_result"
    if _blocks(_last(messages, "assistant"), "server_tool_use"):
        return "pause_turn"
    return None


def select_transcript(
    body: Mapping[str, Any],
    *,
    header: str | None = None,
    default: Transcript | str | None = None,
    seed: int | None = None,
) -> Selection:
    """Choose the transcript for a request (rules in :func:`describe_selection`).

    Raises :class:`TranscriptError` for an unknown header/default transcript.
    """
    messages = body.get("messages") or []
    model = str(body.get("model") or DEFAULT_MODEL)
    chosen: Transcript | None = None
    reason = ""
    if header:
        chosen, reason = load_transcript(header.strip()), "header"
    elif default is not None:
        chosen = default if isinstance(default, Transcript) else load_transcript(default)
        reason = "server default"
    if chosen is not None:
        if chosen.followup and _is_continuation(messages):
            return Selection(load_transcript(chosen.followup), f"{reason} followup")
        return Selection(chosen, reason)
    if _blocks(_last(messages, "assistant"), "server_tool_use"):
        return Selection(load_transcript("pause_turn_continue"), "pause_turn continuation")
    results = _blocks(_last(messages, "user"), "tool_result")
    if results:
        return Selection(
            _followup_transcript(messages, results, model, seed), "tool_result follow-up"
        )
    tools = [t for t in body.get("tools") or [] if isinstance(t, Mapping)]
    client_tools = [t for t in tools if t.get("type") in (None, "custom")]
    choice = body.get("tool_choice") if isinstance(body.get("tool_choice"), Mapping) else {}
    if client_tools and choice.get("type") != "none":
        if choice.get("type") == "tool":
            client_tools = [
                t for t in client_tools if t.get("name") == choice.get("name")
            ] or client_tools
        return Selection(
            _tool_use_transcript(client_tools[:2], model, seed), "client tools offered"
        )
    if any(str(t.get("type", "")).startswith("web_search_") for t in tools):
        return Selection(load_transcript("web_search"), "web_search tool offered")
    thinking = body.get("thinking")
    if isinstance(thinking, Mapping) and thinking.get("type") in ("enabled", "adaptive"):
        return Selection(load_transcript("thinking"), "thinking enabled")
    return Selection(load_transcript("markdown"), "default")


# -- generated turns ---------------------------------------------------------------

_WORDS = {
    "city": "Paris",
    "location": "Paris, France",
    "country": "France",
    "query": "latest results",
    "q": "latest results",
    "search": "latest results",
    "name": "Ada",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "username": "ada",
    "email": "ada@example.com",
    "url": "https://example.com",
    "uri": "https://example.com",
    "date": "2025-01-15",
    "time": "12:00",
    "timezone": "Europe/Paris",
    "tz": "Europe/Paris",
    "unit": "celsius",
    "units": "metric",
    "language": "python",
    "lang": "en",
    "code": "print('hello')",
    "expression": "2 + 2",
    "path": "data.csv",
    "file": "data.csv",
    "filename": "data.csv",
    "text": "hello world",
    "message": "hello",
    "topic": "statistics",
    "symbol": "AAPL",
    "ticker": "AAPL",
    "currency": "EUR",
    "id": "abc123",
    "column": "price",
    "table": "sales",
    "sql": "SELECT 1",
}
_FORMATS = {
    "date": "2025-01-15",
    "date-time": "2025-01-15T12:00:00Z",
    "email": "ada@example.com",
    "uri": "https://example.com",
    "uuid": "123e4567-e89b-12d3-a456-426614174000",
}


def example_value(schema: Any, prop: str = "value") -> Any:
    """A plausible value for a JSON schema (see rule 5 of :func:`describe_selection`)."""
    if not isinstance(schema, Mapping):
        return _WORDS.get(prop.lower(), prop)
    for key in ("default", "const"):
        if key in schema:
            return schema[key]
    if schema.get("enum"):
        return schema["enum"][0]
    if schema.get("examples"):
        return schema["examples"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = [
            o for o in schema.get(key) or [] if isinstance(o, Mapping) and o.get("type") != "null"
        ]
        if options:
            return example_value(options[0], prop)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind == "string" or (kind is None and "properties" not in schema):
        return _FORMATS.get(str(schema.get("format")), _WORDS.get(prop.lower(), prop))
    if kind in ("integer", "number"):
        value: float = 3 if kind == "integer" else 2.5
        if isinstance(schema.get("minimum"), (int, float)):
            value = max(value, schema["minimum"])
        if isinstance(schema.get("maximum"), (int, float)):
            value = min(value, schema["maximum"])
        return int(value) if kind == "integer" else value
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    if kind == "array":
        count = int(schema.get("minItems") or 0)
        return [example_value(schema.get("items"), prop) for _ in range(count)]
    return example_object(schema)


def example_object(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Required properties plus those with a default, each with :func:`example_value`."""
    props = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    return {
        name: example_value(sub, name)
        for name, sub in props.items()
        if name in required or (isinstance(sub, Mapping) and "default" in sub)
    }


def _tool_use_transcript(
    tools: Sequence[Mapping[str, Any]], model: str, seed: int | None
) -> Transcript:
    builder = TranscriptBuilder(model=model, seed=seed)
    names = [str(t.get("name", "tool")) for t in tools]
    if len(names) == 1:
        intro = f"I'll use the `{names[0]}` tool to look that up."
    else:
        intro = f"I'll call `{names[0]}` and `{names[1]}` in parallel."
    builder.text(intro)
    for tool in tools:
        schema = tool.get("input_schema") if isinstance(tool.get("input_schema"), Mapping) else {}
        builder.tool_use(str(tool.get("name", "tool")), example_object(schema))
    builder.stop("tool_use")
    return builder.build("generated:tool_use", "tool_use turn generated from the offered tools")


def _result_text(block: Mapping[str, Any]) -> str:
    content = block.get("content")
    if isinstance(content, list):
        parts = []
        for item in content:
            if isinstance(item, Mapping) and item.get("type") == "text":
                parts.append(str(item.get("text", "")))
            elif isinstance(item, Mapping):
                parts.append(f"[{item.get('type', 'content')}]")
        content = " ".join(parts)
    text = re.sub(r"\s+", " ", str(content or "")).strip()
    return text if len(text) <= 200 else text[:199] + "…"


def _followup_transcript(
    messages: Sequence[Any], results: Sequence[Mapping[str, Any]], model: str, seed: int | None
) -> Transcript:
    names: dict[str, str] = {}
    if len(messages) >= 2 and isinstance(messages[-2], Mapping):
        for block in _blocks(messages[-2], "tool_use"):
            names[str(block.get("id"))] = str(block.get("name", "tool"))
    lines = ["Here is what I found:", ""]
    for block in results:
        name = names.get(str(block.get("tool_use_id")), "tool")
        text = _result_text(block)
        if block.get("is_error"):
            lines.append(f"- The `{name}` tool failed: “{text or 'no details'}”")
        else:
            lines.append(f"- **{name}** returned: “{text or '(empty result)'}”")
    lines += ["", "Let me know if you would like me to dig deeper into any of these."]
    builder = TranscriptBuilder(model=model, seed=seed)
    builder.text("\n".join(lines))
    builder.stop("end_turn")
    return builder.build("generated:tool_followup", "follow-up turn quoting the tool results")
