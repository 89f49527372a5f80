"""What a Messages request asks: its last messages, their blocks, the question's text.

Selection and the generated answers both read the request through these, so "the
question" means the same thing everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["blocks", "is_continuation", "last"]


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
