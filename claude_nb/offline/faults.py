"""Fault injection for the offline backend: make it fail the way the real API does.

A fault is a compact spec string, given to ``offline.start(faults=...)``, set later as
``srv.faults = ...``, passed to ``claude-nb serve --fault``, or sent per request in the
``x-claude-nb-fault`` header (which replaces the server's fault for that request;
``none`` disables it). Grammar: ``key=value`` pairs separated by ``;``::

    status=CODE[;retry_after=SECONDS][;error_type=TYPE][;message=TEXT][;times=N]
        Answer with HTTP CODE and the API's error JSON (429 rate_limit_error,
        529 overloaded_error, 500 api_error, ...), plus ``retry-after`` /
        ``retry-after-ms`` headers when retry_after is given. The SDK ignores a
        retry-after of 0 (it falls back to its own 0.5 s+ backoff): use e.g. 0.01.
    error_after=N[;error_type=TYPE][;message=TEXT][;times=N]
        Stream N events, then an SSE ``error`` event (default overloaded_error /
        "Overloaded") and end the body cleanly without ``message_stop``.
    drop_after=N[;times=N]
        Stream N events, then close the socket without the terminating chunk.
    stall_after=N[;stall=SECONDS][;times=N]
        Stream N events, then send nothing for SECONDS (default 3600) while keeping
        the connection open; ends early when the client disconnects or the server
        stops. After a finite stall the stream resumes.
    off_schema=missing|type|json[;times=N]
        A structured-output answer (``output_config.format``) that does NOT fit its
        schema: a required property left out, a property of the wrong type, or JSON
        cut off mid-way. Applies to structured-output requests only.

Any kind takes ``match=TEXT``: the fault applies only to requests whose question (the
last user message's text) contains TEXT, case-insensitively, e.g. the rows of a
DataFrame run that mention ``ticket 7``; others are neither failed nor counted.

Exactly one of status / error_after / drop_after / stall_after / off_schema is required.
``times=N`` applies the fault to the next N matching requests only, then they succeed:
counted per server, per spec (a header spec is counted by its text), so an SDK retrying
a 429 sees N failures then a success. Faults apply to ``POST /v1/messages`` only; for a
non-streaming request error_after answers with the error's HTTP status, drop_after
closes the connection before the response and stall_after delays the response.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

__all__ = [
    "ERROR_TYPES",
    "OFF_SCHEMA",
    "STATUS_FOR_ERROR_TYPE",
    "FaultSpec",
    "default_message",
    "parse_faults",
]

ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
STATUS_FOR_ERROR_TYPE: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
_MESSAGES = {
    "invalid_request_error": "Invalid request",
    "authentication_error": "invalid x-api-key",
    "billing_error": "Your credit balance is too low to access the Anthropic API.",
    "permission_error": "Your API key does not have permission to use the specified resource.",
    "not_found_error": "Not found",
    "request_too_large": "Request exceeds the maximum allowed number of bytes.",
    "rate_limit_error": (
        "Number of request tokens has exceeded your per-minute rate limit "
        "(https://docs.claude.com/en/api/rate-limits); see the response headers for current usage. "
        "Please reduce the prompt length or the maximum tokens requested, or try again later."
    ),
    "api_error": "Internal server error",
    "timeout_error": "Request timed out",
    "overloaded_error": "Overloaded",
}
_KINDS = ("status", "error_after", "drop_after", "stall_after", "off_schema")
_ALLOWED = {
    "status": {"retry_after", "error_type", "message", "times", "match"},
    "error_after": {"error_type", "message", "times", "match"},
    "drop_after": {"times", "match"},
    "stall_after": {"stall", "times", "match"},
    "off_schema": {"times", "match"},
}
OFF_SCHEMA = ("missing", "type", "json")
DEFAULT_STALL = 3600.0


def default_message(error_type: str) -> str:
    return _MESSAGES.get(error_type, "Error")


@dataclass(frozen=True)
class FaultSpec:
    """A parsed fault (see the module docstring for the grammar)."""

    status: int | None = None
    retry_after: float | None = None
    error_after: int | None = None
    drop_after: int | None = None
    stall_after: int | None = None
    stall: float = DEFAULT_STALL
    error_type: str | None = None
    message: str | None = None
    times: int | None = None
    off_schema: str | None = None
    match: str | None = None

    def applies(self, question: str, structured: bool) -> bool:
        """Whether this fault is for a request with this question (``match=``) and kind
        (``off_schema`` needs a structured-output request)."""
        if self.match is not None and self.match.lower() not in question.lower():
            return False
        return self.off_schema is None or structured

    @property
    def kind(self) -> str:
        return next(k for k in _KINDS if getattr(self, k) is not None)

    @property
    def resolved_error_type(self) -> str:
        """The API error type this fault reports (status fault or error event)."""
        if self.error_type:
            return self.error_type
        if self.status is not None:
            return ERROR_TYPES.get(
                self.status, "api_error" if self.status >= 500 else "invalid_request_error"
            )
        return "overloaded_error"

    @property
    def resolved_message(self) -> str:
        return self.message or default_message(self.resolved_error_type)

    def __str__(self) -> str:
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or (
                f.name == "stall" and (self.stall_after is None or value == DEFAULT_STALL)
            ):
                continue
            parts.append(f"{f.name}={_fmt(value)}")
        return ";".join(parts)

    def error_body(self, request_id: str) -> dict[str, object]:
        return {
            "type": "error",
            "error": {"type": self.resolved_error_type, "message": self.resolved_message},
            "request_id": request_id,
        }

    def retry_headers(self) -> dict[str, str]:
        """``retry-after`` (whole seconds, as the API sends) and precise ``retry-after-ms``."""
        if self.retry_after is None:
            return {}
        return {
            "retry-after": str(math.ceil(self.retry_after)),
            "retry-after-ms": str(round(self.retry_after * 1000)),
        }

    @classmethod
    def parse(cls, spec: str) -> FaultSpec:
        """Parse a spec string; raises ``ValueError`` with a precise message when invalid."""
        values: dict[str, object] = {}
        for part in (p.strip() for p in spec.split(";")):
            if not part:
                continue
            key, sep, raw = part.partition("=")
            key, raw = key.strip().lower().replace("-", "_"), raw.strip()
            if not sep or not raw:
                raise ValueError(f"fault spec {spec!r}: expected key=value, got {part!r}")
            if key in values:
                raise ValueError(f"fault spec {spec!r}: {key} given twice")
            values[key] = _convert(spec, key, raw)
        kinds = [k for k in _KINDS if k in values]
        if len(kinds) != 1:
            found = ", ".join(kinds) if kinds else "none"
            raise ValueError(
                f"fault spec {spec!r}: need exactly one of status=, error_after=, drop_after=, stall_after=, off_schema= (found {found})"
            )
        extra = set(values) - _ALLOWED[kinds[0]] - {kinds[0]}
        if extra:
            raise ValueError(
                f"fault spec {spec!r}: {', '.join(sorted(extra))} cannot be used with {kinds[0]}="
            )
        return cls(**values)  # type: ignore[arg-type]


def _fmt(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _convert(spec: str, key: str, raw: str) -> object:
    if key in ("status", "error_after", "drop_after", "stall_after", "times"):
        try:
            number = int(raw)
        except ValueError:
            raise ValueError(
                f"fault spec {spec!r}: {key} must be an integer, got {raw!r}"
            ) from None
        if key == "status" and not 400 <= number <= 599:
            raise ValueError(
                f"fault spec {spec!r}: status must be an HTTP error code 400-599, got {number}"
            )
        if number < 0 or (key == "times" and number < 1):
            raise ValueError(
                f"fault spec {spec!r}: {key} must be {'>= 1' if key == 'times' else '>= 0'}, got {number}"
            )
        return number
    if key in ("retry_after", "stall"):
        try:
            number_f = float(raw)
        except ValueError:
            raise ValueError(
                f"fault spec {spec!r}: {key} must be a number of seconds, got {raw!r}"
            ) from None
        if number_f < 0 or math.isnan(number_f):
            raise ValueError(f"fault spec {spec!r}: {key} must be >= 0, got {raw!r}")
        return number_f
    if key == "error_type":
        if raw not in STATUS_FOR_ERROR_TYPE:
            known = ", ".join(sorted(STATUS_FOR_ERROR_TYPE))
            raise ValueError(f"fault spec {spec!r}: unknown error_type {raw!r} (known: {known})")
        return raw
    if key in ("message", "match"):
        return raw
    if key == "off_schema":
        if raw not in OFF_SCHEMA:
            raise ValueError(
                f"fault spec {spec!r}: off_schema must be one of {', '.join(OFF_SCHEMA)}, got {raw!r}"
            )
        return raw
    known = "status, retry_after, error_after, error_type, message, drop_after, stall_after, stall, off_schema, match, times"
    raise ValueError(f"fault spec {spec!r}: unknown key {key!r} (known: {known})")


def parse_faults(spec: str | FaultSpec | None) -> FaultSpec | None:
    """A :class:`FaultSpec` from a spec string (``None``, ``""`` or ``"none"`` → no fault)."""
    if spec is None or isinstance(spec, FaultSpec):
        return spec
    if not isinstance(spec, str):
        raise ValueError(f"fault spec must be a string, got {type(spec).__name__}")
    if spec.strip().lower() in ("", "none", "off"):
        return None
    return FaultSpec.parse(spec)
