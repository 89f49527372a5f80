"""Reading a Message Batches create body one request at a time.

A 100,000-request body is tens of megabytes of JSON; parsed whole it would be several
times that in Python objects. :func:`spool_requests` walks the ``requests`` array with
``json.JSONDecoder.raw_decode``, checks each request's ``custom_id`` and ``params``
the way the API does at creation (unique, ``^[a-zA-Z0-9_-]{1,64}$``, an object) and
writes it as one JSONL line, so only one request is held at a time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from claude_nb.offline.validate import APIError

__all__ = ["MAX_REQUESTS", "spool_requests"]

MAX_REQUESTS = 100_000
_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def _bad(message: str) -> APIError:
    return APIError(400, "invalid_request_error", message)


def spool_requests(raw: bytes, spool: Path) -> int:
    """Validate the body's ``requests`` one at a time, writing each to ``spool`` (JSONL),
    so a 100,000-request body never exists as Python objects all at once."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _bad(f"The request body is not valid JSON: {exc}") from None
    decoder = json.JSONDecoder()
    pos = _skip(text, 0)
    if not text.startswith("{", pos):
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            raise _bad(f"The request body is not valid JSON: {exc}") from None
        raise _bad("Input should be a valid dictionary or object to extract fields from")
    pos = _skip(text, pos + 1)
    seen: set[str] = set()
    count = -1
    with spool.open("w", encoding="utf-8") as out:
        try:
            while not text.startswith("}", pos):
                key, pos = decoder.raw_decode(text, pos)
                pos = _expect(text, pos, ":")
                if (
                    key == "requests"
                    and _skip(text, pos) < len(text)
                    and text[_skip(text, pos)] == "["
                ):
                    count, pos = _spool_array(text, _skip(text, pos) + 1, decoder, out, seen)
                else:
                    _, pos = decoder.raw_decode(text, _skip(text, pos))
                    if key == "requests":
                        raise _bad("requests: Input should be a valid list")
                pos = _skip(text, pos)
                if text.startswith(",", pos):
                    pos = _skip(text, pos + 1)
                elif not text.startswith("}", pos):
                    raise ValueError("expected ',' or '}'")
            if _skip(text, pos + 1) != len(text):
                raise ValueError("extra data after the JSON object")
        except (json.JSONDecodeError, ValueError, IndexError) as exc:
            raise _bad(f"The request body is not valid JSON: {exc}") from None
    if count < 0:
        raise _bad("requests: Field required")
    if count == 0:
        raise _bad("requests: List should have at least 1 item after validation, not 0")
    return count


def _spool_array(
    text: str, pos: int, decoder: json.JSONDecoder, out: Any, seen: set[str]
) -> tuple[int, int]:
    count = 0
    pos = _skip(text, pos)
    while not text.startswith("]", pos):
        item, pos = decoder.raw_decode(text, pos)
        _check_request(count, item, seen)
        out.write(json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n")
        count += 1
        if count > MAX_REQUESTS:
            raise _bad(f"requests: List should have at most {MAX_REQUESTS} items after validation")
        pos = _skip(text, pos)
        if text.startswith(",", pos):
            pos = _skip(text, pos + 1)
        elif not text.startswith("]", pos):
            raise ValueError("expected ',' or ']'")
    return count, pos + 1


def _check_request(i: int, item: Any, seen: set[str]) -> None:
    """``custom_id`` and ``params`` are checked at creation (the params themselves when
    the request is processed, like the API: an invalid one becomes an errored result)."""
    if not isinstance(item, Mapping):
        raise _bad(
            f"requests.{i}: Input should be a valid dictionary or object to extract fields from"
        )
    custom_id = item.get("custom_id")
    if custom_id is None:
        raise _bad(f"requests.{i}.custom_id: Field required")
    if not isinstance(custom_id, str) or not _CUSTOM_ID.match(custom_id):
        raise _bad(f"requests.{i}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'")
    if custom_id in seen:
        raise _bad(
            f"requests.{i}.custom_id: {custom_id!r} is used more than once; each request in a "
            "batch needs its own custom_id"
        )
    seen.add(custom_id)
    if "params" not in item:
        raise _bad(f"requests.{i}.params: Field required")
    if not isinstance(item["params"], Mapping):
        raise _bad(
            f"requests.{i}.params: Input should be a valid dictionary or object to extract fields from"
        )


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _expect(text: str, pos: int, char: str) -> int:
    pos = _skip(text, pos)
    if not text.startswith(char, pos):
        raise ValueError(f"expected {char!r} at {pos}")
    return pos + 1
