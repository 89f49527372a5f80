"""The offline ``/v1/models`` answers: the installed SDK's model ids as ``ModelInfo``, and
the cursor pagination (``limit``, ``after_id``, ``before_id``) list endpoints share."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from claude_nb.offline.validate import APIError
from claude_nb.sdk import MODELS

__all__ = ["model_info", "models_page", "page", "page_limit"]


def _display_name(model_id: str) -> str:
    words = [w for w in model_id.split("-") if not (w.isdigit() and len(w) == 8)]
    family = [w.capitalize() for w in words[1:] if not w.isdigit()]
    version = ".".join(w for w in words[1:] if w.isdigit())
    return " ".join(["Claude", *family, *([version] if version else [])])


def model_info(model_id: str) -> dict[str, Any]:
    """A ``ModelInfo`` for one of the SDK's model ids (404 like the API for others)."""
    if model_id not in MODELS:
        raise APIError(404, "not_found_error", f"model: {model_id}")
    position = MODELS.index(model_id)
    day = 28 - (position % 28)
    month = 12 - (position // 28) % 12
    return {
        "type": "model",
        "id": model_id,
        "display_name": _display_name(model_id),
        "created_at": f"2025-{month:02d}-{day:02d}T00:00:00Z",
        "lifecycle": "active",
        "deprecated_at": None,
        "max_input_tokens": 200000,
        "max_tokens": 64000,
    }


def page_limit(query: Mapping[str, Sequence[str]], default: int = 20) -> int:
    """The ``limit`` query parameter, 1-1000 like the API."""
    try:
        return max(1, min(1000, int(query.get("limit", [str(default)])[0])))
    except ValueError:
        raise APIError(
            400, "invalid_request_error", "limit: Input should be a valid integer"
        ) from None


def page(items: Sequence[dict[str, Any]], query: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """One page of ``items`` (each with an ``id``), as the API's list endpoints return it."""
    limit = page_limit(query)
    ids = [item["id"] for item in items]
    after, before = query.get("after_id", [None])[0], query.get("before_id", [None])[0]
    rest: Sequence[dict[str, Any]]
    if after in ids:
        rest = items[ids.index(after) + 1 :]
        chosen = rest[:limit]
    elif before in ids:
        rest = items[: ids.index(before)]
        chosen = rest[-limit:]
    else:
        rest = items
        chosen = rest[:limit]
    return {
        "data": list(chosen),
        "has_more": len(chosen) < len(rest),
        "first_id": chosen[0]["id"] if chosen else None,
        "last_id": chosen[-1]["id"] if chosen else None,
    }


def models_page(query: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """``GET /v1/models``: every model id the installed SDK lists, newest first."""
    return page([model_info(m) for m in MODELS], query)
