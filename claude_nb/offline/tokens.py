"""Token estimates for the offline backend: about four characters a token, like English text.

One home for the arithmetic every offline figure uses: ``usage`` in answers, count_tokens,
prompt-cache accounting (which needs the same count per block, so a prefix's tokens add
up to the whole request's) and rate limits.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = [
    "IMAGE_TOKENS",
    "TOOL_SYSTEM_TOKENS",
    "block_chars",
    "estimate_input_tokens",
    "estimate_output_tokens",
    "prompt_parts",
]

IMAGE_TOKENS = 1500
"""An image, whatever its size (a 1000x1000 px image costs about this much)."""
TOOL_SYSTEM_TOKENS = 300
"""The system prompt the API adds when tools are offered."""


def estimate_output_tokens(chars: int) -> int:
    """Output tokens for ``chars`` characters of streamed content (~4 chars a token)."""
    return max(1, math.ceil(chars / 4)) if chars > 0 else 0


def block_chars(block: Any) -> tuple[int, int]:
    """(characters, images) of one content block, for the input token estimate."""
    if isinstance(block, str):
        return len(block), 0
    if not isinstance(block, Mapping):
        return 0, 0
    kind = block.get("type")
    if kind == "text":
        return len(str(block.get("text", ""))), 0
    if kind == "image":
        return 0, 1
    if kind == "document":
        source = block.get("source") or {}
        if source.get("type") == "text":
            return len(str(source.get("data", ""))), 0
        return 0, 2
    if kind == "tool_result":
        content = block.get("content")
        if isinstance(content, list):
            chars = images = 0
            for item in content:
                c, i = block_chars(item)
                chars, images = chars + c, images + i
            return chars, images
        return len(str(content or "")), 0
    if kind == "thinking":
        return len(str(block.get("thinking", ""))), 0
    if kind in ("tool_use", "server_tool_use"):
        return len(str(block.get("name", ""))) + len(json.dumps(block.get("input", {}))), 0
    return len(json.dumps(block, default=str)), 0


def prompt_parts(body: Mapping[str, Any]) -> Iterator[tuple[str, Any, float]]:
    """The request's prompt in the order the API reads it (tools, system, messages), as
    ``(kind, part, tokens)``; the tokens add up to :func:`estimate_input_tokens`.

    ``kind`` is ``tool``, ``system``, ``message`` (a string content or a content block)
    or ``overhead`` (the tool system prompt, per-message framing and the fixed 4).
    """
    tools = body.get("tools") or []
    if isinstance(tools, list) and tools:
        yield "overhead", None, float(TOOL_SYSTEM_TOKENS)
        for tool in tools:
            yield "tool", tool, len(json.dumps(tool, default=str)) / 4
    system = body.get("system")
    if isinstance(system, str):
        yield "system", system, len(system) / 4
    elif isinstance(system, list):
        for block in system:
            yield "system", block, _tokens(block)
    messages = body.get("messages") or []
    for message in messages if isinstance(messages, list) else []:
        yield "overhead", None, 3.0
        content = message.get("content") if isinstance(message, Mapping) else None
        if isinstance(content, str):
            yield "message", content, len(content) / 4
        elif isinstance(content, list):
            for block in content:
                yield "message", block, _tokens(block)
    yield "overhead", None, 4.0


def _tokens(block: Any) -> float:
    chars, images = block_chars(block)
    return chars / 4 + IMAGE_TOKENS * images


def estimate_input_tokens(body: Mapping[str, Any]) -> int:
    """Plausible ``input_tokens`` for a request: ~chars/4 of system, messages and tools.

    Images count ``IMAGE_TOKENS`` each, binary documents twice that; offering tools adds
    ``TOOL_SYSTEM_TOKENS`` (the API's tool-use system prompt). Also backs count_tokens.
    """
    return max(1, math.ceil(sum(tokens for _, _, tokens in prompt_parts(body))))
