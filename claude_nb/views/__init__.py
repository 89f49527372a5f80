"""Views: what the user sees of a run, each owning what its front-end already has.

``auto``: the live widget in a Jupyter kernel, plain text in a terminal.
``widget`` / ``display`` / ``plain`` / ``quiet`` force one (:func:`make_view`).
"""

from __future__ import annotations

from typing import Literal, Protocol, get_args

from claude_nb.render.segments import Layout
from claude_nb.stream.state import Change, RunState
from claude_nb.views.display import DisplayView
from claude_nb.views.jupyter import in_kernel

ViewMode = Literal["auto", "widget", "display", "plain", "quiet"]
VIEW_MODES: tuple[ViewMode, ...] = get_args(ViewMode)


class View(Protocol):
    def start(self) -> None: ...
    def changed(self, change: Change) -> None: ...
    def paint(self) -> None: ...
    def close(self, bundle: dict[str, str] | None) -> None: ...
    def size(self) -> int: ...


def make_view(mode: str, state: RunState, layout: Layout) -> View | None:
    if mode not in VIEW_MODES:
        raise ValueError(f"unknown view {mode!r}; choose one of {', '.join(VIEW_MODES)}")
    if mode == "quiet":
        return None
    if mode == "auto":
        mode = "widget" if in_kernel() else "plain"
    if mode == "widget":
        try:
            from claude_nb.views.live import LiveView
        except ImportError:  # no anywidget/ipywidgets: fall back to display updates
            return DisplayView(state, layout)
        return LiveView(state, layout)
    if mode == "display":
        return DisplayView(state, layout)
    from claude_nb.views.terminal import TerminalView

    return TerminalView(state, layout)
