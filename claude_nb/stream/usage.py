"""Token usage: totals across the turns of a run, and cost estimates from a dated price table.

Prices change; the table says when it was written and users can override any row with
``claude_nb.stream.usage.PRICES[model] = Price(...)`` or ``%config Claude.prices = {...}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PRICES_AS_OF = "2026-11-01"


@dataclass(frozen=True)
class Price:
    """US dollars per million tokens."""

    input: float
    output: float
    cache_write: float | None = None  # default: 1.25 x input (5-minute cache)
    cache_read: float | None = None  # default: 0.1 x input

    def cost(self, usage: dict[str, int]) -> float:
        cw = self.cache_write if self.cache_write is not None else self.input * 1.25
        cr = self.cache_read if self.cache_read is not None else self.input * 0.1
        return (
            usage.get("input_tokens", 0) * self.input
            + usage.get("output_tokens", 0) * self.output
            + usage.get("cache_creation_input_tokens", 0) * cw
            + usage.get("cache_read_input_tokens", 0) * cr
        ) / 1e6


# Model-family prefixes; the longest matching prefix wins.
PRICES: dict[str, Price] = {
    "claude-opus": Price(5.0, 25.0),
    "claude-sonnet": Price(3.0, 15.0),
    "claude-haiku": Price(1.0, 5.0),
    "claude-fable": Price(3.0, 15.0),
    "claude-mythos": Price(15.0, 75.0),
}

USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)


def price_for(model: str, prices: dict[str, Price] | None = None) -> Price | None:
    table = prices if prices is not None else PRICES
    best = None
    for prefix, price in table.items():
        if model.startswith(prefix) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, price)
    return best[1] if best else None


def estimate_cost(
    model: str, usage: dict[str, int], prices: dict[str, Price] | None = None
) -> float | None:
    price = price_for(model, prices)
    return None if price is None else price.cost(usage)


def usage_dict(usage: Any) -> dict[str, int]:
    """The integer counters of an SDK ``Usage`` (or dict), missing ones as 0."""
    if usage is None:
        return dict.fromkeys(USAGE_FIELDS, 0)
    out = {}
    for name in USAGE_FIELDS:
        value = usage.get(name) if isinstance(usage, dict) else getattr(usage, name, None)
        out[name] = int(value or 0)
    details = (
        usage.get("output_tokens_details")
        if isinstance(usage, dict)
        else getattr(usage, "output_tokens_details", None)
    )
    thinking = None
    if details is not None:
        thinking = (
            details.get("thinking_tokens")
            if isinstance(details, dict)
            else getattr(details, "thinking_tokens", None)
        )
    out["thinking_tokens"] = int(thinking or 0)
    server = (
        usage.get("server_tool_use")
        if isinstance(usage, dict)
        else getattr(usage, "server_tool_use", None)
    )
    searches = None
    if server is not None:
        searches = (
            server.get("web_search_requests")
            if isinstance(server, dict)
            else getattr(server, "web_search_requests", None)
        )
    out["web_search_requests"] = int(searches or 0)
    return out


def add_usage(total: dict[str, int], usage: dict[str, int]) -> dict[str, int]:
    for key, value in usage.items():
        total[key] = total.get(key, 0) + value
    return total
