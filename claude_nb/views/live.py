"""The kernel half of the live view: turns layout changes into widget patches.

The browser half is :mod:`claude_nb.views.widget`. When the run ends, the widget's output is
replaced in place (display handle update) by the static bundle and the widget is
closed, so a saved notebook keeps plain HTML and no widget state.
"""

from __future__ import annotations

import json
import time
from typing import Any

from IPython.display import display

from claude_nb.render.header import footer_html, header_html
from claude_nb.render.segments import Layout, MarkdownRun, Op
from claude_nb.stream.state import Change, RunState
from claude_nb.views.jupyter import close_widgets
from claude_nb.views.widget import LiveWidget

# Seconds after display at which the whole view is re-sent once, for a browser that
# loaded the widget's code late and so missed the first patches; skipped once the view
# is big (the browser has long loaded the code by then, and resending would cost O(n)).
CHECKPOINTS = (0.25, 1.0)
CHECKPOINT_MAX_CHARS = 64_000


class LiveView:
    """Shows a run in a :class:`LiveWidget`; ``paint`` sends what changed since last time."""

    def __init__(self, state: RunState, layout: Layout) -> None:
        self.state = state
        self.layout = layout
        self.widget: LiveWidget | None = None
        self.handle: Any = None
        self.seq = 0
        self.sent_header = ""
        self.sent_footer = ""
        self.clock_running: bool | None = None
        self.shown_at = 0.0
        self.checkpoints = list(CHECKPOINTS)
        self.checkpoint_seq = 0
        self.extras: list[Any] = []  # set by the Run: their widgets sit beside the answer
        self.box: Any = None

    # View protocol --------------------------------------------------------------------

    def start(self) -> None:
        self.widget = LiveWidget()
        self.widget.checkpoint = self._checkpoint()
        side = [w for w in (x.widget() for x in self.extras) if w is not None]
        if side:
            import ipywidgets

            self.widget.layout.flex = "1 1 55%"
            self.box = ipywidgets.HBox([self.widget, *side], layout=ipywidgets.Layout(width="100%"))
            self.handle = display(self.box, display_id=True)
        else:
            self.handle = display(self.widget, display_id=True)
        self.shown_at = time.perf_counter()

    def changed(self, change: Change) -> None:
        """Reducer changes are already in the layout; nothing to do until the next paint."""

    def paint(self) -> None:
        ops = self._ops()
        if ops and self.widget is not None:
            self.seq += 1
            message = {"cnb": 1, "seq": self.seq, "ops": ops}
            self.widget.send(message)
        if self.checkpoints and time.perf_counter() - self.shown_at >= self.checkpoints[0]:
            while self.checkpoints and time.perf_counter() - self.shown_at >= self.checkpoints[0]:
                self.checkpoints.pop(0)
            if (
                self.widget is not None
                and self.seq != self.checkpoint_seq
                and self.size() <= CHECKPOINT_MAX_CHARS
            ):
                self.widget.checkpoint = self._checkpoint()
                self.checkpoint_seq = self.seq

    def close(self, bundle: dict[str, str] | None) -> None:
        """Replace the widget by the static output (if any) and free the widget."""
        if self.handle is not None and bundle is not None:
            self.handle.update(bundle, raw=True)
        if self.widget is not None:
            # nbclient keeps the last state of every widget it saw, closed or not:
            # leave it nothing big to store (the view is already replaced by now).
            self.widget.checkpoint = ""
            self.widget._esm = "export default {};"
            self.widget._css = ""
            close_widgets(self.widget, self.box)
            self.widget = self.box = None

    def size(self) -> int:
        return self.layout.text_chars()

    # Internals ------------------------------------------------------------------------

    def _header(self) -> str:
        return header_html(self.state, pid="hdr", clock=True)

    def _footer(self) -> str:
        # While streaming, only what is final is shown (input tokens, time to first token);
        # the full footer comes with the static output.
        if not self.state.status.finished and self.state.error is None:
            return ""
        return footer_html(self.state)

    def _ops(self) -> list[Op]:
        ops: list[Op] = []
        header = self._header()
        if header != self.sent_header:
            ops.append(["set", "hdr", header])
            self.sent_header = header
        running = not self.state.status.finished
        if running != self.clock_running:
            ops.append(["clock", round(self.state.elapsed, 3), running])
            self.clock_running = running
        for seg in self.layout.segments:
            if not seg.shown:
                ops.append(["add", "body", seg.live_html()])
                seg.mark_shown()
                ops.extend(seg.ops())
            elif seg.dirty:
                ops.extend(seg.ops())
        footer = self._footer()
        if footer != self.sent_footer:
            ops.append(["set", "ftr", footer])
            self.sent_footer = footer
        return ops

    def _checkpoint(self) -> str:
        """The whole view as it stands after the last patch (every segment is in sync)."""
        body = "".join(seg.checkpoint_html() for seg in self.layout.segments if seg.shown)
        tails = {
            f"{seg.pid}.t": seg.sent_tail
            for seg in self.layout.segments
            if isinstance(seg, MarkdownRun) and seg.shown
        }
        html = (
            f'<div data-cnb="hdr">{self.sent_header or self._header()}</div>'
            f'<div data-cnb="body">{body}</div>'
            f'<div data-cnb="ftr">{self.sent_footer}</div>'
        )
        clock = [round(self.state.elapsed, 3), not self.state.status.finished]
        return json.dumps({"seq": self.seq, "html": html, "tails": tails, "clock": clock})


def is_live(run: Any) -> bool:
    """Only the widget view shows widgets (terminal, display and quiet views do not)."""
    return isinstance(run.view, LiveView)
