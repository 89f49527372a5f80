"""The event timeline: what arrived when, stored in columns so 50,000 deltas cost ~1 MB.

Every stream event that reaches the reducer is recorded here with its arrival time
(seconds since the request started). Teaching mode, the timing footer and
``Result.events_df()`` all read from it.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from claude_nb.stream.protocol import DELTA_TYPES, MESSAGE_EVENTS

# Event and delta types are interned to small codes; unknown names get new codes.
_BASE_NAMES = ("", *MESSAGE_EVENTS, "error", *DELTA_TYPES, "tool_started", "tool_finished", "retry")


class NameCodes:
    """Names interned to small codes (code 0 is no name), for compact array columns."""

    def __init__(self, names: tuple[str, ...] = ("",)) -> None:
        self.names: list[str] = list(names)
        self._codes: dict[str, int] = {n: i for i, n in enumerate(names)}

    def code(self, name: str | None) -> int:
        if not name:
            return 0
        code = self._codes.get(name)
        if code is None:
            code = self._codes[name] = len(self.names)
            self.names.append(name)
        return code


@dataclass(frozen=True)
class TimelineEvent:
    """One row of the timeline."""

    t: float
    type: str
    index: int | None
    delta_type: str | None
    size: int
    turn: int


class Timeline:
    """Append-only columns: time, event type, block index, delta type, payload size, turn."""

    def __init__(self) -> None:
        self._codes = NameCodes(_BASE_NAMES)
        self._names = self._codes.names
        self.t = array("d")
        self.type = array("H")
        self.index = array("i")
        self.delta = array("H")
        self.size = array("i")
        self.turn = array("H")

    def add(
        self,
        t: float,
        type_: str,
        index: int | None = None,
        delta_type: str | None = None,
        size: int = 0,
        turn: int = 0,
    ) -> None:
        self.t.append(t)
        self.type.append(self._codes.code(type_))
        self.index.append(-1 if index is None else index)
        self.delta.append(self._codes.code(delta_type))
        self.size.append(size)
        self.turn.append(turn)

    def __len__(self) -> int:
        return len(self.t)

    def __getitem__(self, i: int) -> TimelineEvent:
        index = self.index[i]
        return TimelineEvent(
            t=self.t[i],
            type=self._names[self.type[i]],
            index=None if index < 0 else index,
            delta_type=self._names[self.delta[i]] or None,
            size=self.size[i],
            turn=self.turn[i],
        )

    def __iter__(self) -> Iterator[TimelineEvent]:
        for i in range(len(self)):
            yield self[i]

    def counts(self) -> dict[str, int]:
        """Number of events per type; deltas are counted per delta type."""
        out: dict[str, int] = {}
        for code, delta in zip(self.type, self.delta, strict=True):
            name = self._names[delta] if delta else self._names[code]
            out[name] = out.get(name, 0) + 1
        return out

    def records(self) -> list[dict[str, Any]]:
        """Rows as dicts, ready for ``pandas.DataFrame``."""
        return [
            {
                "t": e.t,
                "type": e.type,
                "index": e.index,
                "delta_type": e.delta_type,
                "size": e.size,
                "turn": e.turn,
            }
            for e in self
        ]
