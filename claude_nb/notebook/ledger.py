"""The session's usage ledger: one row per ``%%claude`` call, shown by ``%claude usage``.

A :class:`Ledger` shows itself (``_repr_html_`` and plain text), so it can be displayed,
returned or inspected like any other object. Its cells hold server text (the model
name a gateway reports, a status): every cell goes through :func:`html_cell` or
:func:`plain_cell`, the one place a ledger value becomes output.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from claude_nb.notebook.result import Result
from claude_nb.render.safe import esc, plain_text
from claude_nb.stream.usage import PRICES_AS_OF, Price, estimate_cost, usage_dict


@dataclass(frozen=True)
class Call:
    """One call: when it started, what it used, what it cost (``None``: no known price)."""

    when: str
    model: str
    status: str
    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int
    cache_creation_input_tokens: int
    seconds: float
    cost: float | None
    offline: bool


# (field, heading) for each column, in order; the token columns are the ones totalled.
COLUMNS = (
    ("when", "when"),
    ("model", "model"),
    ("status", "status"),
    ("input_tokens", "in"),
    ("output_tokens", "out"),
    ("cache_read_input_tokens", "cache read"),
    ("cache_creation_input_tokens", "cache write"),
    ("seconds", "seconds"),
    ("cost", "est. cost $"),
)
TOKEN_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)


def html_cell(value: object) -> str:
    """A ledger value as HTML text: escaped, never markup (model names come from the server)."""
    return esc(value)


def plain_cell(value: object) -> str:
    """A ledger value as plain text, with no control character a terminal would act on."""
    return plain_text(value)


class Ledger:
    """Every call of this session, in order."""

    def __init__(self) -> None:
        self.calls: list[Call] = []

    def record(
        self, result: Result, *, started: float, offline: bool, prices: dict[str, Price]
    ) -> Call:
        """Add the call that produced ``result`` (``started``: its wall-clock start)."""
        usage = usage_dict(result.usage)
        call = Call(
            when=time.strftime("%H:%M:%S", time.localtime(started)),
            model=result.model,
            status=result.status,
            **{name: usage[name] for name in TOKEN_FIELDS},
            seconds=round(result.duration, 2),
            cost=None if offline else estimate_cost(result.model, usage, prices),
            offline=offline,
        )
        self.calls.append(call)
        return call

    def __len__(self) -> int:
        return len(self.calls)

    def __iter__(self) -> Iterator[Call]:
        return iter(self.calls)

    def total(self, name: str) -> int:
        return sum(getattr(c, name) for c in self.calls)

    @property
    def total_cost(self) -> float:
        """Estimated dollars over the calls with a known price (offline calls cost nothing)."""
        return sum(c.cost or 0.0 for c in self.calls)

    # Display --------------------------------------------------------------------------

    def _rows(self) -> list[list[str]]:
        return [[_format(call, name) for name, _ in COLUMNS] for call in self.calls]

    def _repr_html_(self) -> str:
        if not self.calls:
            return f"<div>{html_cell(EMPTY)}</div>"
        heads = "".join(f"<th>{html_cell(head)}</th>" for _, head in COLUMNS)
        body = "".join(
            "<tr>" + "".join(f"<td>{html_cell(v)}</td>" for v in row) + "</tr>"
            for row in self._rows()
        )
        totals = "".join(f"<td><b>{self.total(n):,}</b></td>" for n in TOKEN_FIELDS)
        foot = (
            f"<tr><td colspan=3><b>total</b></td>{totals}"
            f"<td></td><td><b>{self.total_cost:.4f}</b></td></tr>"
        )
        return (
            f"<table><thead><tr>{heads}</tr></thead><tbody>{body}{foot}</tbody></table>"
            f"<div style='font-size:11px;color:#8a8a8a'>{html_cell(NOTE)}</div>"
        )

    def __repr__(self) -> str:
        if not self.calls:
            return EMPTY
        lines = ["  ".join(head for _, head in COLUMNS)]
        lines += ["  ".join(plain_cell(v) for v in row) for row in self._rows()]
        lines.append(f"total est. cost ${self.total_cost:.4f}")
        return "\n".join(lines)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))


EMPTY = "no calls yet in this session"
NOTE = f"Estimated from list prices as of {PRICES_AS_OF}; override with %config Claude.prices = {{...}}."


def _format(call: Call, name: str) -> str:
    value = getattr(call, name)
    if name == "cost":
        return "offline" if call.offline else ("–" if value is None else f"{value:.4f}")
    return f"{value:,}" if isinstance(value, int) else str(value)
