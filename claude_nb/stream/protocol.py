"""The Messages API streaming protocol's names, in the order the stream sends them."""

from __future__ import annotations

# The events a message is built from (what the SDK's accumulator folds); besides them a
# stream may carry ``ping`` and ``error``.
MESSAGE_EVENTS = (
    "message_start",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
)
# ``delta.type`` of a ``content_block_delta``.
DELTA_TYPES = (
    "text_delta",
    "thinking_delta",
    "signature_delta",
    "input_json_delta",
    "citations_delta",
)
