"""Building the ``messages.stream(...)`` request from the magic's options.

The option values come from :mod:`claude_nb.sdk` (read off the installed SDK), and every
key this module emits is checked against ``Messages.stream``'s signature, so the magic
cannot drift into sending a parameter the SDK no longer has (``temperature`` and
``top_p`` are gone since 2.12; pass such things with ``--param`` into ``extra_body``).
"""

from __future__ import annotations

import base64
import io
import json
import mimetypes
import os
from dataclasses import dataclass, field
from typing import Any

import anthropic

from claude_nb.errors import UsageError
from claude_nb.sdk import SPEEDS, STREAM_PARAMS, WEB_FETCH_TYPE, WEB_SEARCH_TYPE


@dataclass
class Options:
    """The request knobs, after the magic has parsed and checked them."""

    model: str
    max_tokens: int
    system: str | None = None
    stop: list[str] = field(default_factory=list)
    effort: str | None = None
    thinking: str | None = None  # "adaptive", "off", or a budget as digits
    fast: bool = False
    params: dict[str, Any] = field(default_factory=dict)
    tools: list[dict[str, Any]] = field(default_factory=list)
    web_search: bool = False
    web_fetch: bool = False
    headers: dict[str, str] = field(default_factory=dict)


def parse_thinking(value: str | None, max_tokens: int) -> dict[str, Any] | None:
    if value is None or value == "":
        return None
    value = value.strip().lower()
    if value in ("off", "none", "disabled"):
        return None
    if value == "adaptive":
        return {"type": "adaptive"}
    if value.isdigit():
        budget = int(value)
        if budget < 1024:
            raise UsageError(f"--thinking {budget}: the budget must be at least 1024 tokens.")
        if budget >= max_tokens:
            raise UsageError(
                f"--thinking {budget}: the budget must be below --max-tokens ({max_tokens}); raise --max-tokens."
            )
        return {"type": "enabled", "budget_tokens": budget}
    raise UsageError(f"--thinking {value!r}: use adaptive, off, or a token budget such as 4000.")


# Request fields the magic sets from options of their own: --param may not set them, or
# the request would say one thing while the header, `_claude` and the ledger say another.
OWN_OPTION = {
    "model": "-m/--model",
    "max_tokens": "--max-tokens",
    "messages": "the cell body (and --chat)",
    "system": "-s/--system",
    "stop_sequences": "--stop",
    "thinking": "--thinking",
    "speed": "--fast",
    "tools": "--tools, --web-search or --web-fetch",
    "stream": "none: a %%claude call always streams",
}


def parse_params(items: list[str] | None) -> dict[str, Any]:
    """``--param KEY=VALUE`` pairs; VALUE is JSON when it parses, else a string.

    ``output_config`` may carry fields other than ``effort`` (which is ``--effort``)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--param {item!r}: expected KEY=VALUE, e.g. --param temperature=0.2")
        if key in OWN_OPTION:
            raise UsageError(f"--param {key}: set it with its own option ({OWN_OPTION[key]}).")
        try:
            out[key] = json.loads(raw)
        except ValueError:
            out[key] = raw
        if key == "output_config":
            if not isinstance(out[key], dict):
                raise UsageError(f"--param output_config: expected a JSON object, got {raw!r}.")
            if "effort" in out[key]:
                raise UsageError(
                    "--param output_config: set effort with its own option (--effort)."
                )
    return out


def build_request(opts: Options, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """Keyword arguments for ``client.messages.stream``."""
    req: dict[str, Any] = {"model": opts.model, "max_tokens": opts.max_tokens, "messages": messages}
    if opts.system:
        req["system"] = opts.system
    if opts.stop:
        req["stop_sequences"] = list(opts.stop)
    extra = dict(opts.params)
    output_config = {**extra.pop("output_config", {})}
    if opts.effort:
        output_config["effort"] = opts.effort
    if output_config:
        req["output_config"] = output_config
    thinking = parse_thinking(opts.thinking, opts.max_tokens)
    if thinking:
        req["thinking"] = thinking
    if opts.fast:
        if "fast" not in SPEEDS:
            raise UsageError("--fast: this version of the anthropic SDK has no fast speed.")
        req["speed"] = "fast"
    tools = list(opts.tools)
    for flag, on, kind, name in (
        ("--web-search", opts.web_search, WEB_SEARCH_TYPE, "web_search"),
        ("--web-fetch", opts.web_fetch, WEB_FETCH_TYPE, "web_fetch"),
    ):
        if on and kind is None:
            raise UsageError(f"{flag}: this version of the anthropic SDK has no such server tool.")
        if on:
            tools.append({"type": kind, "name": name, "max_uses": 5})
    if tools:
        req["tools"] = tools
    if extra:
        req["extra_body"] = extra
    if opts.headers:
        req["extra_headers"] = dict(opts.headers)
    unknown = set(req) - STREAM_PARAMS
    if unknown:  # a bug here, not the user's: say so plainly
        raise RuntimeError(
            f"claude_nb built request keys the SDK does not accept: {sorted(unknown)}"
        )
    return req


# Attachments ---------------------------------------------------------------------------

IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
)


def sniff(data: bytes) -> str | None:
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def image_block(spec: str, namespace: dict[str, Any]) -> dict[str, Any]:
    """An image content block from a path or a variable (bytes, PIL image, matplotlib figure)."""
    data, mime = _load(spec, namespace, "--image")
    if mime not in IMAGE_TYPES:
        raise UsageError(
            f"--image {spec}: {mime or 'unknown type'} is not an image Claude reads (png, jpeg, gif, webp)."
        )
    return {"type": "image", "source": {"type": "base64", "media_type": mime, "data": _b64(data)}}


def document_block(spec: str, namespace: dict[str, Any]) -> dict[str, Any]:
    """A PDF document content block from a path or a bytes variable."""
    data, mime = _load(spec, namespace, "--file")
    if mime != "application/pdf":
        raise UsageError(f"--file {spec}: expected a PDF, got {mime or 'an unknown type'}.")
    return {
        "type": "document",
        "source": {"type": "base64", "media_type": mime, "data": _b64(data)},
    }


def _b64(data: bytes) -> str:
    return base64.standard_b64encode(data).decode("ascii")


def _load(spec: str, namespace: dict[str, Any], flag: str) -> tuple[bytes, str | None]:
    if spec.isidentifier() and spec in namespace:
        return _from_object(namespace[spec], f"{flag} {spec}")
    path = os.path.expanduser(spec)
    if not os.path.exists(path):
        raise UsageError(f"{flag} {spec}: no such file and no variable of that name.")
    with open(path, "rb") as f:
        data = f.read()
    return data, sniff(data) or mimetypes.guess_type(path)[0]


def _from_object(obj: Any, what: str) -> tuple[bytes, str | None]:
    if isinstance(obj, (bytes, bytearray, memoryview)):
        data = bytes(obj)
        return data, sniff(data)
    if isinstance(obj, str):
        return _load(obj, {}, what.split()[0])
    if hasattr(obj, "savefig"):  # matplotlib Figure
        buf = io.BytesIO()
        obj.savefig(buf, format="png", bbox_inches="tight")
        return buf.getvalue(), "image/png"
    if hasattr(obj, "save") and hasattr(obj, "mode"):  # PIL Image
        buf = io.BytesIO()
        obj.save(buf, format="PNG")
        return buf.getvalue(), "image/png"
    raise UsageError(
        f"{what}: a {type(obj).__name__} is not an image (use a path, bytes, a PIL image or a figure)."
    )


def user_message(prompt: str, attachments: list[dict[str, Any]]) -> dict[str, Any]:
    if not attachments:
        return {"role": "user", "content": prompt}
    return {"role": "user", "content": [*attachments, {"type": "text", "text": prompt}]}


def count_tokens(client: anthropic.Anthropic, req: dict[str, Any]) -> int:
    """Input tokens of a request, from the API's count_tokens endpoint."""
    keys = ("model", "messages", "system", "thinking", "tools", "tool_choice")
    result = client.messages.count_tokens(**{k: req[k] for k in keys if k in req})
    return result.input_tokens
