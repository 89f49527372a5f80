"""The display-update view: the static bundle re-sent through a display handle.

More bytes than the live widget (it re-sends the whole bundle a few times a second), but
it works in any front-end that renders HTML, with no widget manager.
"""

from __future__ import annotations

from typing import Any

from IPython.display import display

from claude_nb.render.segments import Layout
from claude_nb.stream.state import Change, RunState
from claude_nb.views.static import static_bundle


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
