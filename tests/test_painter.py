"""The painter: one throttle for every view; urgent paints; backoff when painting is slow."""

from claude_nb.views.painter import Painter


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def gaps(painter):
    return [b - a for a, b in zip(painter.times, painter.times[1:], strict=False)]


def test_twenty_paints_per_second_at_a_fast_models_pace():
    clock = Clock()
    painter = Painter(lambda: None, clock=clock)
    for _ in range(2_000):  # 1,000 deltas/s for 2 simulated seconds
        clock.now += 0.001
        painter.poke()
    assert 40 <= painter.count <= 41
    assert min(gaps(painter)) >= 0.05 - 1e-9


def test_a_flood_of_changes_paints_half_as_often_never_more():
    clock = Clock()
    painter = Painter(lambda: None, clock=clock)
    for _ in range(10_000):  # 5,000 deltas/s (a replay at speed 0) for 2 simulated seconds
        clock.now += 0.0002
        painter.poke()
    assert 20 <= painter.count <= 22
    assert min(gaps(painter)) >= 0.05 - 1e-9
    assert min(gaps(painter)[1:]) >= 0.1 - 1e-9
    # The flood ends: back to 20 paints/s.
    count = painter.count
    for _ in range(1_000):
        clock.now += 0.001
        painter.poke()
    assert 17 <= painter.count - count <= 21


def test_urgent_paints_go_out_at_once():
    clock = Clock()
    painter = Painter(lambda: None, clock=clock)
    painter.poke()
    clock.now += 0.001
    painter.poke()
    assert painter.count == 1
    painter.poke(urgent=True)
    assert painter.count == 2


def test_slow_paints_back_off_to_ten_times_their_cost():
    clock = Clock()

    def slow_paint():
        clock.now += 0.02  # each paint costs 20 ms

    painter = Painter(slow_paint, clock=clock)
    painter.poke()
    assert painter.interval() == 0.2
    clock.now = painter.next_at - 0.001
    painter.poke()
    assert painter.count == 1


def test_large_answers_paint_less_often_but_never_less_than_once_a_second():
    clock = Clock()
    size = {"n": 0}
    painter = Painter(lambda: None, clock=clock, size=lambda: size["n"])
    assert painter.interval() == 0.05
    size["n"] = 400_000
    assert painter.interval() == 0.1
    size["n"] = 100_000_000
    assert painter.interval() == 1.0
