"""Request validation for the offline backend, with the real API's error wording.

Checks what a client most often gets wrong (so the product's error UI sees realistic
400s offline) and leaves unknown fields and block types alone: newer SDKs send fields
this module does not know, and rejecting them would break the offline backend.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any, TypeGuard

__all__ = ["APIError", "error_body", "new_request_id", "validate_count_tokens", "validate_messages"]

_THINKING_DOCS = "https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size"
_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def new_request_id() -> str:
    """A ``request-id`` like the API's (``req_011C…``)."""
    return "req_011C" + "".join(secrets.choice(_ALPHABET) for _ in range(20))


class APIError(Exception):
    """An error response: HTTP status, API error type, message and extra headers."""

    def __init__(
        self,
        status: int,
        error_type: str,
        message: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.headers = dict(headers or {})


def error_body(error_type: str, message: str, request_id: str) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {"type": error_type, "message": message},
        "request_id": request_id,
    }


def _bad(message: str) -> APIError:
    return APIError(400, "invalid_request_error", message)


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _require(body: Mapping[str, Any], key: str) -> Any:
    if key not in body:
        raise _bad(f"{key}: Field required")
    return body[key]


def _check_types(body: Mapping[str, Any]) -> None:
    for key, kinds, label in (
        ("stream", (bool,), "a valid boolean"),
        ("system", (str, list), "a valid list"),
        ("stop_sequences", (list,), "a valid list"),
        ("tools", (list,), "a valid list"),
        ("metadata", (dict,), "a valid dictionary"),
        ("tool_choice", (dict,), "a valid dictionary"),
    ):
        if key in body and body[key] is not None and not isinstance(body[key], kinds):
            raise _bad(f"{key}: Input should be {label}")
    for key, low, high in (("temperature", 0.0, 1.0), ("top_p", 0.0, 1.0)):
        value = body.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _bad(f"{key}: Input should be a valid number")
        if value < low:
            raise _bad(f"{key}: Input should be greater than or equal to {low:g}")
        if value > high:
            raise _bad(f"{key}: Input should be less than or equal to {high:g}")
    for i, seq in enumerate(body.get("stop_sequences") or []):
        if not isinstance(seq, str):
            raise _bad(f"stop_sequences.{i}: Input should be a valid string")
    system = body.get("system")
    if isinstance(system, list):
        for i, block in enumerate(system):
            if (
                not isinstance(block, Mapping)
                or block.get("type") != "text"
                or not isinstance(block.get("text"), str)
            ):
                raise _bad(f"system.{i}: Input should be a valid text block")


def _check_content(i: int, content: Any, *, last_assistant: bool) -> None:
    where = f"messages.{i}.content"
    if isinstance(content, str):
        if not content and not last_assistant:
            raise _bad(
                f"messages.{i}: all messages must have non-empty content except for the optional final assistant message"
            )
        return
    if not isinstance(content, list):
        raise _bad(f"{where}: Input should be a valid list")
    if not content and not last_assistant:
        raise _bad(
            f"messages.{i}: all messages must have non-empty content except for the optional final assistant message"
        )
    for j, block in enumerate(content):
        if not isinstance(block, Mapping):
            raise _bad(
                f"{where}.{j}: Input should be a valid dictionary or object to extract fields from"
            )
        kind = block.get("type")
        if kind is None:
            raise _bad(f"{where}.{j}.type: Field required")
        if not isinstance(kind, str):
            raise _bad(f"{where}.{j}.type: Input should be a valid string")
        if kind == "text":
            if "text" not in block:
                raise _bad(f"{where}.{j}.text.text: Field required")
            if not isinstance(block["text"], str):
                raise _bad(f"{where}.{j}.text.text: Input should be a valid string")
            if not block["text"]:
                raise _bad("messages: text content blocks must be non-empty")
        elif kind == "tool_use" and ("id" not in block or "name" not in block):
            missing = "id" if "id" not in block else "name"
            raise _bad(f"{where}.{j}.tool_use.{missing}: Field required")
        elif kind == "tool_result" and "tool_use_id" not in block:
            raise _bad(f"{where}.{j}.tool_result.tool_use_id: Field required")


def _check_messages(messages: Any) -> None:
    if not isinstance(messages, list):
        raise _bad("messages: Input should be a valid list")
    if not messages:
        raise _bad("messages: at least one message is required")
    previous = None
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise _bad(
                f"messages.{i}: Input should be a valid dictionary or object to extract fields from"
            )
        role = message.get("role")
        if "role" not in message:
            raise _bad(f"messages.{i}.role: Field required")
        if role not in ("user", "assistant"):
            raise _bad(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        if "content" not in message:
            raise _bad(f"messages.{i}.content: Field required")
        _check_content(
            i, message["content"], last_assistant=i == len(messages) - 1 and role == "assistant"
        )
        if i == 0 and role != "user":
            raise _bad('messages: first message must use the "user" role')
        if role == previous:
            raise _bad(
                f'messages: roles must alternate between "user" and "assistant", but found multiple "{role}" roles in a row'
            )
        previous = role


def _check_thinking(thinking: Any, max_tokens: int | None) -> None:
    if thinking is None:
        return
    if not isinstance(thinking, Mapping):
        raise _bad("thinking: Input should be a valid dictionary or object to extract fields from")
    kind = thinking.get("type")
    known = ("enabled", "disabled", "adaptive", "between_tools")
    if kind is None:
        raise _bad("thinking: Unable to extract tag using discriminator 'type'")
    if kind not in known:
        raise _bad(
            f"thinking: Input tag '{kind}' found using 'type' does not match any of the expected tags: "
            + ", ".join(f"'{k}'" for k in known)
        )
    if kind != "enabled":
        return
    budget = thinking.get("budget_tokens")
    if "budget_tokens" not in thinking:
        raise _bad("thinking.enabled.budget_tokens: Field required")
    if not _is_int(budget):
        raise _bad("thinking.enabled.budget_tokens: Input should be a valid integer")
    if budget < 1024:
        raise _bad("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
    if max_tokens is not None and budget >= max_tokens:
        raise _bad(
            f"`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at {_THINKING_DOCS}"
        )


def _check_tools(tools: Any) -> None:
    for i, tool in enumerate(tools or []):
        if not isinstance(tool, Mapping):
            raise _bad(
                f"tools.{i}: Input should be a valid dictionary or object to extract fields from"
            )
        if tool.get("type") in (None, "custom"):
            for key in ("name", "input_schema"):
                if key not in tool:
                    raise _bad(f"tools.{i}.custom.{key}: Field required")
            if not isinstance(tool["input_schema"], Mapping):
                raise _bad(f"tools.{i}.custom.input_schema: Input should be a valid dictionary")
        elif "name" not in tool:
            raise _bad(f"tools.{i}.name: Field required")


def _check_output_config(config: Any) -> None:
    """``output_config``: structured outputs' ``format`` must be a JSON schema."""
    if config is None:
        return
    if not isinstance(config, Mapping):
        raise _bad(
            "output_config: Input should be a valid dictionary or object to extract fields from"
        )
    fmt = config.get("format")
    if fmt is None:
        return
    if not isinstance(fmt, Mapping):
        raise _bad(
            "output_config.format: Input should be a valid dictionary or object to extract fields from"
        )
    if fmt.get("type") != "json_schema":
        raise _bad("output_config.format.type: Input should be 'json_schema'")
    if "schema" not in fmt:
        raise _bad("output_config.format.schema: Field required")
    if not isinstance(fmt["schema"], Mapping):
        raise _bad("output_config.format.schema: Input should be a valid dictionary")


def _check_common(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise _bad("Input should be a valid dictionary or object to extract fields from")
    model = _require(body, "model")
    if not isinstance(model, str):
        raise _bad("model: Input should be a valid string")
    if not model:
        raise _bad("model: String should have at least 1 character")
    return body


def validate_messages(body: Any) -> None:
    """Validate a ``POST /v1/messages`` body; raises :class:`APIError` (400) like the API."""
    body = _check_common(body)
    max_tokens = _require(body, "max_tokens")
    if isinstance(max_tokens, float) and max_tokens.is_integer():
        max_tokens = int(max_tokens)
    if not _is_int(max_tokens):
        raise _bad("max_tokens: Input should be a valid integer")
    if max_tokens < 1:
        raise _bad("max_tokens: Input should be greater than or equal to 1")
    _check_messages(_require(body, "messages"))
    _check_types(body)
    _check_tools(body.get("tools"))
    _check_thinking(body.get("thinking"), max_tokens)
    _check_output_config(body.get("output_config"))


def validate_count_tokens(body: Any) -> None:
    """Validate a ``POST /v1/messages/count_tokens`` body (no ``max_tokens`` there)."""
    body = _check_common(body)
    _check_messages(_require(body, "messages"))
    _check_types(body)
    _check_tools(body.get("tools"))
    _check_thinking(body.get("thinking"), None)
    _check_output_config(body.get("output_config"))
