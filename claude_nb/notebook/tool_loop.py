"""The turn loop: stream a turn, run the tools it asks for, continue paused turns.

Every turn streams into the same :class:`~claude_nb.notebook.runner.Run`, so the user watches
one growing answer: text, a tool panel with its input, a spinner while the function
runs, its result, then the next turn. The loop ends with a final answer, an error, an
interrupt (everything so far stays shown and bound) or ``max_turns``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from claude_nb.notebook.messages import append_message, assistant_param
from claude_nb.notebook.runner import Run
from claude_nb.notebook.tools import result_block, run_call
from claude_nb.stream.state import Outcome, ToolRun


def converse(
    run: Run,
    open_stream: Callable[[dict[str, Any]], Any],
    request: dict[str, Any],
    tools: dict[str, Any] | None = None,
    *,
    max_turns: int = 10,
    confirm: bool = False,
    ask: Callable[[str], str] | None = None,
) -> list[dict[str, Any]]:
    """Run turns until done; returns the messages the run added after the request's own."""
    tools = tools or {}
    messages = list(request["messages"])
    added: list[dict[str, Any]] = []
    for _ in range(max_turns):
        turn_request = {**request, "messages": messages}
        if not run.stream_turn(functools.partial(open_stream, turn_request)):
            break
        message = run.state.turn.message
        reason = message.stop_reason
        if reason == "pause_turn":  # a long server-tool turn: send it back as is to continue
            append_message(added, assistant_param(message))
        elif reason == "tool_use" and any(b.type == "tool_use" for b in message.content):
            append_message(added, assistant_param(message))
            results = _run_tools(run, message, tools, confirm, ask)
            if results is None:  # interrupted inside a tool
                break
            append_message(added, {"role": "user", "content": results})
        else:
            break
        messages = [*request["messages"], *added]
    else:
        run.end(Outcome.MAX_TURNS)
    return added


def _run_tools(
    run: Run, message: Any, tools: dict[str, Any], confirm: bool, ask: Callable[[str], str] | None
) -> list[dict[str, Any]] | None:
    """Run every tool_use of a turn (parallel calls all run, in order); None if interrupted."""
    results = []
    for use in (b for b in message.content if b.type == "tool_use"):
        try:
            tool_run = run_call(use, tools, confirm=confirm, ask=ask, on_start=run.tool_changed)
        except KeyboardInterrupt:
            run.tool_changed(run.state.turn.tool_runs.get(use.id) or _interrupted(use))
            run.end(Outcome.INTERRUPTED)
            return None
        run.tool_changed(tool_run)
        results.append(result_block(tool_run))
    return results


def _interrupted(use: Any) -> ToolRun:
    return ToolRun(
        use.id,
        use.name,
        use.input,
        status="error",
        content="Interrupted by the user.",
        display="Interrupted by the user.",
        is_error=True,
    )
