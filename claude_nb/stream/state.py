"""The state of one ``%%claude`` run, advanced by one step per SDK stream event.

The SDK's ``MessageStream`` parses SSE and accumulates the message; this module keeps
what the SDK does not: timing, status, per-block metadata (raw partial JSON, unknown
deltas), local tool runs and the outcome. ``apply_event`` is the reducer: it mutates
the state in place (like the SDK's own ``accumulate_event``) and returns a small
:class:`Change` that tells the views what moved. Views never read the wire.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, NamedTuple

from claude_nb.errors import RunError
from claude_nb.stream.timeline import Timeline
from claude_nb.stream.usage import add_usage, usage_dict

TOOL_BLOCKS = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})
THINKING_BLOCKS = frozenset({"thinking", "redacted_thinking"})


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
    """Bookkeeping for one content block of one turn (the block itself is in the snapshot)."""

    index: int
    type: str
    started: float
    stopped: float | None = None
    chars: int = 0
    raw_json: list[str] | None = None
    unknown_deltas: list[dict[str, Any]] | None = None

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
    message: Any = None  # the SDK's live ParsedMessage snapshot
    blocks: list[BlockState] = field(default_factory=list)
    first_token: float | None = None
    ended: float | None = None
    complete: bool = False
    tool_runs: dict[str, ToolRun] = field(default_factory=dict)


class Change(NamedTuple):
    """What one step changed, for the views. ``payload`` depends on ``kind``."""

    kind: str  # turn | block_start | delta | block_stop | message | status | tool | notice | end
    turn: int = 0
    index: int = -1
    payload: Any = None


@dataclass
class RunState:
    """Everything the views need about a run, in one place."""

    model: str
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

    def now(self) -> float:
        """Seconds since the run started."""
        return time.perf_counter() - self.started

    @property
    def turn(self) -> Turn:
        return self.turns[-1]

    @property
    def elapsed(self) -> float:
        return self.ended if self.ended is not None else self.now()

    @property
    def messages(self) -> list[Any]:
        """The assistant messages (SDK snapshots) of every turn that started streaming."""
        return [t.message for t in self.turns if t.message is not None]

    @property
    def stop_reason(self) -> str | None:
        for turn in reversed(self.turns):
            if turn.message is not None:
                return turn.message.stop_reason
        return None

    def usage(self) -> dict[str, int]:
        """Token counters summed over the turns."""
        total: dict[str, int] = {}
        for message in self.messages:
            add_usage(total, usage_dict(getattr(message, "usage", None)))
        return total or usage_dict(None)

    @property
    def ttft(self) -> float | None:
        """Time to first token of the first turn, in seconds."""
        return self.first_token

    @property
    def tokens_per_second(self) -> float | None:
        """Output tokens per second of streaming (first token to end), over all turns.

        When the last turn ended early (no final usage), output is estimated from the
        characters streamed (~4 per token): see :attr:`output_estimated`.
        """
        if self.first_token is None:
            return None
        end = self.ended if self.ended is not None else self.now()
        span = end - self.first_token
        out = (
            self.streamed_tokens_estimate()
            if self.output_estimated
            else self.usage()["output_tokens"]
        )
        return out / span if span > 0 and out else None

    @property
    def output_estimated(self) -> bool:
        """True when the API's final output count never arrived (interrupted, failed)."""
        return (
            bool(self.turns) and self.turns[-1].message is not None and not self.turns[-1].complete
        )

    def streamed_tokens_estimate(self) -> int:
        """Output tokens estimated from the characters streamed (about 4 per token)."""
        return round(sum(self.timeline.size) / 4)


def begin_turn(state: RunState) -> Change:
    """A new request is about to be sent (first call, or the next turn of a tool loop)."""
    t = state.now()
    state.turns.append(Turn(number=len(state.turns), started=t))
    state.status = Status.CONNECTING
    state.notice = ""
    return Change("turn", len(state.turns) - 1)


def apply_event(state: RunState, event: Any, snapshot: Any, t: float) -> Change | None:
    """Advance ``state`` by one SDK stream event; ``snapshot`` is the stream's message so far.

    Synthesised SDK events (``text``, ``thinking``, ``input_json``...) repeat what the raw
    deltas carry and are ignored; unknown event types are recorded, never fatal.
    """
    etype = event.type
    turn = state.turns[-1]
    tn = turn.number
    if etype == "content_block_delta":
        index = event.index
        delta = event.delta
        dtype = delta.type
        block = turn.blocks[index] if index < len(turn.blocks) else None
        if dtype == "text_delta":
            piece = delta.text
        elif dtype == "thinking_delta":
            piece = delta.thinking
        elif dtype == "input_json_delta":
            piece = delta.partial_json
            if block is not None:
                if block.raw_json is None:
                    block.raw_json = []
                block.raw_json.append(piece)
        elif dtype in ("citations_delta", "signature_delta"):
            piece = None
        else:
            piece = None
            if block is not None:
                if block.unknown_deltas is None:
                    block.unknown_deltas = []
                block.unknown_deltas.append(as_dict(delta))
        size = len(piece) if piece else 0
        state.timeline.add(t, etype, index, dtype, size, tn)
        if block is not None:
            block.chars += size
        if turn.first_token is None and dtype != "signature_delta":
            turn.first_token = t
            if state.first_token is None:
                state.first_token = t
        return Change("delta", tn, index, (dtype, piece))

    if etype == "content_block_start":
        btype = event.content_block.type
        state.timeline.add(t, etype, event.index, None, 0, tn)
        turn.message = snapshot
        while len(turn.blocks) < event.index:  # tolerate gaps; never index past the list
            turn.blocks.append(BlockState(len(turn.blocks), "unknown", t, t))
        turn.blocks.append(BlockState(event.index, btype, t))
        state.status = _status_for_block(btype)
        return Change("block_start", tn, event.index, btype)

    if etype == "content_block_stop":
        state.timeline.add(t, etype, event.index, None, 0, tn)
        if event.index < len(turn.blocks):
            turn.blocks[event.index].stopped = t
        return Change("block_stop", tn, event.index)

    if etype == "message_start":
        state.timeline.add(t, etype, None, None, 0, tn)
        turn.message = snapshot
        if turn.message is not None and turn.message.content:
            # A message_start that already carries content (seen in real recordings).
            for i, b in enumerate(turn.message.content):
                turn.blocks.append(BlockState(i, b.type, t, t))
        return Change("message", tn)

    if etype == "message_delta":
        state.timeline.add(t, etype, None, None, 0, tn)
        return Change("message", tn)

    if etype == "message_stop":
        state.timeline.add(t, etype, None, None, 0, tn)
        turn.complete = True
        turn.ended = t
        for b in turn.blocks:
            if b.stopped is None:
                b.stopped = t
        return Change("message", tn)

    if etype in ("text", "thinking", "signature", "input_json", "citation"):
        return None

    # Unknown top-level event: keep it on the timeline, and with its JSON on the turn.
    state.timeline.add(t, etype, getattr(event, "index", None), None, 0, tn)
    return Change("unknown_event", tn, -1, as_dict(event))


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
    """The run is over: stamp the time, outcome and final status."""
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
    return Change("end")


def _status_for_block(btype: str) -> Status:
    if btype in THINKING_BLOCKS:
        return Status.THINKING
    if btype in TOOL_BLOCKS:
        return Status.CALLING_TOOL
    return Status.WRITING


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
