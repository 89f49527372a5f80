"""The Messages API streaming protocol's names and rules: the one home for each of them.

The state step, the result, the stepper, the inspector, the transcripts and the offline
server all read these tables instead of keeping their own copies.
"""

from __future__ import annotations

# The events a message is built from (what the SDK's accumulator folds), in the order the
# stream sends them; besides them a stream may carry ``ping`` and ``error``.
MESSAGE_EVENTS = (
    "message_start",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
)

# ``delta.type`` of a ``content_block_delta`` -> the field that carries its streamed
# content (``None``: the delta carries no streamed characters).
DELTA_FIELDS: dict[str, str | None] = {
    "text_delta": "text",
    "thinking_delta": "thinking",
    "signature_delta": None,
    "input_json_delta": "partial_json",
    "citations_delta": None,
}
DELTA_TYPES = tuple(DELTA_FIELDS)
# Only the deltas that carry streamed content, for code that measures or replays it.
CONTENT_FIELDS: dict[str, str] = {d: f for d, f in DELTA_FIELDS.items() if f is not None}

# ``delta.type`` -> the content block types it may be applied to (a delta sent to any
# other block is a malformed stream).
DELTA_BLOCKS: dict[str, frozenset[str]] = {
    "text_delta": frozenset({"text"}),
    "citations_delta": frozenset({"text"}),
    "thinking_delta": frozenset({"thinking"}),
    "signature_delta": frozenset({"thinking"}),
    "input_json_delta": frozenset({"tool_use", "server_tool_use", "mcp_tool_use"}),
}

# Content blocks that call a tool: ours (``tool_use``), the API's (``server_tool_use``), an
# MCP server's (``mcp_tool_use``, beta). Their input streams as ``input_json_delta``.
TOOL_BLOCKS = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})
THINKING_BLOCKS = frozenset({"thinking", "redacted_thinking"})

# Events a ``MessageStream`` (``client.messages.stream``) synthesises right after the raw
# event they come from; they repeat what it carries.
HELPER_EVENTS = frozenset({"text", "thinking", "signature", "input_json", "citation"})

# HTTP statuses the SDK retries (besides every status >= 500), as the API documents them.
RETRYABLE_STATUSES = frozenset({408, 409, 429})


def is_retryable(status: int) -> bool:
    """True for a status the SDK retries (and the API marks ``x-should-retry: true``)."""
    return status in RETRYABLE_STATUSES or status >= 500
