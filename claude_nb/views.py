"""Choosing a view for where the code runs, and the display-update fallback view.

``auto``: the live widget in a Jupyter kernel, plain text in a terminal.
``widget`` / ``display`` / ``plain`` / ``quiet`` force one. ``display`` re-sends the
static bundle through a display handle a few times a second: more bytes than the
widget, but it works in any front-end that renders HTML (no widget manager needed).
"""

from __future__ import annotations

from typing import Any, Protocol

from IPython.display import display

from .segments import Layout
from .state import Change, RunState
from .static_view import static_bundle

VIEW_MODES = ("auto", "widget", "display", "plain", "quiet")


class View(Protocol):
    def start(self) -> None: ...
    def changed(self, change: Change) -> None: ...
    def paint(self) -> None: ...
    def close(self, bundle: dict[str, str] | None) -> None: ...
    def size(self) -> int: ...


class DisplayView:
    """The static bundle, updated in place through a display id."""

    min_interval = 0.25

    def __init__(self, state: RunState, layout: Layout) -> None:
        self.state = state
        self.layout = layout
        self.handle: Any = None

    def start(self) -> None:
        self.handle = display(static_bundle(self.state, self.layout), raw=True, display_id=True)

    def changed(self, change: Change) -> None:
        pass

    def paint(self) -> None:
        self.handle.update(static_bundle(self.state, self.layout), raw=True)

    def close(self, bundle: dict[str, str] | None) -> None:
        if bundle is not None:
            self.handle.update(bundle, raw=True)

    def size(self) -> int:
        return self.layout.text_chars()


def close_widgets(*widgets: Any) -> None:
    """Close ipywidgets and the helper widgets they own (``layout``, ``style``).

    A DOMWidget's Layout and a Button's or HTML's Style are widgets of their own: left
    open, their state stays in the kernel and in a notebook saved by nbclient.
    """
    for w in widgets:
        if w is None:
            continue
        parts = [getattr(w, "layout", None), getattr(w, "style", None)]
        w.close()
        for p in parts:
            if p is not None and hasattr(p, "close"):
                p.close()


def is_live(run: Any) -> bool:
    """Only the widget view shows widgets (terminal, display and quiet views do not)."""
    try:
        from .live_view import LiveView
    except ImportError:
        return False
    return isinstance(run.view, LiveView)


def in_kernel() -> bool:
    """True inside a Jupyter kernel (where a front-end may render widgets)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def make_view(mode: str, state: RunState, layout: Layout) -> View | None:
    if mode not in VIEW_MODES:
        raise ValueError(f"unknown view {mode!r}; choose one of {', '.join(VIEW_MODES)}")
    if mode == "quiet":
        return None
    if mode == "auto":
        mode = "widget" if in_kernel() else "plain"
    if mode == "widget":
        try:
            from .live_view import LiveView
        except ImportError:  # no anywidget/ipywidgets: fall back to display updates
            return DisplayView(state, layout)
        return LiveView(state, layout)
    if mode == "display":
        return DisplayView(state, layout)
    from .terminal_view import TerminalView

    return TerminalView(state, layout)
