"""claude_nb: talk to Claude from Jupyter with the ``%%claude`` cell magic.

``%load_ext claude_nb`` registers the magic. ``claude_nb.show(stream)`` renders any SDK
stream you opened yourself; ``@claude_nb.tool`` registers a function Claude may call;
``claude_nb.offline_url()`` is the address of the offline server ``%claude offline``
uses, and ``claude_nb.offline.start()`` runs one of your own.
"""

from __future__ import annotations

import importlib
import typing

if typing.TYPE_CHECKING:
    from claude_nb.errors import (
        ClaudeNbError,
        DeadlineExceeded,
        EventTooLargeError,
        InputError,
        MalformedStreamError,
        MissingKeyError,
        PromptError,
        RunError,
        RunFailed,
        RunInterrupted,
        StreamError,
        UsageError,
    )
    from claude_nb.notebook.magic import offline_url
    from claude_nb.notebook.result import Result, ToolCall
    from claude_nb.notebook.tools import tool
    from claude_nb.views import ViewMode

__version__ = "0.1.0"
__all__ = [
    "ClaudeNbError",
    "DeadlineExceeded",
    "EventTooLargeError",
    "InputError",
    "MalformedStreamError",
    "MissingKeyError",
    "PromptError",
    "Result",
    "RunError",
    "RunFailed",
    "RunInterrupted",
    "StreamError",
    "ToolCall",
    "UsageError",
    "load_ipython_extension",
    "offline",
    "offline_url",
    "sdk",
    "show",
    "tool",
]

# Exported names that live in sub-modules, imported on first use so that `import
# claude_nb` (and `claude_nb.offline`) stays light and import-order safe. One per line.
_LAZY = {
    "ClaudeNbError": "claude_nb.errors",
    "DeadlineExceeded": "claude_nb.errors",
    "EventTooLargeError": "claude_nb.errors",
    "InputError": "claude_nb.errors",
    "MalformedStreamError": "claude_nb.errors",
    "MissingKeyError": "claude_nb.errors",
    "PromptError": "claude_nb.errors",
    "RunError": "claude_nb.errors",
    "RunFailed": "claude_nb.errors",
    "RunInterrupted": "claude_nb.errors",
    "StreamError": "claude_nb.errors",
    "UsageError": "claude_nb.errors",
    "Result": "claude_nb.notebook.result",
    "ToolCall": "claude_nb.notebook.result",
    "offline_url": "claude_nb.notebook.magic",
    "tool": "claude_nb.notebook.tools",
}


def show(stream: typing.Any, *, view: ViewMode = "auto") -> Result:
    """Render a stream you opened yourself, live, and return its :class:`Result`.

    ::

        with client.messages.stream(model=..., max_tokens=..., messages=...) as s:
            result = claude_nb.show(s)

    A raw ``client.messages.create(..., stream=True)`` stream works too (it is
    accumulated once, by claude_nb, with the SDK's own accumulator).

    ``view``: ``auto`` (the live widget in Jupyter, text in a terminal), ``widget``,
    ``display``, ``plain`` or ``quiet``. Errors mid-stream (an ``error`` event, a dropped
    connection, an interrupt) are shown in the footer and recorded on the result instead
    of raised; the partial answer stays.
    """
    from claude_nb.notebook.runner import Run

    run = Run(view=view)
    run.show_stream(stream)
    return run.close()


def load_ipython_extension(shell: typing.Any) -> None:
    """``%load_ext claude_nb``."""
    from claude_nb.notebook.magic import load_ipython_extension as load

    load(shell)


def __getattr__(name: str) -> typing.Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in ("offline", "sdk"):  # sub-packages a user reaches for: claude_nb.sdk.MODELS
        return importlib.import_module(f"claude_nb.{name}")
    raise AttributeError(f"module 'claude_nb' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
