"""The state of one run, advanced by one pure step per stream event.

:func:`apply_event` is the reducer, shaped like the SDK's own ``accumulate_event`` (which
it calls: the message is still the SDK's accumulation, made once): it takes the event as
an SDK object or a plain dict (a transcript, a test), folds it into the turn's message,
keeps what the SDK does not — timing, status, per-block bookkeeping (raw partial JSON,
unknown deltas), local tool runs, the outcome — and returns a small :class:`Change` that
tells the layout and views what moved. Views never read the wire, and nothing here needs
a server, a kernel or a widget.

Two promises about what a server sends: streamed text is valid before it is measured
or shown (UTF-16 halves split over deltas are paired, a lone half becomes U+FFFD), and
an event that breaks the protocol raises :class:`~claude_nb.errors.MalformedStreamError`
naming it, with everything before it kept.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal, NamedTuple, cast

from anthropic._models import construct_type_unchecked
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import RawMessageStreamEvent
from pydantic import BaseModel

from claude_nb.errors import MalformedStreamError, RunError
from claude_nb.stream.protocol import (
    DELTA_BLOCKS,
    DELTA_FIELDS,
    HELPER_EVENTS,
    THINKING_BLOCKS,
    TOOL_BLOCKS,
)
from claude_nb.stream.timeline import Timeline
from claude_nb.stream.usage import add_usage, usage_dict


class Status(str, Enum):
    """What the run is doing now, as shown in the header."""

    CONNECTING = "connecting"
    RETRYING = "retrying"
    THINKING = "thinking"
    WRITING = "writing"
    CALLING_TOOL = "calling tool"
    RUNNING_TOOL = "running tool"
    DONE = "done"
    INTERRUPTED = "interrupted"
    ERROR = "error"

    @property
    def finished(self) -> bool:
        return self in (Status.DONE, Status.INTERRUPTED, Status.ERROR)


class Outcome(str, Enum):
    """How a run ended."""

    COMPLETE = "complete"
    INTERRUPTED = "interrupted"
    ERROR = "error"
    MAX_TURNS = "max_turns"


@dataclass
class BlockState:
    """Bookkeeping for one content block of one turn (the block itself is in the message)."""

    index: int
    type: str
    started: float
    stopped: float | None = None
    chars: int = 0  # streamed characters (text, thinking or input JSON), counted once
    raw_json: list[str] | None = None
    unknown_deltas: list[dict[str, Any]] | None = None
    held: str = ""  # a UTF-16 high half that ended the last delta, waiting for its pair

    @property
    def json_text(self) -> str:
        return "".join(self.raw_json) if self.raw_json else ""


@dataclass
class ToolRun:
    """A local Python tool call requested by Claude and run by us."""

    tool_use_id: str
    name: str
    input: Any
    status: str = "pending"  # pending | running | done | error | declined | unknown
    content: Any = None  # what goes back to the API (str or list of blocks)
    display: str = ""  # what the panel shows (may be truncated)
    is_error: bool = False
    note: str = ""
    started: float | None = None
    ended: float | None = None


@dataclass
class Turn:
    """One assistant message (a run has several when tools are in the loop)."""

    number: int
    started: float
    # The SDK's accumulation of this turn's events (a ParsedMessage, typed Any: readers
    # dispatch on each block's ``type`` rather than narrow the SDK's wide block union).
    message: Any = None
    json_bufs: dict[int, bytes] = field(default_factory=dict)  # accumulate_event's tool JSON
    blocks: list[BlockState] = field(default_factory=list)
    first_token: float | None = None
    ended: float | None = None
    counted: bool = False  # message_delta brought the API's final usage
    complete: bool = False  # message_stop arrived
    tool_runs: dict[str, ToolRun] = field(default_factory=dict)
    unknown_events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def chars(self) -> int:
        return sum(b.chars for b in self.blocks)


ChangeKind = Literal[
    "turn", "block_start", "delta", "block_stop", "message", "status", "tool", "end"
]


class Change(NamedTuple):
    """What one step changed, for the layout and views. ``payload`` by ``kind``:

    - ``turn``: None — a request is about to be sent (``turn`` is its number)
    - ``block_start``: the block type — block ``index`` of turn ``turn`` started
    - ``delta``: ``(delta type, streamed piece or None)``
    - ``block_stop``: text the block ends with that no delta carried (a lone UTF-16 half,
      now U+FFFD), usually ``""``
    - ``message``: None — ``message_start``/``message_delta``/``message_stop`` applied
    - ``status``: None — status or notice changed (retrying, connecting)
    - ``tool``: the :class:`ToolRun` added or changed
    - ``end``: None — the run is over (see ``RunState.outcome``)
    """

    kind: ChangeKind
    turn: int = 0
    index: int = -1  # type: ignore[assignment]  # (shadows tuple.index, on purpose)
    payload: Any = None


@dataclass
class RunState:
    """Everything the views need about a run, in one place."""

    requested_model: str = ""
    offline: bool = False
    started: float = field(default_factory=time.perf_counter)
    status: Status = Status.CONNECTING
    turns: list[Turn] = field(default_factory=list)
    timeline: Timeline = field(default_factory=Timeline)
    error: RunError | None = None
    notice: str = ""
    ended: float | None = None
    outcome: Outcome | None = None
    first_token: float | None = None
    _usage: dict[str, int] | None = field(default=None, repr=False)  # frozen by finish()

    def now(self) -> float:
        """Seconds since the run started."""
        return time.perf_counter() - self.started

    @property
    def model(self) -> str:
        """The model that answered (``message_start`` says: a gateway or a local server
        may serve another one than requested), else the one requested."""
        for turn in reversed(self.turns):
            if turn.message is not None and turn.message.model:
                return str(turn.message.model)
        return self.requested_model

    @property
    def turn(self) -> Turn:
        return self.turns[-1]

    @property
    def elapsed(self) -> float:
        return self.ended if self.ended is not None else self.now()

    @property
    def messages(self) -> list[Any]:
        """The assistant messages of every turn that started streaming (final or partial)."""
        return [t.message for t in self.turns if t.message is not None]

    @property
    def stop_reason(self) -> str | None:
        for turn in reversed(self.turns):
            if turn.message is not None:
                return turn.message.stop_reason
        return None

    def usage(self) -> dict[str, int]:
        """Token counters summed over the turns (once, when the run is over).

        A turn cut short (no ``message_delta``) counts its output as estimated from the
        characters streamed, about 4 a token: see :attr:`output_estimated`.
        """
        if self._usage is not None:
            return self._usage
        total: dict[str, int] = {}
        for turn in self.turns:
            if turn.message is None:
                continue
            counts = usage_dict(turn.message.usage)
            if not turn.counted:
                counts["output_tokens"] = max(counts["output_tokens"], round(turn.chars / 4))
            add_usage(total, counts)
        return total or usage_dict(None)

    @property
    def output_estimated(self) -> bool:
        """True when the API's final output count never arrived for some turn."""
        return any(t.message is not None and not t.counted for t in self.turns)

    def streamed_tokens_estimate(self) -> int:
        """The output tokens shown while estimated (the same figure as ``usage()``)."""
        return self.usage()["output_tokens"]

    @property
    def ttft(self) -> float | None:
        """Time to first token of the first turn, in seconds."""
        return self.first_token

    @property
    def tokens_per_second(self) -> float | None:
        """Output tokens per second of streaming (first token to end), over all turns."""
        if self.first_token is None:
            return None
        span = self.elapsed - self.first_token
        out = self.usage()["output_tokens"]
        return out / span if span > 0 and out else None


def begin_turn(state: RunState) -> Change:
    """A new request is about to be sent (first call, or the next turn of a tool loop)."""
    t = state.now()
    state.turns.append(Turn(number=len(state.turns), started=t))
    state.status = Status.CONNECTING
    state.notice = ""
    return Change("turn", len(state.turns) - 1)


_SKIPPED = HELPER_EVENTS | {"ping"}  # a MessageStream's synthesised events; pings


def apply_event(state: RunState, event: Any, t: float | None = None) -> Change | None:
    """Advance ``state`` by one stream event (an SDK event object or a plain dict).

    A ``MessageStream``'s synthesised events (``text``, ``input_json``...) repeat what
    the raw events carry and are skipped; so are pings. Unknown event types are kept on
    the turn and the timeline, never fatal. Raises :class:`MalformedStreamError` for an
    event that breaks the protocol; the state keeps everything before it.
    """
    if isinstance(event, dict):
        event = as_event(event)
    etype = event.type
    if etype in _SKIPPED:
        return None
    if t is None:
        t = state.now()
    if not state.turns:  # a replay that did not announce its request
        begin_turn(state)
    turn = state.turns[-1]
    if etype == "content_block_delta":
        return _delta(state, turn, event, t)
    if etype == "content_block_start":
        return _block_start(state, turn, event, t)
    if etype == "content_block_stop":
        return _block_stop(state, turn, event, t)
    if etype == "message_start":
        event = _valid_event(event)
        _accumulate(turn, event)
        state.timeline.add(t, etype, None, None, 0, turn.number)
        message = turn.message
        if message is not None and message.content:
            # A message_start that already carries content (seen in real recordings).
            turn.blocks.extend(BlockState(i, b.type, t, t) for i, b in enumerate(message.content))
        return Change("message", turn.number)
    if etype == "message_delta":
        event = _valid_event(event)
        _accumulate(turn, event)
        turn.counted = True
        state.timeline.add(t, etype, None, None, 0, turn.number)
        return Change("message", turn.number)
    if etype == "message_stop":
        _accumulate(turn, event)
        state.timeline.add(t, etype, None, None, 0, turn.number)
        turn.complete = True
        turn.ended = t
        for b in turn.blocks:
            if b.stopped is None:
                b.stopped = t
        return Change("message", turn.number)
    # An event type this code does not know: recorded on the timeline and the turn.
    state.timeline.add(t, etype, getattr(event, "index", None), None, 0, turn.number)
    turn.unknown_events.append(as_dict(event))
    return None


def _delta(state: RunState, turn: Turn, event: Any, t: float) -> Change:
    index = event.index
    delta = event.delta
    dtype = delta.type
    blocks = turn.blocks
    if not 0 <= index < len(blocks):
        raise MalformedStreamError(
            f"content_block_delta ({dtype}) for block {index}", "that block never started"
        )
    block = blocks[index]
    allowed = DELTA_BLOCKS.get(dtype)
    piece: str | None = None
    if allowed is None:  # a delta type this SDK does not know: kept with its block
        if block.unknown_deltas is None:
            block.unknown_deltas = []
        block.unknown_deltas.append(as_dict(delta))
    elif block.type not in allowed:
        raise MalformedStreamError(
            f"content_block_delta ({dtype}) for block {index}",
            f"block {index} is a {block.type} block",
        )
    else:
        name = DELTA_FIELDS[dtype]
        if name is not None:
            piece = getattr(delta, name)
            if not isinstance(piece, str):
                raise MalformedStreamError(
                    f"content_block_delta ({dtype}) for block {index}", f"no {name} string"
                )
            if block.held or not piece.isascii():
                piece = _valid_piece(block, piece)
                setattr(delta, name, piece)
        elif dtype == "citations_delta":
            event = _valid_event(event)
        _accumulate(turn, event)
        if dtype == "input_json_delta":
            if block.raw_json is None:
                block.raw_json = []
            block.raw_json.append(cast(str, piece))
    size = len(piece) if piece else 0
    state.timeline.add(t, "content_block_delta", index, dtype, size, turn.number)
    block.chars += size
    if turn.first_token is None and dtype != "signature_delta":
        turn.first_token = t
        if state.first_token is None:
            state.first_token = t
    return Change("delta", turn.number, index, (dtype, piece))


def _block_start(state: RunState, turn: Turn, event: Any, t: float) -> Change:
    index = event.index
    if index != len(turn.blocks):
        raise MalformedStreamError(
            f"content_block_start for block {index}",
            f"the next block is {len(turn.blocks)}",
        )
    event = _valid_event(event)
    _accumulate(turn, event)
    btype = event.content_block.type
    state.timeline.add(t, "content_block_start", index, None, 0, turn.number)
    turn.blocks.append(BlockState(index, btype, t))
    state.status = _status_for_block(btype)
    return Change("block_start", turn.number, index, btype)


def _block_stop(state: RunState, turn: Turn, event: Any, t: float) -> Change:
    index = event.index
    if not 0 <= index < len(turn.blocks):
        raise MalformedStreamError(
            f"content_block_stop for block {index}", "that block never started"
        )
    block = turn.blocks[index]
    ending = ""
    if block.held:  # a high half nothing paired: it ends the block as U+FFFD
        block.held = ""
        dtype = {"text": "text_delta", "thinking": "thinking_delta"}.get(block.type)
        if dtype is not None:
            ending = "\ufffd"
            field_name = DELTA_FIELDS[dtype]
            fix = {"type": "content_block_delta", "index": index}
            _accumulate(turn, as_event({**fix, "delta": {"type": dtype, field_name: ending}}))
            block.chars += 1
    _accumulate(turn, event)
    state.timeline.add(t, "content_block_stop", index, None, 0, turn.number)
    block.stopped = t
    return Change("block_stop", turn.number, index, ending)


def _accumulate(turn: Turn, event: Any) -> None:
    """The SDK's own accumulation, with any failure named as a malformed stream."""
    try:
        turn.message = accumulate_event(
            event=event, current_snapshot=turn.message, json_bufs=turn.json_bufs
        )
    except Exception as exc:
        raise MalformedStreamError(describe_event(event), f"{type(exc).__name__}: {exc}") from exc


def describe_event(event: Any) -> str:
    """An event named for an error line: ``content_block_delta (text_delta) for block 3``."""
    if isinstance(event, dict):
        event = as_event(event)
    etype = getattr(event, "type", "?")
    index = getattr(event, "index", None)
    delta = getattr(getattr(event, "delta", None), "type", None)
    where = f" for block {index}" if index is not None else ""
    what = f" ({delta})" if delta and etype == "content_block_delta" else ""
    return f"{etype}{what}{where}"


def malformed_by_sdk(exc: BaseException) -> MalformedStreamError | None:
    """What to raise instead of an exception from the SDK's own accumulator (a
    ``MessageStream`` accumulates each event before yielding it), naming the event it
    failed on (read off the traceback); None when ``exc`` did not come from there."""
    if isinstance(exc, MalformedStreamError):
        return None
    tb = exc.__traceback__
    found = None
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_name in ("accumulate_event", "build_events") and code.co_filename.endswith(
            "_messages.py"
        ):
            found = tb.tb_frame.f_locals.get("event", found)
        tb = tb.tb_next
    if found is None:
        return None
    return MalformedStreamError(describe_event(found), f"{type(exc).__name__}: {exc}")


# Valid text ---------------------------------------------------------------------------

_SURROGATE = re.compile("[\ud800-\udfff]")


def _valid(text: str) -> str:
    """Adjacent UTF-16 halves joined into their character; any lone half as U+FFFD."""
    if _SURROGATE.search(text) is None:
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _valid_piece(block: BlockState, piece: str) -> str:
    """``piece`` made valid, pairing a high half held from the block's previous delta; a
    high half at its end is held back for the next one."""
    if block.held:
        piece = block.held + piece
        block.held = ""
    if piece and "\ud800" <= piece[-1] <= "\udbff":
        block.held = piece[-1]
        piece = piece[:-1]
    return _valid(piece)


def _has_surrogate(value: Any) -> bool:
    """Any string inside (an SDK object is walked through its fields: serialising it
    would build pydantic's serializer, ~0.1 s the first time)."""
    if isinstance(value, str):
        return not value.isascii() and _SURROGATE.search(value) is not None
    if isinstance(value, BaseModel):
        extra = value.__pydantic_extra__
        return _has_surrogate(value.__dict__) or (extra is not None and _has_surrogate(extra))
    if isinstance(value, dict):
        return any(_has_surrogate(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_surrogate(v) for v in value)
    return False


def _valid_values(value: Any) -> Any:
    if isinstance(value, str):
        return _valid(value)
    if isinstance(value, dict):
        return {k: _valid_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_valid_values(v) for v in value]
    return value


def _valid_event(event: Any) -> Any:
    """The event, or (rarely: a UTF-16 half was found) a copy with every string valid."""
    if not _has_surrogate(event):
        return event
    return as_event(_valid_values(event.to_dict(warnings=False)))


# Other steps ---------------------------------------------------------------------------


def set_status(state: RunState, status: Status, notice: str = "") -> Change:
    state.status = status
    state.notice = notice
    return Change("status", len(state.turns) - 1)


def tool_update(state: RunState, run: ToolRun) -> Change:
    """A local tool run was added or changed (started, finished, failed, declined)."""
    turn = state.turns[-1]
    turn.tool_runs[run.tool_use_id] = run
    code = "tool_started" if run.status == "running" else "tool_finished"
    state.timeline.add(state.now(), code, None, None, 0, turn.number)
    if run.status == "running":
        state.status = Status.RUNNING_TOOL
    return Change("tool", turn.number, -1, run)


def finish(state: RunState, outcome: Outcome, error: RunError | None = None) -> Change:
    """The run is over: stamp the time, outcome and final status; freeze the totals."""
    state.ended = state.now()
    state.outcome = outcome
    state.error = error
    if outcome is Outcome.INTERRUPTED:
        state.status = Status.INTERRUPTED
    elif outcome is Outcome.ERROR:
        state.status = Status.ERROR
    else:
        state.status = Status.DONE
    if state.turns:
        turn = state.turns[-1]
        if turn.ended is None:
            turn.ended = state.ended
        for b in turn.blocks:
            if b.stopped is None:
                b.stopped = state.ended
    state._usage = None
    state._usage = state.usage()
    return Change("end")


def _status_for_block(btype: str) -> Status:
    if btype in THINKING_BLOCKS:
        return Status.THINKING
    if btype in TOOL_BLOCKS:
        return Status.CALLING_TOOL
    return Status.WRITING


def as_event(data: Any) -> Any:
    """A plain dict as the SDK's (loosely typed) event object, the way the SDK's own
    ``accumulate_event`` builds one; SDK objects pass through."""
    if not isinstance(data, dict):
        return data
    return construct_type_unchecked(type_=cast(Any, RawMessageStreamEvent), value=data)


def as_dict(obj: Any) -> dict[str, Any]:
    """Any SDK object (typed, loosely typed, or unknown to this SDK) as a JSON-able dict."""
    if obj is None:
        return {}
    if isinstance(obj, dict):
        return obj
    for name in ("to_dict", "model_dump"):
        fn = getattr(obj, name, None)
        if fn is not None:
            try:
                return fn(mode="json") if name == "model_dump" else fn()
            except Exception:
                continue
    return {"repr": repr(obj)}
