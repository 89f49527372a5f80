"""``%%claude --step``: advance a live stream one event per click.

Why it works this way: while a cell runs the kernel is busy, and a kernel handles comm
messages (button clicks included) only between cells, when it is idle. A cell that
waited for clicks would never see one. So :func:`run_stepwise` opens the stream (the
request is sent, the response starts arriving), shows the live view and a small control
bar, and *returns*: the cell finishes and the HTTP response stays open. Each click is
then handled by the idle kernel: it pulls the next event(s) from the open stream's
iterator (which blocks only until the next event has arrived), feeds each through the
same reducer path as a normal run (:meth:`claude_nb.notebook.runner.Run.step`), paints, and shows
the event's exact wire text and JSON. At ``message_stop``, an ``error`` event or the end
of the body the stream is closed, the static output replaces the live view, and
``on_done`` binds ``_claude`` like any other run.

Only one stepper is open at a time: a new ``%%claude`` (or re-running the cell) abandons
the previous one, and closing its run closes its HTTP connection, so nothing is left
holding a socket. Without widgets (no Jupyter front-end) the same object can be driven
from code: ``claude_nb.teaching.step.active().advance(5)``, ``.run_to_end()``.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable
from typing import Any

import anthropic

from claude_nb.errors import RunError, RunFailed
from claude_nb.notebook.result import Result
from claude_nb.notebook.runner import Run
from claude_nb.render.html import MUTED, PRE_STYLE, esc, fmt_secs
from claude_nb.render.safe import plain_text
from claude_nb.render.visible import visible_text
from claude_nb.stream.protocol import HELPER_EVENTS
from claude_nb.stream.state import Change, Outcome, malformed_by_sdk
from claude_nb.views.jupyter import close_widgets

END_EVENTS = frozenset({"message_stop"})

_active: Stepper | None = None


def active() -> Stepper | None:
    """The stepper waiting for clicks, if any."""
    return _active


def close_active() -> None:
    """Abandon the open stepper (a new request is starting): close its stream and view."""
    global _active
    stepper, _active = _active, None
    if stepper is not None:
        stepper.abandon()


def run_stepwise(
    run: Run, client: anthropic.Anthropic, request: dict[str, Any], on_done: Callable[[Result], Any]
) -> Stepper:
    """Open the stream, show the view and the control bar, and return at once (see above)."""
    global _active
    close_active()
    run.deadline = None  # a person sets the pace here: no overall deadline
    stepper = Stepper(run, client, request, on_done)
    _active = stepper
    stepper.open()
    return stepper


class Stepper:
    """One stream advanced by clicks; also a run extra, so ``run.close()`` closes its stream."""

    def __init__(
        self,
        run: Run,
        client: anthropic.Anthropic,
        request: dict[str, Any],
        on_done: Callable[[Result], Any],
    ) -> None:
        self.run = run
        self.client = client
        self.request = request
        self.on_done = on_done
        self.manager: Any = None  # the SDK's MessageStreamManager (context manager)
        self.stream: Any = None
        self.iterator: Any = None
        self.pushback: Any = None
        self.events = 0  # raw events stepped through
        self.frame_pos = 0  # next wire frame to match with an event
        self.frames: list[Any] = []  # the current event's wire frames (pings before it included)
        self.pings = 0
        self.finished = False
        self.result: Result | None = None
        self.message = ""  # the last status line shown in the bar
        self.handle: Any = None
        self.bar: Any = None
        self.buttons: list[Any] = []
        self.label: Any = None
        self.detail: Any = None
        self.row: Any = None

    # Extra protocol (the run calls these) ---------------------------------------------

    def widget(self) -> None:
        return None  # the control bar is shown above the view, not beside it

    def changed(self, change: Change) -> None:
        pass

    def paint(self) -> None:
        pass

    def static_html(self) -> str:
        return ""

    def close(self) -> None:
        """The run is closing: free the HTTP connection."""
        self._close_stream()

    # Opening --------------------------------------------------------------------------

    def open(self) -> None:
        run = self.run
        run.extras.append(self)
        self._show_bar()
        run.begin_turn()
        # A MessageStream on purpose: teaching mode shows the events the SDK synthesises.
        with run.guard(), run.in_flight():  # the wire tap and the retry hook find this run
            run.check_deadline()
            self.manager = self.client.messages.stream(**self.request)
            self.stream = self.manager.__enter__()
            self.iterator = iter(self.stream)
        if run.state.outcome is not None:
            self._finish(in_cell=True)
            return
        run.painter.flush()
        self._say(
            "Connected: the response is streaming in. Click “Next event ▶” to process one event."
        )

    # Stepping -------------------------------------------------------------------------

    def advance(self, count: int = 1) -> list[Any]:
        """Process the next ``count`` raw events (fewer at the end); returns them."""
        done: list[Any] = []
        if self.finished or self.iterator is None:
            return done
        helpers: list[Any] = []
        event = None
        with self.run.guard():
            for _ in range(count):
                event, helpers = self._next()
                if event is None:
                    break
                done.append(event)
                if event.type in END_EVENTS:
                    break
        self.run.painter.flush()
        if event is not None:
            self._show_event(event, helpers)
        if event is None or event.type in END_EVENTS or self.run.state.outcome is not None:
            self._finish(in_cell=False)
        return done

    def run_to_end(self) -> None:
        """Process every remaining event (painting at the normal rate) and finish."""
        while not self.finished:
            self.advance(100)

    def _pull(self) -> Any:
        if self.pushback is not None:
            event, self.pushback = self.pushback, None
            return event
        try:
            return next(self.iterator, None)
        except Exception as exc:
            malformed = malformed_by_sdk(exc)  # the MessageStream's own accumulator choked
            if malformed is None:
                raise
            raise malformed from exc

    def _next(self) -> tuple[Any, list[Any]]:
        """The next raw event, through the state step, with the SDK helper events it produced
        (the state step skips those: they repeat what the raw event carries)."""
        event = self._pull()
        while event is not None and event.type in HELPER_EVENTS:  # left over: skip
            event = self._pull()
        if event is None:
            return None, []
        self.run.step(event)
        self.events += 1
        self.frames, self.pings = self._frames_for(event)
        helpers = []
        if event.type == "content_block_delta":
            # The SDK yields its helper event (text, input_json...) right after the delta,
            # from the same read: pulling it does not wait for the network.
            follower = self._pull()
            if follower is not None and follower.type in HELPER_EVENTS:
                helpers.append(follower)
            else:
                self.pushback = follower
        return event, helpers

    # Ending ---------------------------------------------------------------------------

    def _finish(self, in_cell: bool) -> None:
        """Close the stream, replace the live view by the static output, bind the result."""
        global _active
        if self.finished:
            return
        self.finished = True
        if _active is self:
            _active = None
        self._close_stream()
        run = self.run
        run.turn_ended()  # a stream that just stopped, without message_stop, is dropped
        self.result = run.close()
        out = io.StringIO()
        failure: RunFailed | None = None
        try:
            with contextlib.redirect_stdout(out):
                self.on_done(self.result)
        except RunFailed as exc:  # the run failed or was interrupted: say it here
            failure = exc
        printed = out.getvalue().strip()
        note = f"Done: {self.events} events stepped through; the result is bound to <code>_claude</code>."
        if failure is not None:
            note = f"<span style='color:#dc2626'>✖ {esc(failure.error.line())}</span> ({self.events} events; <code>_claude</code> holds the partial answer)"
        if printed:
            note += f"<br>{esc(printed)}"
        self._replace_bar(note)
        if failure is not None and in_cell:
            raise failure

    def abandon(self) -> None:
        """A new request started before this one finished: stop it where it is."""
        if self.finished:
            return
        self.finished = True
        self._close_stream()
        if self.run.state.outcome is None:
            self.run.end(
                Outcome.INTERRUPTED,
                RunError(
                    "abandoned",
                    f"Stepping stopped after {self.events} events: a new request started.",
                    "Re-run the cell to step through it again.",
                ),
            )
        self.result = self.run.close()
        self._replace_bar(f"Abandoned after {self.events} events (a new request started).")

    def _close_stream(self) -> None:
        manager, self.manager = self.manager, None
        if manager is not None:
            with contextlib.suppress(Exception):
                manager.__exit__(None, None, None)
        self.iterator = None

    # The control bar ------------------------------------------------------------------

    def _show_bar(self) -> None:
        if not _in_kernel():
            return
        import ipywidgets
        from IPython.display import display

        def button(text: str, tip: str, action: Callable[[], Any]) -> Any:
            b = ipywidgets.Button(
                description=text, tooltip=tip, layout=ipywidgets.Layout(width="auto")
            )
            b.on_click(lambda _b: self._click(action))
            return b

        self.buttons = [
            button("Next event ▶", "process the next SSE event", lambda: self.advance(1)),
            button("Next 10", "process the next 10 events", lambda: self.advance(10)),
            button("Run to end ⏭", "process every remaining event", self.run_to_end),
        ]
        self.label = ipywidgets.HTML(value="Opening the stream…")
        self.row = ipywidgets.HBox([*self.buttons, self.label])
        self.detail = ipywidgets.HTML(value="")
        self.bar = ipywidgets.VBox([self.row, self.detail])
        self.handle = display(self.bar, display_id=True)

    def _click(self, action: Callable[[], Any]) -> None:
        for b in self.buttons:
            b.disabled = True
        try:
            action()
        except Exception as exc:  # never let a click die silently in the kernel log
            self._say(f"✖ {type(exc).__name__}: {exc}")
        finally:
            for b in self.buttons:
                if not self.finished:
                    b.disabled = False

    def _say(self, text: str) -> None:
        self.message = text
        if self.label is not None:
            self.label.value = f"<span style='font-size:12px;color:{MUTED}'>{esc(text)}</span>"

    def _show_event(self, event: Any, helpers: list[Any]) -> None:
        """The current event: its type, its wire text (pings included) and its JSON."""
        frames, pings = self.frames, self.pings
        index = getattr(event, "index", None)
        delta = getattr(getattr(event, "delta", None), "type", None)
        head = f"event {self.events}: {event.type}"
        if index is not None:
            head += f" · index {index}"
        if delta:
            head += f" · {delta}"
        if frames:
            head += f" · arrived at {fmt_secs(frames[-1].t)}"
        self._say(head)
        if self.detail is None:
            return
        wire = "".join(f.raw for f in frames) if frames else "(no wire log)"
        try:
            body = (
                json.dumps(json.loads(frames[-1].data), indent=2, ensure_ascii=False)
                if frames
                else ""
            )
        except ValueError:
            body = frames[-1].data
        notes = []
        if pings:
            notes.append(
                f"{pings} ping event{'s' if pings > 1 else ''} also arrived: the SDK never yields them."
            )
        for h in helpers:
            if h.type == "input_json":
                notes.append(
                    f"The SDK then yielded input_json: the partial JSON parsed so far is {json.dumps(h.snapshot, ensure_ascii=False)[:300]}"
                )
            elif h.type in ("text", "thinking"):
                notes.append(
                    f"The SDK then yielded {h.type} (snapshot: {len(h.snapshot):,} chars so far)."
                )
            else:
                notes.append(f"The SDK then yielded {h.type}.")
        style = PRE_STYLE + " max-height: 200px;"
        cap = f"font-size:11px;color:{MUTED}"
        self.detail.value = (
            "<div style='display:flex;gap:8px;flex-wrap:wrap'>"
            f"<div style='flex:1 1 320px;min-width:0'><div style='{cap}'>on the wire</div>"
            f"<pre style='{style}'>{esc(wire)}</pre></div>"
            f"<div style='flex:1 1 260px;min-width:0'><div style='{cap}'>data as JSON</div>"
            f"<pre style='{style}'>{esc(body)}</pre></div></div>"
            + "".join(f"<div style='font-size:12px;color:{MUTED}'>{esc(n)}</div>" for n in notes)
        )

    def _frames_for(self, event: Any) -> tuple[list[Any], int]:
        """The wire frames up to this event's own (pings before it included), and the ping count."""
        logs = self.run.wire or []
        if not logs:
            return [], 0
        frames = logs[-1].frames
        out = []
        pings = 0
        while self.frame_pos < len(frames):
            frame = frames[self.frame_pos]
            self.frame_pos += 1
            out.append(frame)
            if frame.event == "ping":
                pings += 1
                continue
            break
        return out, pings

    def _replace_bar(self, note: str) -> None:
        """The bar becomes one line of static HTML (no widget state left behind)."""
        if self.handle is not None:
            html = f"<div style='font-size:12px;color:{MUTED};margin:4px 0'>⏯ --step: {note}</div>"
            plain = plain_text(visible_text(note))
            self.handle.update({"text/html": html, "text/plain": plain}, raw=True)
        if self.label is not None:
            self.label.value = ""
        if self.detail is not None:
            self.detail.value = ""
        close_widgets(*self.buttons, self.label, self.detail, self.row, self.bar)
        self.buttons = []
        self.label = self.detail = self.row = self.bar = None


def _in_kernel() -> bool:
    from claude_nb.views.jupyter import in_kernel

    return in_kernel()
