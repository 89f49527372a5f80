"""The ``.sse`` transcript format: one recorded (or written) Messages API stream per file.

A transcript is an Anthropic Messages API stream in raw wire format, shipped as
``claude_nb/offline/transcripts/NAME.sse``::

    : description=A markdown answer with tables, code and math
    : followup=tool_followup
    : keywords=outlier anomaly z-score

    event: message_start
    data: {"type":"message_start","message":{...}}

    : t=0.412
    event: content_block_start
    data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

It stays a valid SSE body (SSE parsers, the SDK's included, ignore lines starting with ``:``):

* Frames are ``event: NAME`` plus one or more ``data: JSON`` lines, ended by a blank
  line. The JSON is kept byte for byte, so real captures replay with their wire padding.
* Comment lines ``: key=value`` *before the first event* are metadata: ``description``
  (one line, shown by ``claude-nb transcripts``), ``followup`` (the transcript served for
  the continuation turn) and ``keywords`` (words of a question this recorded answer is
  chosen for, see :mod:`claude_nb.offline.selection`); other keys are kept in ``meta``.
* A comment line ``: t=SECONDS`` before an event is recorded timing: seconds since the
  request started at which that event was received. A transcript with any ``t=`` line is
  replayed at its recorded pace (see :mod:`claude_nb.offline.replay`). ``--record``
  writes this format.
"""

from __future__ import annotations

import functools
import json
import random
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from claude_nb.stream.protocol import CONTENT_FIELDS

__all__ = [
    "CONTENT_FIELDS",
    "SSEEvent",
    "Transcript",
    "TranscriptError",
    "load_transcript",
    "make_event",
    "new_id",
    "parse_sse",
    "transcript_names",
]

_ID_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


class TranscriptError(ValueError):
    """A transcript file or name that cannot be used."""


def new_id(prefix: str, rng: random.Random | None = None, length: int = 22) -> str:
    """An id shaped like the API's (``msg_01…``, ``toolu_01…``, ``msgbatch_01…``)."""
    if rng is None:
        raw = secrets.token_bytes(length)
        return prefix + "".join(_ID_ALPHABET[b % len(_ID_ALPHABET)] for b in raw)
    return prefix + "".join(rng.choice(_ID_ALPHABET) for _ in range(length))


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


def content_len(data: Mapping[str, Any]) -> int:
    """Characters of streamed content in a ``content_block_delta`` (-1 for other events)."""
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
    return SSEEvent(str(data.get("type", "")), raw, t, content_len(data), data)


def parse_sse(text: str, *, source: str = "<sse>") -> tuple[dict[str, str], list[SSEEvent]]:
    """Parse an SSE body into (metadata, events); see the module docstring for the format."""
    meta: dict[str, str] = {}
    events: list[SSEEvent] = []
    name: str | None = None
    data_lines: list[str] = []
    pending_t: float | None = None
    start_line = 0

    def flush() -> None:
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
        events.append(SSEEvent(name, raw, pending_t, content_len(data), data))
        name, data_lines, pending_t = None, [], None

    for lineno, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line:
            flush()
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
    flush()
    if not events:
        raise TranscriptError(f"{source}: no events")
    return meta, events


@dataclass
class Transcript:
    """A stream to replay: named events plus metadata. Treat instances as immutable."""

    name: str
    events: list[SSEEvent]
    description: str = ""
    followup: str | None = None
    source: str | None = None
    meta: dict[str, str] = field(default_factory=dict, compare=False)
    _frames: list[bytes] | None = field(default=None, repr=False, compare=False)
    _content_chars: int | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_sse(cls, text: str, *, name: str = "custom", source: str | None = None) -> Transcript:
        meta, events = parse_sse(text, source=source or name)
        return cls(
            name=meta.pop("name", name),
            events=events,
            description=meta.pop("description", ""),
            followup=meta.pop("followup", "") or None,
            source=source,
            meta=meta,
        )

    @property
    def has_timing(self) -> bool:
        return any(e.t is not None for e in self.events)

    @property
    def keywords(self) -> tuple[str, ...]:
        """Words of a question this answer was recorded for (``: keywords=`` metadata)."""
        return tuple(self.meta.get("keywords", "").lower().split())

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

    def block_types(self) -> list[str]:
        """The ``content_block.type`` of every block, in order."""
        return [
            str(e.data["content_block"].get("type"))
            for e in self.events
            if e.event == "content_block_start"
        ]

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
        out.extend(f": {key}={value}\n" for key, value in self.meta.items())
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
