"""claude_nb: talk to Claude from Jupyter with the ``%%claude`` cell magic.

``%load_ext claude_nb`` registers the magic. ``claude_nb.show(stream)`` renders any SDK
stream you opened yourself; ``@claude_nb.tool`` registers a function Claude may call;
``claude_nb.offline.start()`` runs the built-in offline Messages API server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from claude_nb.errors import (  # noqa: F401 (exported lazily, through __getattr__)
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
    from claude_nb.notebook.result import Result, ToolCall
    from claude_nb.notebook.tools import tool

__version__ = "0.1.0"
_ERRORS = (
    "ClaudeNbError",
    "DeadlineExceeded",
    "EventTooLargeError",
    "InputError",
    "MalformedStreamError",
    "MissingKeyError",
    "PromptError",
    "RunError",
    "RunFailed",
    "RunInterrupted",
    "StreamError",
    "UsageError",
)
__all__ = ["Result", "ToolCall", *_ERRORS, "load_ipython_extension", "show", "tool"]


def show(stream: Any, *, view: str = "auto") -> Result:
    """Render a ``MessageStream`` you opened yourself, live, and return its :class:`Result`.

    ::

        with client.messages.stream(model=..., max_tokens=..., messages=...) as s:
            result = claude_nb.show(s)

    Errors mid-stream (an ``error`` event, a dropped connection, an interrupt) are shown
    in the footer and recorded on the result instead of raised; the partial answer stays.
    """
    from claude_nb.notebook.runner import Run

    run = Run(view=view)
    run.show_stream(stream)
    return run.close()


def __getattr__(name: str) -> Any:
    # Lazy: `import claude_nb` (and `claude_nb.offline`) stays light and import-order safe.
    if name in ("Result", "ToolCall"):
        from claude_nb.notebook import result

        return getattr(result, name)
    if name == "tool":
        from claude_nb.notebook.tools import tool

        return tool
    if name in _ERRORS:
        from claude_nb import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'claude_nb' has no attribute {name!r}")


def load_ipython_extension(shell: Any) -> None:
    """``%load_ext claude_nb``."""
    from claude_nb.notebook.magic import load_ipython_extension as load

    load(shell)
