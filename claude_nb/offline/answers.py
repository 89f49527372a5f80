"""Answers the offline backend writes for a request instead of replaying a recording."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from claude_nb.offline.builder import TranscriptBuilder
from claude_nb.offline.format import Transcript
from claude_nb.offline.prompt import blocks

__all__ = ["example_object", "example_value", "followup_transcript", "tool_use_transcript"]


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


def tool_use_transcript(
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
        schema = tool.get("input_schema")
        schema = schema if isinstance(schema, Mapping) else {}
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


def followup_transcript(
    messages: Sequence[Any], results: Sequence[Mapping[str, Any]], model: str, seed: int | None
) -> Transcript:
    names: dict[str, str] = {}
    if len(messages) >= 2 and isinstance(messages[-2], Mapping):
        for block in blocks(messages[-2], "tool_use"):
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
