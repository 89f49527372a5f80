"""When to paint: one throttle for every view, so content code never decides.

At most one paint per ``min_interval`` (50 ms: 20 updates/s), backing off up to
``max_interval`` when a paint is slow (10 × its cost, as other streaming renderers do),
when changes flood in faster than any model writes (a replay at speed 0, a burst after a
stall: half the rate, which no reader notices at that speed) or the answer is very large.
An urgent poke (the first token, a tool starting) paints at once, and ``flush`` always
paints the final state.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Painter:
    def __init__(
        self,
        paint: Callable[[], None],
        *,
        min_interval: float = 0.05,
        max_interval: float = 1.0,
        size: Callable[[], int] | None = None,
        flood_rate: float = 2000.0,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._paint = paint
        self.min_interval = min_interval
        self.max_interval = max_interval
        self._size = size
        self.flood_rate = flood_rate  # changes/s between paints above which they flood
        self._clock = clock
        self.pokes = 0  # changes since the last paint
        self.flooded = False
        self.next_at = 0.0
        self.count = 0
        self.cost = 0.0  # total seconds spent painting
        self.last_cost = 0.0
        self.times: list[float] = []  # paint start times, for the rate checks in bench/

    def poke(self, urgent: bool = False) -> None:
        """Something changed: paint now if the throttle allows (or it is urgent)."""
        self.pokes += 1
        if urgent or self._clock() >= self.next_at:
            self.paint()

    def paint(self) -> None:
        start = self._clock()
        self._paint()
        end = self._clock()
        if self.times:
            self.flooded = self.pokes > self.flood_rate * max(start - self.times[-1], 1e-3)
        self.pokes = 0
        self.count += 1
        self.last_cost = end - start
        self.cost += self.last_cost
        self.times.append(start)
        self.next_at = start + self.interval()

    def flush(self) -> None:
        """The final paint, never throttled."""
        self.paint()

    def interval(self) -> float:
        interval = max(self.min_interval, 10 * self.last_cost)
        if self.flooded:
            interval = max(interval, 2 * self.min_interval)
        if self._size is not None:
            # Very large answers: fewer, bigger updates keep the browser responsive.
            interval *= 1 + self._size() / 400_000
        return min(interval, self.max_interval)
