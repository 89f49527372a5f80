"""Answers the offline backend writes for one request, tied visibly to its question.

* A recorded answer chosen by topic gets a first line saying so and quoting the question
  (:func:`noted`), so a reader never mistakes it for an answer to *their* question.
* A question no recording covers gets :func:`generic_answer`: it says so and quotes it.
* Tool calls take their inputs from the question (:mod:`claude_nb.offline.schema_values`);
  the turn after the tool results quotes them (:func:`followup_transcript`).
* A structured-output request gets JSON that fits its schema (:func:`json_answer`).

Everything here is deterministic: the chunking and ids come from a seed derived from the
question, so the same request always streams the same answer.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from claude_nb.offline.builder import TranscriptBuilder
from claude_nb.offline.format import Transcript, make_event
from claude_nb.offline.prompt import blocks, quote
from claude_nb.offline.schema_values import Question, fill_object
from claude_nb.offline.tokens import estimate_output_tokens

__all__ = [
    "Writer",
    "followup_transcript",
    "generic_answer",
    "json_answer",
    "noted",
    "seed_for",
    "text_only",
    "tool_use_transcript",
    "with_thinking",
]

OFFLINE_ONLINE_HINT = "For a real answer, set `ANTHROPIC_API_KEY` and run `%claude online`."


def seed_for(*parts: str) -> int:
    """A stable seed (same on every run, unlike ``hash``) for a request's answer."""
    return zlib.crc32("\n".join(parts).encode())


def _asked(question: str) -> str:
    return f"you asked: “{quote(question)}”" if question else "your message had no text"


def recorded_note(topic: str, question: str) -> str:
    """The first line of a recorded answer served for a question it was not written for."""
    return f"> Offline answer, recorded for questions about **{topic}** · {_asked(question)}\n\n"


def noted(transcript: Transcript, note: str) -> Transcript:
    """``transcript`` with ``note`` streamed first in its first text block (one more
    ``text_delta``, output tokens updated); every other event keeps its wire bytes."""
    events, frames = list(transcript.events), list(transcript.frames())
    starts = [
        i
        for i, e in enumerate(events)
        if e.event == "content_block_start" and e.data["content_block"].get("type") == "text"
    ]
    if not starts:
        return transcript
    at = starts[0] + 1
    if at < len(events) and events[at].event == "ping":
        at += 1
    index = events[starts[0]].data["index"]
    delta = make_event(
        {
            "type": "content_block_delta",
            "index": index,
            "delta": {"type": "text_delta", "text": note},
        }
    )
    events.insert(at, delta)
    frames.insert(at, delta.frame())
    chars = transcript.content_chars() + len(note)
    for i, event in enumerate(events):
        if event.event == "message_delta" and "output_tokens" in (event.data.get("usage") or {}):
            data = json.loads(event.raw)
            data["usage"]["output_tokens"] = estimate_output_tokens(chars)
            events[i] = make_event(data, t=event.t)
            frames[i] = events[i].frame()
    return Transcript(
        name=transcript.name,
        events=events,
        description=transcript.description,
        followup=transcript.followup,
        source=transcript.source,
        meta=transcript.meta,
        _frames=frames,
        _content_chars=chars,
    )


@dataclass(frozen=True)
class Writer:
    """Who answers what: the request's model and question, and how finely to cut deltas
    (``chunk``: a delta size or a (min, max) range; a batch result needs no fine cuts)."""

    model: str
    question: str
    chunk: int | tuple[int, int] = (1, 12)

    def builder(self, salt: str, seed_text: str | None = None) -> TranscriptBuilder:
        seed = seed_for(salt, self.question if seed_text is None else seed_text)
        return TranscriptBuilder(model=self.model, seed=seed, chunk=self.chunk)


def _thinking_text(question: str, plan: str) -> str:
    return f"The question is “{quote(question, 160)}”. {plan}"


def text_only(transcript: Transcript, note: str, w: Writer) -> Transcript:
    """A recorded answer's text, rebuilt (without its thinking when it had some)."""
    builder = w.builder(transcript.name)
    builder.text(note + transcript.text())
    builder.stop("end_turn")
    return builder.build(transcript.name, transcript.description)


def with_thinking(transcript: Transcript, note: str, w: Writer) -> Transcript:
    """A recorded text answer after a short generated thinking block (thinking was asked for)."""
    builder = w.builder(transcript.name)
    topic = transcript.meta.get("topic", transcript.name)
    builder.thinking(_thinking_text(w.question, f"I have a recorded answer about {topic}."))
    builder.text(note + transcript.text())
    builder.stop("end_turn")
    return builder.build(transcript.name, transcript.description)


def generic_answer(topics: Sequence[str], w: Writer, thinking: bool) -> Transcript:
    """The honest answer to a question no recording covers: say so, quote the question."""
    listed = ", ".join(topics)
    text = (
        f"> Offline answer: no recorded answer matches this question · {_asked(w.question)}\n\n"
        "claude_nb's offline backend answers from a few recorded examples"
        f"{f' ({listed})' if listed else ''}, chosen by the words of the question. "
        + OFFLINE_ONLINE_HINT
    )
    builder = w.builder("generic")
    if thinking:
        builder.thinking(_thinking_text(w.question, "No recorded answer covers it; say so."))
    builder.text(text)
    builder.stop("end_turn")
    return builder.build("generated:generic", "no recorded answer matches: says so, quotes it")


def json_answer(
    schema: Mapping[str, Any],
    w: Writer,
    thinking: bool,
    spoil: Callable[[dict[str, Any], Mapping[str, Any]], str] | None = None,
    source: str | None = None,
) -> Transcript:
    """Structured output: one text block of JSON that fits ``schema``, values taken from
    ``source`` (the question by default; ``spoil`` makes it not fit, for testing)."""
    source = w.question if source is None else source
    value = fill_object(schema, Question(source), complete=True)
    text = spoil(value, schema) if spoil else json.dumps(value, ensure_ascii=False)
    builder = w.builder("json", source)
    if thinking:
        builder.thinking(_thinking_text(w.question, "Answer with JSON that fits the schema."))
    builder.text(text)
    builder.stop("end_turn")
    return builder.build("generated:json", "structured output: JSON that fits the schema")


def tool_use_transcript(tools: Sequence[Mapping[str, Any]], w: Writer) -> Transcript:
    """A tool_use turn: a sentence, then one call per tool, inputs from the question."""
    builder = w.builder("tool_use")
    names = [str(t.get("name", "tool")) for t in tools]
    if len(names) == 1:
        intro = f"I'll use the `{names[0]}` tool to look that up."
    else:
        intro = f"I'll call `{names[0]}` and `{names[1]}` in parallel."
    builder.text(intro)
    q = Question(w.question)
    for tool in tools:
        schema = tool.get("input_schema")
        builder.tool_use(
            str(tool.get("name", "tool")),
            fill_object(schema if isinstance(schema, Mapping) else {}, q),
        )
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


def tool_results_text(messages: Sequence[Any], results: Sequence[Mapping[str, Any]]) -> str:
    """What the tools returned, one line each, naming the tools that failed."""
    names: dict[str, str] = {}
    if len(messages) >= 2 and isinstance(messages[-2], Mapping):
        for block in blocks(messages[-2], "tool_use"):
            names[str(block.get("id"))] = str(block.get("name", "tool"))
    lines = []
    for block in results:
        name = names.get(str(block.get("tool_use_id")), "tool")
        text = _result_text(block)
        if block.get("is_error"):
            lines.append(f"- The `{name}` tool failed: “{text or 'no details'}”")
        else:
            lines.append(f"- **{name}** returned: “{text or '(empty result)'}”")
    return "\n".join(lines)


def followup_transcript(
    messages: Sequence[Any], results: Sequence[Mapping[str, Any]], w: Writer
) -> Transcript:
    """The turn after tool results: quotes each result and says which tools failed."""
    found = tool_results_text(messages, results)
    text = "\n".join(
        [
            "Here is what I found:",
            "",
            found,
            "",
            "Let me know if you would like me to dig deeper into any of these.",
        ]
    )
    builder = w.builder("followup", found)
    builder.text(text)
    builder.stop("end_turn")
    return builder.build("generated:tool_followup", "follow-up turn quoting the tool results")
