"""Drives SDK streams into the state and the views: one direction, one loop.

``Run`` owns a run's state, layout, view and painter. ``stream_turn`` opens one SDK
stream (so errors raised while opening — 4xx/5xx after the SDK's retries — are caught
too), feeds every event through the reducer to the layout, lets the painter decide
when the view catches up, and turns any way a stream can end (done, interrupted,
error event, dropped or stalled connection) into an outcome. Nothing is lost: the
partial snapshot stays in the state and on screen.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import anthropic
import httpx2

from claude_nb.errors import RunError, describe_error
from claude_nb.notebook.result import Result
from claude_nb.render.segments import Layout
from claude_nb.stream.state import (
    Change,
    Outcome,
    RunState,
    Status,
    apply_event,
    begin_turn,
    finish,
    set_status,
    tool_update,
)
from claude_nb.stream.wire import WireLog, recording
from claude_nb.views import DisplayView, View, make_view
from claude_nb.views.painter import Painter
from claude_nb.views.static import static_bundle

# The run whose request is in flight, so the HTTP hook can report retries to it.
current_run: contextvars.ContextVar[Run | None] = contextvars.ContextVar(
    "claude_nb_run", default=None
)

RETRYABLE = frozenset({408, 409, 429})
SNAPSHOT_EVENTS = frozenset({"message_start", "content_block_start"})


class Run:
    """One run: a request (or a tool loop of several) shown live and returned as a Result."""

    def __init__(
        self,
        *,
        model: str = "",
        view: str = "auto",
        offline: bool = False,
        max_retries: int = 2,
        read_timeout: float | None = None,
        request: dict[str, Any] | None = None,
        view_obj: View | None = None,
        extras: list[Any] | None = None,
        wire: bool = False,
        deadline: float | None = None,
    ) -> None:
        self.state = RunState(model=model, offline=offline)
        self.layout = Layout(self.state)
        # Extras (teaching mode's inspector and timeline) follow the same changes as the
        # view, paint with it, and add their widget beside it and their HTML to the output.
        self.extras: list[Any] = []
        self.wire: list[WireLog] | None = [] if wire else None  # one per streamed response
        self.view: View | None = (
            view_obj if view_obj is not None else make_view(view, self.state, self.layout)
        )
        for make in extras or []:
            self.extras.append(make(self))
        if self.view is not None and hasattr(self.view, "extras"):
            self.view.extras = self.extras
        interval = (
            getattr(self.view, "min_interval", 0.05) if isinstance(self.view, DisplayView) else 0.05
        )
        self.painter = Painter(self._paint, min_interval=interval, size=self._size)
        self.max_retries = max_retries
        self.read_timeout = read_timeout
        self.deadline = deadline  # seconds for the whole run (None: no limit)
        self.request = request or {}
        self.attempts = 0
        self.retries = 0
        self.started = False
        self.closed = False

    # Plumbing -------------------------------------------------------------------------

    def _paint(self) -> None:
        if self.view is not None:
            self.view.paint()
            for extra in self.extras:
                extra.paint()

    def _size(self) -> int:
        return self.view.size() if self.view is not None else 0

    def emit(self, change: Change | None) -> None:
        if change is None:
            return
        self.layout.apply(change)
        if self.view is not None:
            self.view.changed(change)
        for extra in self.extras:
            extra.changed(change)

    def start(self) -> None:
        if not self.started:
            self.started = True
            if self.view is not None:
                self.view.start()

    # Streaming ------------------------------------------------------------------------

    def stream_turn(self, open_stream: Callable[[], AbstractContextManager[Any]]) -> bool:
        """Open and consume one stream; True if it ended with ``message_stop``."""
        self.start()
        self.emit(begin_turn(self.state))
        self.attempts = 0
        self.painter.poke(urgent=True)
        try:
            with self.in_flight(), open_stream() as stream:
                self.consume(stream)
        except KeyboardInterrupt:
            self.end(Outcome.INTERRUPTED)
            return False
        except (anthropic.AnthropicError, httpx2.HTTPError, TypeError, ValueError, OSError) as exc:
            self.end(
                Outcome.ERROR,
                describe_error(exc, retries=self.retries, read_timeout=self.read_timeout),
            )
            return False
        if not self.state.turn.complete:
            self.end(
                Outcome.ERROR,
                RunError(
                    "connection_dropped",
                    "The stream ended before the answer finished (no message_stop).",
                    "The partial answer is kept; re-run the cell to try again.",
                ),
            )
            return False
        return True

    def consume(self, stream: Iterable[Any]) -> None:
        """Feed every event of an open ``MessageStream`` through reducer, layout and painter."""
        step = self.step
        for event in stream:
            step(event, stream)

    def step(self, event: Any, stream: Any = None) -> Change | None:
        """One stream event through reducer, layout, views and painter: ``consume``'s body,
        also called once per click by ``--step`` (:mod:`claude_nb.teaching.step`)."""
        state = self.state
        t = state.now()
        snapshot = None
        if event.type in SNAPSHOT_EVENTS:
            snapshot_of = getattr(stream, "_current_snapshot_or_none", None)
            snapshot = snapshot_of() if snapshot_of is not None else None
        had_token = state.first_token is not None
        change = apply_event(state, event, snapshot, t)
        if change is None:
            return None
        if snapshot is not None and not state.model:
            state.model = snapshot.model
        self.emit(change)
        if state.first_token is not None:  # before it, nothing worth a patch has changed
            self.painter.poke(urgent=not had_token)
        return change

    @contextlib.contextmanager
    def in_flight(self) -> Iterator[None]:
        """While this run's request is open: the retry hook reports to it, and the wire tap
        records into it when it keeps its wire (``--events``, ``--record``, ``--step``)."""
        run_token = current_run.set(self)
        wire_token = recording.set(self._new_wire_log if self.wire is not None else None)
        try:
            yield
        finally:
            recording.reset(wire_token)
            current_run.reset(run_token)

    def _new_wire_log(self) -> WireLog:
        log = WireLog(self.state.now, label=f"turn {len(self.state.turns)}")
        assert self.wire is not None
        self.wire.append(log)
        return log

    def show_stream(self, stream: Any) -> bool:
        """Consume a stream the caller opened (``claude_nb.show``); same handling as ``stream_turn``."""
        return self.stream_turn(lambda: _Borrowed(stream))

    # Tool runs, retries, the end ------------------------------------------------------

    def tool_changed(self, run: Any) -> None:
        self.emit(tool_update(self.state, run))
        self.painter.poke(urgent=True)

    def http_response(self, response: httpx2.Response) -> None:
        """Called by the client's response hook: say when the SDK is about to retry."""
        self.attempts += 1
        status = response.status_code
        if status < 400:
            if self.state.status is Status.RETRYING:
                self.emit(set_status(self.state, Status.CONNECTING))
            return
        if not (status in RETRYABLE or status >= 500) or self.attempts > self.max_retries:
            return
        self.retries += 1
        wait = _retry_after(response)
        when = f"in {wait:g} s" if wait is not None else "shortly"
        reason = {429: "rate limited", 529: "overloaded"}.get(status, "server error")
        notice = f"{status} {reason}: retrying {when} (retry {self.attempts} of {self.max_retries})"
        self.emit(set_status(self.state, Status.RETRYING, notice))
        self.painter.poke(urgent=True)

    def end(self, outcome: Outcome, error: RunError | None = None) -> None:
        if self.state.outcome is None:
            self.emit(finish(self.state, outcome, error))

    def close(self) -> Result:
        """Final paint, static output in place of the live view, and the result."""
        if self.state.outcome is None:
            self.end(Outcome.COMPLETE)
        if not self.closed:
            self.closed = True
            if self.view is not None:
                self.painter.flush()
                extra_html = "".join(x.static_html() for x in self.extras)
                bundle = (
                    static_bundle(self.state, self.layout, extra_html) if self.started else None
                )
                self.view.close(bundle)
            for extra in self.extras:
                extra.close()
        return Result(self.state, self.layout, self.request, wire=self.wire, extras=self.extras)


class _Borrowed:
    """A stream the caller opened and will close: ``with`` must not close it for them."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def __enter__(self) -> Any:
        return self.stream

    def __exit__(self, *exc: object) -> None:
        return None


def _retry_after(response: httpx2.Response) -> float | None:
    ms = response.headers.get("retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    value = response.headers.get("retry-after")
    if value:
        try:
            return float(value)
        except ValueError:
            return None
    return None


def response_hook(response: httpx2.Response) -> None:
    """httpx2 event hook installed on clients the magic builds."""
    run = current_run.get()
    if run is not None:
        run.http_response(response)
