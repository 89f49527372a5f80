"""Message params for the next request, built from what a run streamed.

One home for turning SDK content blocks back into API params (thinking signatures kept
untouched, so multi-turn thinking with tools stays valid) and for joining turns: the tool
loop, :meth:`Result.to_messages` and chats all build histories with these.
"""

from __future__ import annotations

from typing import Any


def block_param(block: Any) -> dict[str, Any]:
    """A content block as it must be sent back (thinking signatures included, untouched)."""
    data = block.to_dict() if hasattr(block, "to_dict") else dict(block)
    if data.get("type") == "text":
        data.pop("parsed_output", None)
        if not data.get("citations"):
            data.pop("citations", None)
    return data


def assistant_param(message: Any) -> dict[str, Any]:
    """An SDK ``Message`` (final or partial) as the assistant turn of a history."""
    return {"role": "assistant", "content": [block_param(b) for b in message.content]}


def append_message(messages: list[dict[str, Any]], message: dict[str, Any]) -> None:
    """Append, merging into the previous message when the role repeats (a paused turn and
    its continuation are one assistant turn)."""
    if messages and messages[-1]["role"] == message["role"]:
        prev = messages[-1]
        content = (
            prev["content"]
            if isinstance(prev["content"], list)
            else [{"type": "text", "text": prev["content"]}]
        )
        messages[-1] = {"role": prev["role"], "content": [*content, *message["content"]]}
    else:
        messages.append(message)
