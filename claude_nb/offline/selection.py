"""Which answer a ``POST /v1/messages`` request gets from the offline backend.

The rules are in :func:`describe_selection` (also printed by ``claude-nb transcripts
--rules``). A transcript chosen explicitly (header or server default) is served as it
is; everything else is tied to the question (:mod:`claude_nb.offline.answers`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from claude_nb.offline.answers import (
    Writer,
    followup_transcript,
    generic_answer,
    json_answer,
    noted,
    recorded_note,
    text_only,
    tool_results_text,
    tool_use_transcript,
    with_thinking,
)
from claude_nb.offline.builder import DEFAULT_MODEL
from claude_nb.offline.format import Transcript, load_transcript, transcript_names
from claude_nb.offline.prompt import blocks, is_continuation, last, question

__all__ = [
    "Selection",
    "describe_selection",
    "match_topic",
    "output_schema",
    "recorded_topics",
    "select_transcript",
]

_SELECTION_TEXT = """\
How the offline backend chooses the answer for POST /v1/messages (first rule that applies):
  1. header `x-claude-nb-transcript: NAME` (a shipped transcript) or an absolute path to a .sse file;
  2. else the server's default transcript (`offline.start(transcript=...)`, `serve --transcript`);
     for 1 and 2, a continuation request (the last user message carries tool_result blocks,
     or the last message is an assistant turn with server tool blocks, i.e. after pause_turn)
     gets the transcript's `followup` instead when it declares one
     (tool_use -> tool_followup, pause_turn -> pause_turn_continue); both are served as recorded;
  3. else if the last message is an assistant turn containing server_tool_use blocks (a
     pause_turn being resumed) -> `pause_turn_continue`;
  4. else if the last user message contains tool_result blocks -> a GENERATED follow-up
     (end_turn) that quotes each tool result's text (truncated) and says which tools failed
     (JSON fitting the schema instead when output_config.format asks for it);
  5. else if client tools are offered (no `type`, or `type: "custom"`) and tool_choice is not
     `none` -> a GENERATED tool_use turn: a short sentence, then one tool_use per offered tool
     (at most 2, i.e. parallel calls; only the named one for tool_choice `tool`) whose input
     is filled from the question where the input_schema allows: an enum value the question
     names, a quoted string, the word next to the property's name ("the west region"), a
     capitalised name after "in"/"from" for places and people, the question itself for
     query/text properties, a number next to the property's name or within its bounds;
     else the default, a stable pick among enum values, or a plausible word/number;
  6. else if a server tool whose type starts with `web_search_` is offered -> `web_search`;
  7. else if output_config.format is {"type": "json_schema", "schema": ...} (structured
     outputs, `messages.parse`) -> GENERATED JSON that fits the schema, values from the
     question as in rule 5 (every property, arrays with at least one item);
  8. else if the question's words match a recorded answer's keywords (`: keywords=` in its
     .sse file; most matches wins) -> that recorded answer;
  9. else -> a GENERATED answer that says no recording covers the question.
Answers from rules 6, 8 and 9 start with one line saying they are offline answers and
quoting the question, so each request's answer shows what was asked. When thinking is
enabled (`enabled` or `adaptive`) rules 7-9 start with a thinking block (the recorded
`thinking` answer for its own topic); a recorded thinking answer served without thinking
keeps only its text. Rules 3-9 look at the full history: a `thread: continue` request is
first expanded with the history the server holds for it. Every answer's message_start
carries the request's model, a fresh id and the request's input usage; max_tokens and
stop_sequences cut the answer like the API does. Same request, same answer."""

Spoiler = Callable[[dict[str, Any], Mapping[str, Any]], str]


def describe_selection() -> str:
    """The transcript selection rules, as documented for users."""
    return _SELECTION_TEXT


@dataclass(frozen=True)
class Selection:
    transcript: Transcript
    reason: str


@functools.lru_cache(maxsize=1)
def recorded_topics() -> tuple[Transcript, ...]:
    """The shipped recordings a plain question can get (those with ``keywords``)."""
    return tuple(t for t in (load_transcript(n) for n in transcript_names()) if t.keywords)


def match_topic(text: str) -> Transcript | None:
    """The recorded answer whose keywords the question uses most (ties: by name).

    A keyword matches a word of the question that equals it, is it plus ``s``, or (for
    keywords of 5+ letters) starts with it: ``outlier`` matches "outliers", ``aggregat``
    matches "aggregate".
    """
    lowered = text.lower()
    words = set(re.findall(r"[a-z0-9]+(?:[-'][a-z0-9]+)*", lowered))
    best: tuple[int, str] | None = None
    chosen = None
    for transcript, exact, prefixes in _keyword_matchers():
        hits = sum(1 for kw in exact if kw in words or kw + "s" in words)
        if prefixes is not None:
            hits += len(set(prefixes.findall(lowered)))
        if hits and (best is None or (-hits, transcript.name) < best):
            best, chosen = (-hits, transcript.name), transcript
    return chosen


@functools.lru_cache(maxsize=1)
def _keyword_matchers() -> tuple[tuple[Transcript, tuple[str, ...], re.Pattern[str] | None], ...]:
    """Per recorded topic: its short keywords (whole words) and one regex for the rest
    (word prefixes), so matching a question is one pass per topic."""
    out = []
    for transcript in recorded_topics():
        exact = tuple(kw for kw in transcript.keywords if len(kw) < 5)
        long = sorted((kw for kw in transcript.keywords if len(kw) >= 5), key=len, reverse=True)
        pattern = (
            re.compile(r"(?<![a-z0-9])(" + "|".join(map(re.escape, long)) + ")") if long else None
        )
        out.append((transcript, exact, pattern))
    return tuple(out)


def output_schema(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The JSON schema of a structured-output request (``output_config.format``)."""
    config = body.get("output_config")
    fmt = config.get("format") if isinstance(config, Mapping) else None
    if isinstance(fmt, Mapping) and fmt.get("type") == "json_schema":
        schema = fmt.get("schema")
        return schema if isinstance(schema, Mapping) else None
    return None


def _thinking(body: Mapping[str, Any]) -> bool:
    thinking = body.get("thinking")
    return isinstance(thinking, Mapping) and thinking.get("type") in ("enabled", "adaptive")


def select_transcript(
    body: Mapping[str, Any],
    *,
    header: str | None = None,
    default: Transcript | str | None = None,
    spoil: Spoiler | None = None,
    chunk: int | tuple[int, int] | None = None,
) -> Selection:
    """Choose the answer for a request (rules in :func:`describe_selection`).

    ``spoil`` turns a structured-output answer into one that does not fit its schema
    (the ``off_schema`` fault); ``chunk`` sets the delta size of generated answers (and
    rebuilds recorded ones with it: a batch result, never streamed, needs few events).
    Raises :class:`TranscriptError` for an unknown
    header/default transcript.
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
    asked = question(body)
    w = Writer(model, asked) if chunk is None else Writer(model, asked, chunk)
    schema = output_schema(body)
    thinking = _thinking(body)
    results = blocks(last(messages, "user"), "tool_result")
    if results:
        if schema is not None:
            found = tool_results_text(messages, results)
            return Selection(
                json_answer(schema, w, thinking, spoil, source=found),
                "structured output after tool results",
            )
        return Selection(followup_transcript(messages, results, w), "tool_result follow-up")
    tools = [t for t in body.get("tools") or [] if isinstance(t, Mapping)]
    client_tools = [t for t in tools if t.get("type") in (None, "custom")]
    choice = body.get("tool_choice")
    choice = choice if isinstance(choice, Mapping) else {}
    if client_tools and choice.get("type") != "none":
        if choice.get("type") == "tool":
            client_tools = [
                t for t in client_tools if t.get("name") == choice.get("name")
            ] or client_tools
        return Selection(tool_use_transcript(client_tools[:2], w), "client tools offered")
    if any(str(t.get("type", "")).startswith("web_search_") for t in tools):
        recorded = load_transcript("web_search")
        note = recorded_note(recorded.meta.get("topic", "web search"), asked)
        return Selection(noted(recorded, note), "web_search tool offered")
    if schema is not None:
        return Selection(json_answer(schema, w, thinking, spoil), "structured output")
    topic = match_topic(asked)
    if topic is None:
        topics = [t.meta.get("topic", t.name) for t in recorded_topics()]
        return Selection(generic_answer(topics, w, thinking), "no topic")
    note = recorded_note(topic.meta.get("topic", topic.name), asked)
    has_thinking = "thinking" in topic.block_types()
    reason = f"topic {topic.name}"
    if thinking and not has_thinking:
        return Selection(with_thinking(topic, note, w), reason)
    if (has_thinking and not thinking) or (chunk is not None and not has_thinking):
        return Selection(text_only(topic, note, w), reason)
    return Selection(noted(topic, note), reason)
