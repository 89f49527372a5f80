"""One exception tree, one closed set of run-error kinds, and causes that are kept."""

from __future__ import annotations

import re
import typing

import anthropic
import httpx2
import pytest

import claude_nb
from claude_nb import errors
from claude_nb.errors import (
    ClaudeNbError,
    DeadlineExceeded,
    EventTooLargeError,
    MalformedStreamError,
    RunError,
    RunErrorKind,
    RunFailed,
    RunInterrupted,
    StreamError,
    describe_error,
)

KINDS = set()
for part in typing.get_args(RunErrorKind):
    KINDS.update(typing.get_args(part))


def ours() -> set[type[BaseException]]:
    found, todo = set(), [ClaudeNbError]
    while todo:
        cls = todo.pop()
        found.add(cls)
        todo.extend(c for c in cls.__subclasses__() if c.__module__ == errors.__name__)
    return found


def test_one_root_and_the_tree_drawn_in_the_docstring_is_the_real_one():
    classes = ours()
    public = {getattr(errors, n) for n in errors.__all__}
    assert {c for c in public if isinstance(c, type) and issubclass(c, BaseException)} == classes
    drawn = re.findall(r"^\s*(?:[│├└─ ]*)(\w+)\s{2,}", errors.__doc__ or "", re.M)
    assert set(drawn) == {c.__name__ for c in classes}
    for line in (errors.__doc__ or "").splitlines():  # each child sits under its parent
        m = re.match(r"^(\s*[│ ]*)[├└]── (\w+)", line)
        if m:
            cls = getattr(errors, m.group(2))
            assert any(base in classes for base in cls.__bases__), cls


def test_the_exceptions_are_importable_from_the_package():
    for name in ("ClaudeNbError", "RunError", "RunFailed", "MalformedStreamError", "UsageError"):
        assert name in claude_nb.__all__
        assert getattr(claude_nb, name) is getattr(errors, name)


def _request() -> httpx2.Request:
    return httpx2.Request("POST", "https://api.example/v1/messages")


def _status(code: int, etype: str) -> anthropic.APIStatusError:
    response = httpx2.Response(code, request=_request())
    body = {"type": "error", "error": {"type": etype, "message": "boom"}}
    return anthropic.APIStatusError("boom", response=response, body=body)


FAILURES = [
    _status(429, "rate_limit_error"),
    _status(529, "overloaded_error"),
    _status(500, "api_error"),
    _status(413, "request_too_large"),  # not in the SDK's ErrorType: api_error
    _status(502, "upstream_gateway_error"),  # a gateway's own type: api_error
    _status(200, "overloaded_error"),
    anthropic.APITimeoutError(request=_request()),
    httpx2.ReadTimeout("slow"),
    httpx2.RemoteProtocolError("peer closed"),
    TypeError("Could not resolve authentication method"),
    ValueError("something else"),
    MalformedStreamError("content_block_delta for block 3", "that block never started"),
    EventTooLargeError(2**20),
    DeadlineExceeded(5),
]


@pytest.mark.parametrize("exc", FAILURES, ids=lambda e: type(e).__name__)
def test_every_failure_has_a_closed_kind_one_line_and_its_cause(exc):
    error = describe_error(exc)
    assert error.kind in KINDS
    assert error.line() and "\n" not in error.line()
    assert error.cause is exc
    with pytest.raises(RunFailed) as raised:
        raise RunFailed(error)
    assert raised.value.__cause__ is exc  # the magic's one-line failure keeps the cause


def test_a_server_error_type_outside_the_sdk_list_is_api_error_and_still_named():
    error = describe_error(_status(502, "upstream_gateway_error"))
    assert error.kind == "api_error"
    error = describe_error(_status(200, "upstream_gateway_error"))
    assert error.kind == "api_error" and "upstream_gateway_error" in error.message


def test_our_stream_errors_raised_inside_the_sdks_request_are_unwrapped():
    """The SDK wraps what a transport raises in APIConnectionError (after its retries)."""
    try:
        try:
            raise DeadlineExceeded(3)
        except DeadlineExceeded as inner:
            raise anthropic.APIConnectionError(request=_request()) from inner
    except anthropic.APIConnectionError as outer:
        error = describe_error(outer)
    assert error.kind == "deadline" and "3 s" in error.message


def test_stream_errors_carry_their_run_error():
    for exc in (MalformedStreamError("x", "y"), EventTooLargeError(10), DeadlineExceeded(1)):
        assert isinstance(exc, StreamError) and isinstance(exc, ClaudeNbError)
        assert exc.error.cause is exc and str(exc) == exc.error.line()


def test_an_interrupt_is_a_keyboard_interrupt_with_one_line():
    exc = RunInterrupted()
    assert isinstance(exc, KeyboardInterrupt) and isinstance(exc, RunFailed)
    assert exc.error.kind == "interrupted"
    (line,) = exc._render_traceback_()
    assert "Interrupted" in line


def test_input_errors_are_one_line_and_ipython_usage_errors():
    from IPython.core.error import UsageError as IPythonUsageError

    exc = errors.UsageError("bad option")
    assert isinstance(exc, IPythonUsageError) and isinstance(exc, errors.InputError)
    assert exc._render_traceback_() == ["\x1b[31mUsageError\x1b[0m: bad option"]
    assert RunError("timeout", "a", "b").line() == "a b"
