"""A finished ``Message`` as the stream events that build it again.

The answer cache stores final messages, not wire bytes; to show a cached answer, its
message is turned back into events and fed through the same state step and views as a
live one, so a replayed answer renders exactly as it did. Each block arrives whole in its
``content_block_start`` (as server tool results always do), which the SDK's accumulator
and the layout both handle: the accumulated message equals the original.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

_STOP_FIELDS = ("stop_reason", "stop_sequence", "stop_details")


def message_events(message: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """``message_start`` … ``message_stop`` for ``message`` (a ``Message`` as JSON)."""
    start = {k: v for k, v in message.items() if k != "content" and k not in _STOP_FIELDS}
    start.update(content=[], **dict.fromkeys(_STOP_FIELDS))
    yield {"type": "message_start", "message": start}
    for index, block in enumerate(message.get("content") or []):
        yield {"type": "content_block_start", "index": index, "content_block": dict(block)}
        yield {"type": "content_block_stop", "index": index}
    delta = {k: message.get(k) for k in _STOP_FIELDS}
    if message.get("container") is not None:
        delta["container"] = message["container"]
    yield {"type": "message_delta", "delta": delta, "usage": dict(message.get("usage") or {})}
    yield {"type": "message_stop"}
