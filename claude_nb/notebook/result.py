"""The object every run returns (and the magic binds to ``_claude``).

It holds the SDK's own ``Message`` objects (final, or the partial snapshot when a run
was interrupted or failed), convenient views of them, the timing, and the event
timeline. It shows itself as the static view, so ``_claude`` in a cell re-displays it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anthropic

from claude_nb.errors import RunError
from claude_nb.notebook.messages import append_message, assistant_param
from claude_nb.render.segments import Layout
from claude_nb.stream.protocol import TOOL_BLOCKS
from claude_nb.stream.state import Outcome, RunState
from claude_nb.stream.timeline import Timeline
from claude_nb.views.static import static_bundle


@dataclass
class ToolCall:
    """One tool call Claude made, with what came back."""

    id: str
    name: str
    input: Any
    turn: int
    server: bool = False  # run by the API (web search, code execution...) rather than by us
    result: Any = None
    is_error: bool = False
    status: str = ""


class Result:
    """What a ``%%claude`` run (or :func:`claude_nb.show`) produced."""

    def __init__(
        self,
        state: RunState,
        layout: Layout,
        request: dict[str, Any] | None = None,
        wire: list[Any] | None = None,
        extras: list[Any] | None = None,
    ) -> None:
        self._state = state
        self._layout = layout
        self._extras = extras or []
        self.request = request or {}
        self.prompt: str | None = None
        self.wire = wire  # WireLogs (raw SSE frames with arrival times) when they were recorded

    # The answer -----------------------------------------------------------------------

    @property
    def messages(self) -> list[anthropic.types.Message]:
        """Every assistant message of the run (one per turn of a tool loop)."""
        return self._state.messages

    @property
    def message(self) -> anthropic.types.Message | None:
        """The last assistant message: final, or the partial snapshot if the run stopped early."""
        messages = self.messages
        return messages[-1] if messages else None

    @property
    def text(self) -> str:
        """All answer text, every turn, as markdown. Adjacent text blocks (split by citations)
        join directly; text separated by tool calls or thinking becomes separate paragraphs."""
        runs: list[str] = []
        current: list[str] = []
        for m in self.messages:
            for b in m.content:
                if b.type == "text":
                    current.append(b.text)
                elif current:
                    runs.append("".join(current))
                    current = []
            if current:
                runs.append("".join(current))
                current = []
        runs = [r for r in runs if r.strip()]
        return runs[0] if len(runs) == 1 else "\n\n".join(r.strip("\n") for r in runs)

    @property
    def thinking(self) -> str:
        return "\n\n".join(
            b.thinking for m in self.messages for b in m.content if b.type == "thinking"
        )

    @property
    def tool_calls(self) -> list[ToolCall]:
        calls: list[ToolCall] = []
        results: dict[str, Any] = {}
        for turn in self._state.turns:
            if turn.message is None:
                continue
            for b in turn.message.content:
                btype = getattr(b, "type", "")
                if btype in TOOL_BLOCKS:
                    call = ToolCall(
                        id=b.id,
                        name=b.name,
                        input=b.input,
                        turn=turn.number,
                        server=btype != "tool_use",
                    )
                    run = turn.tool_runs.get(b.id)
                    if run is not None:
                        call.result, call.is_error, call.status = (
                            run.content,
                            run.is_error,
                            run.status,
                        )
                    calls.append(call)
                elif btype.endswith("_tool_result") and hasattr(b, "tool_use_id"):
                    results[b.tool_use_id] = b
        for call in calls:
            block = results.get(call.id)
            if block is not None:
                call.result = getattr(block, "content", block)
                call.status = "done"
                call.is_error = bool(getattr(block, "is_error", False))
        return calls

    @property
    def usage(self) -> anthropic.types.Usage | None:
        """Token usage: the message's own ``Usage``, or the sum over turns for a tool loop.

        When the API's final count never came (interrupted, failed), ``output_tokens`` is
        the estimate the footer shows and ``output_tokens_estimated`` is True.
        """
        messages = self.messages
        if not messages:
            return None
        state = self._state
        if len(messages) == 1 and not state.output_estimated:
            return messages[0].usage
        u = state.usage()
        if len(messages) == 1:
            usage = messages[0].usage
        else:
            usage = anthropic.types.Usage(
                input_tokens=u["input_tokens"],
                output_tokens=u["output_tokens"],
                cache_creation_input_tokens=u["cache_creation_input_tokens"],
                cache_read_input_tokens=u["cache_read_input_tokens"],
            )
        if not state.output_estimated:
            return usage
        return usage.model_copy(
            update={"output_tokens": u["output_tokens"], "output_tokens_estimated": True}
        )

    @property
    def stop_reason(self) -> str | None:
        return self._state.stop_reason

    # How it went ----------------------------------------------------------------------

    @property
    def status(self) -> str:
        """``complete``, ``interrupted``, ``error`` or ``max_turns`` (``running`` while streaming)."""
        return self._state.outcome.value if self._state.outcome else "running"

    @property
    def complete(self) -> bool:
        return self._state.outcome is Outcome.COMPLETE

    @property
    def interrupted(self) -> bool:
        return self._state.outcome is Outcome.INTERRUPTED

    @property
    def failed(self) -> bool:
        return self._state.outcome is Outcome.ERROR

    @property
    def error(self) -> RunError | None:
        return self._state.error

    @property
    def model(self) -> str:
        return self._state.model

    @property
    def ttft(self) -> float | None:
        """Seconds from sending the request to the first token."""
        return self._state.ttft

    @property
    def tokens_per_second(self) -> float | None:
        return self._state.tokens_per_second

    @property
    def duration(self) -> float:
        return self._state.elapsed

    @property
    def timeline(self) -> Timeline:
        """Every stream event with its arrival time (seconds since the request)."""
        return self._state.timeline

    def events_df(self) -> Any:
        """The timeline as a pandas DataFrame (columns t, type, index, delta_type, size, turn)."""
        import pandas as pd  # type: ignore[import-untyped]

        return pd.DataFrame.from_records(
            self.timeline.records(), columns=["t", "type", "index", "delta_type", "size", "turn"]
        )

    def to_messages(self) -> list[dict[str, Any]]:
        """The assistant turns (and tool results) as API message params, for a follow-up request."""
        out: list[dict[str, Any]] = []
        for turn in self._state.turns:
            if turn.message is None or not turn.message.content:
                continue
            append_message(out, assistant_param(turn.message))
            results = [
                {
                    "type": "tool_result",
                    "tool_use_id": run.tool_use_id,
                    "content": run.content,
                    **({"is_error": True} if run.is_error else {}),
                }
                for run in turn.tool_runs.values()
                if run.status not in ("pending", "running")
            ]
            if results:
                append_message(out, {"role": "user", "content": results})
        return out

    # Display --------------------------------------------------------------------------

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return static_bundle(
            self._state, self._layout, "".join(x.static_html() for x in self._extras)
        )

    def __repr__(self) -> str:
        text = self.text
        preview = (text[:60] + "…") if len(text) > 60 else text
        return f"<claude_nb.Result {self.status} model={self.model!r} text={preview!r}>"
