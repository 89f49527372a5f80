"""Facts read off the installed ``anthropic`` SDK: one home, never a literal.

Model ids, effort levels, speeds and server-tool versions change between minor SDK
releases (2.15 dropped ``claude-sonnet-4-5``), so the magic's choices, its checks, the
offline server's model list and the tests all come from here, computed at import from
the SDK's own type hints and ``Messages.stream``'s signature.
"""

from __future__ import annotations

import inspect
import os
import typing
from typing import Any

from anthropic.resources.messages import Messages
from anthropic.types import Model, OutputConfigParam, ToolUnionParam


def literals(tp: Any) -> tuple[str, ...]:
    """Every string literal inside a (possibly Optional/Union/Annotated) type, in order, once."""
    out: list[str] = []
    for arg in typing.get_args(tp):
        out.extend([arg] if isinstance(arg, str) else literals(arg))
    return tuple(dict.fromkeys(out))


_STREAM_HINTS = typing.get_type_hints(Messages.stream)

STREAM_PARAMS = frozenset(inspect.signature(Messages.stream).parameters) - {"self"}
"""Keyword arguments ``client.messages.stream`` accepts."""
EFFORTS = literals(typing.get_type_hints(OutputConfigParam)["effort"])
"""``output_config.effort`` values."""
SPEEDS = literals(_STREAM_HINTS.get("speed"))
"""``speed`` values (``--fast`` sends ``"fast"`` when the SDK has it)."""
MODELS = literals(Model)
"""Every model id the SDK lists, in its order (newest first)."""


def _server_tool_type(prefix: str) -> str | None:
    """The newest ``type`` the SDK knows for a server tool, e.g. ``web_search_20260318``."""
    types = []
    for td in typing.get_args(ToolUnionParam):
        hints = typing.get_type_hints(td) if isinstance(td, type) else {}
        if "type" in hints:
            types.extend(t for t in literals(hints["type"]) if t.startswith(prefix))
    return max(types) if types else None


WEB_SEARCH_TYPE = _server_tool_type("web_search_")
WEB_FETCH_TYPE = _server_tool_type("web_fetch_")


def default_model() -> str:
    """``CLAUDE_NB_MODEL``, else the newest Sonnet alias the SDK lists (balanced cost and
    speed), else the SDK's first model."""
    env = os.environ.get("CLAUDE_NB_MODEL")
    if env:
        return env
    aliases = [m for m in MODELS if not m[-8:].isdigit()]  # not a dated snapshot id
    return next((m for m in aliases if m.startswith("claude-sonnet-")), (aliases or MODELS)[0])
