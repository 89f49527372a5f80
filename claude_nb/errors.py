"""Turn any failure of a request into one line: what happened, and what to do.

The SDK raises typed ``APIStatusError`` subclasses before the stream, a status-200
``APIStatusError`` for an ``error`` event mid-stream, and raw ``httpx2`` transport errors
for a dropped or stalled connection (see the SDK notes in the package docs). The user
should never need a traceback to know which of these it was.
"""

from __future__ import annotations

from dataclasses import dataclass

import anthropic
import httpx2
from IPython.core.error import UsageError as IPythonUsageError


@dataclass
class RunError:
    """A failure the user must read: what happened and what to do."""

    kind: str
    message: str
    hint: str = ""

    def line(self) -> str:
        return f"{self.message} {self.hint}".strip()


class ClaudeNbError(Exception):
    """A problem with the user's input (option, variable, tool name): nothing was sent."""

    def _render_traceback_(self) -> list[str]:  # IPython: show one line, not a traceback
        return [f"\x1b[31m{type(self).__name__}\x1b[0m: {self}"]


class UsageError(ClaudeNbError, IPythonUsageError):
    """Bad magic options or arguments (IPython prints these as one ``UsageError:`` line)."""


class PromptError(ClaudeNbError):
    """A ``{variable}`` in the prompt could not be filled."""


class MissingKeyError(ClaudeNbError):
    """No API key and no offline server."""


class RunFailed(Exception):
    """Raised by the magic after a failed or interrupted run, to stop "Run all".

    The answer so far is already on screen and bound; the traceback is one line.
    """

    def __init__(self, error: RunError) -> None:
        super().__init__(error.line())
        self.error = error

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[31m{self.error.kind}\x1b[0m: {self.error.line()}"]


class RunInterrupted(RunFailed, KeyboardInterrupt):
    """The user pressed stop: a ``KeyboardInterrupt`` so run-all stops, with a one-line message."""


NO_KEY_HINT = (
    "Set ANTHROPIC_API_KEY (e.g. `%env ANTHROPIC_API_KEY=sk-ant-...`) or ANTHROPIC_AUTH_TOKEN,"
    " or run `%claude offline` to use the built-in offline server."
)


def describe_error(
    exc: BaseException, *, retries: int = 0, read_timeout: float | None = None
) -> RunError:
    """The :class:`RunError` for an exception raised while opening or reading a stream."""
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
        connect = isinstance(cause, httpx2.ConnectError)
        if connect:
            return RunError(
                "connection_error",
                "Could not connect to the API.",
                "Check the network or ANTHROPIC_BASE_URL, or use `%claude offline`.",
            )
        return RunError(
            "connection_dropped",
            "The connection dropped before the answer finished.",
            "The partial answer is kept; re-run the cell to try again.",
        )
    if isinstance(exc, TypeError) and "authentication" in str(exc).lower():
        return RunError("no_api_key", "No API key found.", NO_KEY_HINT)
    return RunError(
        "unexpected_error", f"{type(exc).__name__}: {exc}", "The partial answer is kept."
    )


def _status_error(exc: anthropic.APIStatusError, retries: int) -> RunError:
    status = exc.status_code
    etype = exc.type or "api_error"
    message = exc.api_message or str(exc)
    after = f" after {retries} retr{'y' if retries == 1 else 'ies'}" if retries else ""
    if status == 200:  # an `error` event in the middle of the stream
        return RunError(
            etype,
            f"The API reported an error mid-answer ({etype}: {message}).",
            "The partial answer is kept; re-run the cell to try again.",
        )
    if status == 401:
        return RunError(etype, f"Authentication failed (401): {message}.", NO_KEY_HINT)
    if status == 403:
        return RunError(
            etype,
            f"Permission denied (403): {message}.",
            "Check the key's workspace and model access.",
        )
    if status == 404:
        return RunError(
            etype,
            f"Not found (404): {message}.",
            "Check the model name (`%claude models` lists them).",
        )
    if status in (400, 413, 422):
        return RunError(
            etype,
            f"The API rejected the request ({status}): {message}",
            "Fix the request and re-run.",
        )
    if status == 429:
        return RunError(
            etype,
            f"Rate limited (429){after}: {message}.",
            "Wait a little and re-run the cell, or lower --max-tokens.",
        )
    if status == 529:
        return RunError(etype, f"Claude is overloaded (529){after}.", "Try again in a minute.")
    if status >= 500:
        return RunError(
            etype,
            f"The API had an internal error ({status}){after}: {message}.",
            "Try again shortly.",
        )
    return RunError(etype, f"The API returned {status}: {message}.", "")
