"""What a Messages request asks: its last messages, their blocks, the question's text.

Selection and the generated answers both read the request through these, so "the
question" means the same thing everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["blocks", "is_continuation", "last", "question", "quote"]


def last(messages: Sequence[Any], role: str | None = None) -> Mapping[str, Any] | None:
    """The last message (if it has ``role``, when given)."""
    if not messages or not isinstance(messages[-1], Mapping):
        return None
    message = messages[-1]
    return message if role is None or message.get("role") == role else None


def blocks(message: Mapping[str, Any] | None, kind: str) -> list[Mapping[str, Any]]:
    """The content blocks of ``message`` whose type is ``kind``."""
    content = message.get("content") if message else None
    if not isinstance(content, list):
        return []
    return [b for b in content if isinstance(b, Mapping) and b.get("type") == kind]


def is_continuation(messages: Sequence[Any]) -> str | None:
    """``tool_result`` or ``pause_turn`` when the request continues a turn, else None."""
    if blocks(last(messages, "user"), "tool_result"):
        return "tool_result"
    if blocks(last(messages, "assistant"), "server_tool_use"):
        return "pause_turn"
    return None


def question(body: Mapping[str, Any]) -> str:
    """The text of the last user message (its text blocks; tool results left out), with
    runs of whitespace collapsed: what an offline answer is tied to."""
    messages = body.get("messages") or []
    content: Any = None
    for message in reversed(messages if isinstance(messages, list) else []):
        if isinstance(message, Mapping) and message.get("role") == "user":
            content = message.get("content")
            break
    if isinstance(content, str):
        text = content
    elif isinstance(content, list):
        text = " ".join(
            str(b.get("text", ""))
            for b in content
            if isinstance(b, Mapping) and b.get("type") == "text"
        )
    else:
        text = ""
    return " ".join(text.split())


def quote(text: str, limit: int = 240) -> str:
    """``text`` cut to about ``limit`` characters, keeping its start and its end (the part
    that tells one DataFrame row's prompt from the next is often at the end)."""
    if len(text) <= limit:
        return text
    tail = limit // 3
    return text[: limit - tail - 1].rstrip() + " … " + text[-tail:].lstrip()
