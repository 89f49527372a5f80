"""Which answer a ``POST /v1/messages`` request gets from the offline backend.

The rules are in :func:`describe_selection` (also printed by ``claude-nb transcripts``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from claude_nb.offline.answers import followup_transcript, tool_use_transcript
from claude_nb.offline.builder import DEFAULT_MODEL
from claude_nb.offline.format import Transcript, load_transcript
from claude_nb.offline.prompt import blocks, is_continuation, last

__all__ = ["Selection", "describe_selection", "select_transcript"]

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
        if chosen.followup and is_continuation(messages):
            return Selection(load_transcript(chosen.followup), f"{reason} followup")
        return Selection(chosen, reason)
    if blocks(last(messages, "assistant"), "server_tool_use"):
        return Selection(load_transcript("pause_turn_continue"), "pause_turn continuation")
    results = blocks(last(messages, "user"), "tool_result")
    if results:
        return Selection(
            followup_transcript(messages, results, model, seed), "tool_result follow-up"
        )
    tools = [t for t in body.get("tools") or [] if isinstance(t, Mapping)]
    client_tools = [t for t in tools if t.get("type") in (None, "custom")]
    choice = body.get("tool_choice")
    choice = choice if isinstance(choice, Mapping) else {}
    if client_tools and choice.get("type") != "none":
        if choice.get("type") == "tool":
            client_tools = [
                t for t in client_tools if t.get("name") == choice.get("name")
            ] or client_tools
        return Selection(tool_use_transcript(client_tools[:2], model, seed), "client tools offered")
    if any(str(t.get("type", "")).startswith("web_search_") for t in tools):
        return Selection(load_transcript("web_search"), "web_search tool offered")
    thinking = body.get("thinking")
    if isinstance(thinking, Mapping) and thinking.get("type") in ("enabled", "adaptive"):
        return Selection(load_transcript("thinking"), "thinking enabled")
    return Selection(load_transcript("markdown"), "default")
