"""Drives SDK streams into the state and the views: one direction, one loop.

``Run`` owns a run's state, layout, view and painter. ``stream_turn`` opens one SDK
stream (so errors raised while opening — 4xx/5xx after the SDK's retries — are caught
too), feeds every event through the state step to the layout, lets the painter decide
when the view catches up, and turns any way a stream can end (done, interrupted,
error event, dropped or stalled connection, malformed stream, deadline) into an
outcome. Nothing is lost: the partial message stays in the state and on screen.

Streams are best opened raw (``client.messages.create(..., stream=True)``): the state
step accumulates the message itself, with the SDK's own accumulator, so nothing is
accumulated twice. A ``MessageStream`` (``client.messages.stream``) works too; its
synthesised events are skipped.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import anthropic
import httpx2

from claude_nb.errors import DeadlineExceeded, RunError, StreamError, describe_error
from claude_nb.notebook.result import Result
from claude_nb.render.segments import Layout
from claude_nb.stream import wire
from claude_nb.stream.protocol import is_retryable
from claude_nb.stream.state import (
    Change,
    Outcome,
    RunState,
    Status,
    apply_event,
    begin_turn,
    finish,
    malformed_by_sdk,
    set_status,
    tool_update,
)
from claude_nb.stream.wire import Deadline, WireLog
from claude_nb.views import DisplayView, View, make_view
from claude_nb.views.painter import Painter
from claude_nb.views.static import static_bundle

# The run whose request is in flight, so the HTTP hook can report retries to it.
current_run: contextvars.ContextVar[Run | None] = contextvars.ContextVar(
    "claude_nb_run", default=None
)

# What reading a stream can raise that ends the run with an error line (anything else
# is a bug, left to the caller: the magic says so).
STREAM_ERRORS = (
    StreamError,
    anthropic.AnthropicError,
    httpx2.HTTPError,
    TypeError,
    ValueError,
    OSError,
)


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
        deadline: float | None = None,
        request: dict[str, Any] | None = None,
        view_obj: View | None = None,
        extras: list[Any] | None = None,
        wire: bool = False,
    ) -> None:
        self.state = RunState(requested_model=model, offline=offline)
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
        self.deadline = deadline  # seconds for the whole run (every turn and tool), or None
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
        self.begin_turn()
        with self.guard():
            self.check_deadline()
            with self.in_flight(), open_stream() as stream:
                self.consume(stream)
        return self.turn_ended()

    def begin_turn(self) -> None:
        """A request is about to be sent: a new turn, shown at once."""
        self.start()
        self.emit(begin_turn(self.state))
        self.attempts = 0
        self.painter.poke(urgent=True)

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        """Every way opening or reading a stream can fail becomes the run's outcome, with
        one line saying what happened; only bugs get through."""
        try:
            yield
        except KeyboardInterrupt:
            self.end(Outcome.INTERRUPTED)
        except STREAM_ERRORS as exc:
            self.end(Outcome.ERROR, self.describe(exc))

    def describe(self, exc: BaseException) -> RunError:
        """The error line for ``exc``; a read cut short once the deadline passed (the wire
        tap shortens the read timeout to it) is the deadline's doing, and says so."""
        cut = isinstance(exc, (httpx2.TransportError, anthropic.APIConnectionError))
        if cut and self.deadline is not None and self.state.now() >= self.deadline:
            error = DeadlineExceeded(self.deadline).error
            error.cause = exc
            return error
        return describe_error(exc, retries=self.retries, read_timeout=self.read_timeout)

    def check_deadline(self) -> None:
        if self.deadline is not None and self.state.now() >= self.deadline:
            raise DeadlineExceeded(self.deadline)

    def turn_ended(self) -> bool:
        """After a stream: True if its turn completed; a stream that just stopped, without
        ``message_stop`` or an error, ends the run as a dropped connection."""
        if self.state.outcome is not None:
            return False
        if not self.state.turn.complete:
            self.end(Outcome.ERROR, RunError.dropped())
            return False
        return True

    def consume(self, stream: Iterable[Any]) -> None:
        """Feed every event of an open stream through state step, layout and painter."""
        step = self.step
        try:
            for event in stream:
                step(event)
        except Exception as exc:
            malformed = malformed_by_sdk(exc)  # a MessageStream's own accumulator choked
            if malformed is None:
                raise
            raise malformed from exc

    def step(self, event: Any) -> Change | None:
        """One stream event through the state step, layout, views and painter: ``consume``'s
        body, also called once per click by ``--step`` (:mod:`claude_nb.teaching.step`)."""
        state = self.state
        t = state.now()
        if self.deadline is not None and t >= self.deadline:
            raise DeadlineExceeded(self.deadline)
        had_token = state.first_token is not None
        change = apply_event(state, event, t)
        if change is None:
            return None
        self.emit(change)
        if state.first_token is not None:  # before it, nothing worth a patch has changed
            self.painter.poke(urgent=not had_token)
        return change

    @contextlib.contextmanager
    def in_flight(self) -> Iterator[None]:
        """While this run's request is open: the retry hook reports to it, the wire tap
        holds it to its deadline, and records into it when it keeps its wire
        (``--events``, ``--record``, ``--step``)."""
        due = (
            Deadline(self.state.started + self.deadline, self.deadline)
            if self.deadline is not None
            else None
        )
        run_token = current_run.set(self)
        wire_token = wire.recording.set(self._new_wire_log if self.wire is not None else None)
        due_token = wire.deadline.set(due)
        try:
            yield
        finally:
            wire.deadline.reset(due_token)
            wire.recording.reset(wire_token)
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
        if not is_retryable(status) or self.attempts > self.max_retries:
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
