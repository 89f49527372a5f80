"""What can go wrong, as one exception tree and one closed set of run-error kinds.

Our exception hierarchy (catch at the level you care about)::

    ClaudeNbError                   anything claude_nb raises on purpose
    ├── InputError                  bad input: nothing was sent (shown as one line)
    │   ├── UsageError              a magic option or argument (also IPython's UsageError)
    │   ├── PromptError             a {variable} in the prompt could not be filled
    │   └── MissingKeyError         no API key and no offline server
    ├── StreamError                 reading a stream had to stop; carries its RunError
    │   ├── MalformedStreamError    the server broke the streaming protocol
    │   ├── EventTooLargeError      one SSE event grew past the size cap
    │   └── DeadlineExceeded        the run's overall deadline passed
    └── RunFailed                   raised by the magic after a failed run (answer kept)
        └── RunInterrupted          the user pressed stop (also a KeyboardInterrupt)

A run never raises the SDK's or httpx2's exceptions at the user: the runner turns each
into a :class:`RunError` (:func:`describe_error`) whose ``kind`` is one of
:data:`RunErrorKind` — our own kinds, or the API's error ``type`` when the API said
what went wrong. The original exception stays reachable as ``RunError.cause`` and, when
the magic re-raises, as ``RunFailed.__cause__``.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from typing import Literal, Union

import anthropic
import httpx2
from anthropic.types.shared import ErrorType
from IPython.core.error import UsageError as IPythonUsageError

__all__ = [
    "API_ERROR_TYPES",
    "NO_KEY_HINT",
    "ClaudeNbError",
    "DeadlineExceeded",
    "EventTooLargeError",
    "InputError",
    "MalformedStreamError",
    "MissingKeyError",
    "PromptError",
    "RunError",
    "RunErrorKind",
    "RunFailed",
    "RunInterrupted",
    "StreamError",
    "UsageError",
    "describe_error",
]

# Kinds claude_nb itself decides.
OwnKind = Literal[
    "no_api_key",  # no credentials (the SDK fails before any I/O)
    "connection_error",  # could not connect
    "connection_dropped",  # the stream ended before message_stop
    "timeout",  # nothing arrived for the read (idle) timeout
    "deadline",  # the run's overall deadline passed
    "malformed_stream",  # the server broke the streaming protocol
    "event_too_large",  # one SSE event grew past the cap
    "interrupted",  # the user pressed stop
    "abandoned",  # a --step stream left open when a new request started
    "internal_error",  # a bug in claude_nb (or in a hook it calls)
    "unexpected_error",  # any other exception while opening or reading a stream
]
RunErrorKind = Union[OwnKind, ErrorType]  # noqa: UP007 (a runtime alias: 3.10 has no | here)
"""Every ``RunError.kind``: ours, or the API's own error ``type`` (``rate_limit_error``...)."""

API_ERROR_TYPES: frozenset[str] = frozenset(typing.get_args(ErrorType))
"""The error types the installed SDK knows; any other one a server sends is ``api_error``."""

NO_KEY_HINT = (
    "Set ANTHROPIC_API_KEY (e.g. `%env ANTHROPIC_API_KEY=sk-ant-...`) or ANTHROPIC_AUTH_TOKEN,"
    " or run `%claude offline` to use the built-in offline server."
)
KEPT = "The partial answer is kept; re-run the cell to try again."


@dataclass
class RunError:
    """A failure the user must read: what happened and what to do."""

    kind: RunErrorKind
    message: str
    hint: str = ""
    cause: BaseException | None = field(default=None, repr=False, compare=False)

    def line(self) -> str:
        return f"{self.message} {self.hint}".strip()

    @classmethod
    def interrupted(cls) -> RunError:
        return cls("interrupted", "Interrupted: the partial answer is kept in _claude.")

    @classmethod
    def dropped(cls) -> RunError:
        return cls(
            "connection_dropped",
            "The stream ended before the answer finished (no message_stop).",
            KEPT,
        )


class ClaudeNbError(Exception):
    """The root of every exception claude_nb raises on purpose."""


class InputError(ClaudeNbError):
    """A problem with the user's input (option, variable, tool name): nothing was sent."""

    def _render_traceback_(self) -> list[str]:  # IPython: show one line, not a traceback
        return [f"\x1b[31m{type(self).__name__}\x1b[0m: {self}"]


class UsageError(InputError, IPythonUsageError):
    """Bad magic options or arguments (IPython prints these as one ``UsageError:`` line)."""


class PromptError(InputError):
    """A ``{variable}`` in the prompt could not be filled."""


class MissingKeyError(InputError):
    """No API key and no offline server."""


class StreamError(ClaudeNbError):
    """Reading a stream had to stop. Raised inside the read; the runner records
    :attr:`error` on the run (the partial answer stays) instead of letting it escape."""

    def __init__(self, error: RunError) -> None:
        super().__init__(error.line())
        self.error = error
        if error.cause is None:
            error.cause = self


class MalformedStreamError(StreamError):
    """The server sent events that break the Messages streaming protocol."""

    def __init__(self, event: str, problem: str) -> None:
        super().__init__(
            RunError(
                "malformed_stream",
                f"The server sent a malformed stream: {event}: {problem}.",
                "The partial answer is kept. If ANTHROPIC_BASE_URL points at a gateway or a"
                " local server, it is the one to fix.",
            )
        )
        self.event = event


class EventTooLargeError(StreamError):
    """One SSE event (bytes up to its blank line) grew past the cap, e.g. a line with no
    newline: stopped before it could take the kernel's memory."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            RunError(
                "event_too_large",
                f"The server sent one stream event of more than {limit / 2**20:g} MiB"
                " without ending it; reading stopped.",
                "The partial answer is kept. Check the server (ANTHROPIC_BASE_URL).",
            )
        )
        self.limit = limit


class DeadlineExceeded(StreamError):
    """The run's overall deadline passed (a server trickling pings never idles out)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            RunError(
                "deadline",
                f"The run passed its deadline of {seconds:g} s and was stopped.",
                "The partial answer is kept; raise the limit with --deadline or"
                " `%config Claude.deadline = ...`.",
            )
        )
        self.seconds = seconds


class RunFailed(ClaudeNbError):
    """Raised by the magic after a failed or interrupted run, to stop "Run all".

    The answer so far is already on screen and bound; the traceback is one line, and the
    exception that ended the run (if any) is the ``__cause__``.
    """

    def __init__(self, error: RunError) -> None:
        super().__init__(error.line())
        self.error = error
        self.__cause__ = error.cause

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[31m{self.error.kind}\x1b[0m: {self.error.line()}"]


class RunInterrupted(RunFailed, KeyboardInterrupt):
    """The user pressed stop: a ``KeyboardInterrupt`` so run-all stops, with a one-line message."""

    def __init__(self, error: RunError | None = None) -> None:
        super().__init__(error or RunError.interrupted())


def describe_error(
    exc: BaseException, *, retries: int = 0, read_timeout: float | None = None
) -> RunError:
    """The :class:`RunError` for an exception raised while opening or reading a stream."""
    error = _describe(exc, retries, read_timeout)
    if error.cause is None:
        error.cause = exc
    return error


def _describe(exc: BaseException, retries: int, read_timeout: float | None) -> RunError:
    if isinstance(exc, StreamError):
        return exc.error
    if isinstance(exc, anthropic.APIConnectionError) and isinstance(exc.__cause__, StreamError):
        return exc.__cause__.error  # raised by our transport while the SDK sent the request
    if isinstance(exc, anthropic.APIStatusError):
        return _status_error(exc, retries)
    if isinstance(exc, (anthropic.APITimeoutError, httpx2.TimeoutException)):
        waited = f" for {read_timeout:g} s" if read_timeout else ""
        return RunError(
            "timeout",
            f"The API sent nothing{waited} and the read timed out.",
            "Re-run the cell; raise the limit with `%config Claude.read_timeout = 600` if answers are slow.",
        )
    if isinstance(exc, (anthropic.APIConnectionError, httpx2.TransportError)):
        cause = exc.__cause__ if isinstance(exc, anthropic.APIConnectionError) else exc
        if isinstance(cause, httpx2.ConnectError):
            return RunError(
                "connection_error",
                "Could not connect to the API.",
                "Check the network or ANTHROPIC_BASE_URL, or use `%claude offline`.",
            )
        return RunError(
            "connection_dropped", "The connection dropped before the answer finished.", KEPT
        )
    if isinstance(exc, TypeError) and "authentication" in str(exc).lower():
        return RunError("no_api_key", "No API key found.", NO_KEY_HINT)
    return RunError(
        "unexpected_error", f"{type(exc).__name__}: {exc}", "The partial answer is kept."
    )


def _status_error(exc: anthropic.APIStatusError, retries: int) -> RunError:
    status = exc.status_code
    etype = exc.type or "api_error"
    kind: RunErrorKind = etype if etype in API_ERROR_TYPES else "api_error"
    message = exc.api_message or str(exc)
    after = f" after {retries} retr{'y' if retries == 1 else 'ies'}" if retries else ""
    if status == 200:  # an `error` event in the middle of the stream
        return RunError(
            kind,
            f"The API reported an error mid-answer ({etype}: {message}).",
            KEPT,
        )
    if status == 401:
        return RunError(kind, f"Authentication failed (401): {message}.", NO_KEY_HINT)
    if status == 403:
        return RunError(
            kind,
            f"Permission denied (403): {message}.",
            "Check the key's workspace and model access.",
        )
    if status == 404:
        return RunError(
            kind,
            f"Not found (404): {message}.",
            "Check the model name (`%claude models` lists them).",
        )
    if status in (400, 413, 422):
        return RunError(
            kind,
            f"The API rejected the request ({status}): {message}",
            "Fix the request and re-run.",
        )
    if status == 429:
        return RunError(
            kind,
            f"Rate limited (429){after}: {message}.",
            "Wait a little and re-run the cell, or lower --max-tokens.",
        )
    if status == 529:
        return RunError(kind, f"Claude is overloaded (529){after}.", "Try again in a minute.")
    if status >= 500:
        return RunError(
            kind,
            f"The API had an internal error ({status}){after}: {message}.",
            "Try again shortly.",
        )
    return RunError(kind, f"The API returned {status}: {message}.", "")
