"""The live view in a real browser: text grows while it streams, then turns static.

Also the two ways a stream ends early: the user interrupts it, or the API sends an
error event mid-answer.
"""

from __future__ import annotations

import itertools

import pytest
from jupyter_harness import SETUP, common_prefix, norm, read_sampler, start_sampler

pytestmark = pytest.mark.browser

# Rendered markdown re-renders its open tail (a table or a math span changes form once
# it is complete), so consecutive snapshots may differ in their last characters.
TAIL_SLACK = 400

LIVE_BODY = ".cnb-live [data-cnb='body']"


def _live_text_longer_than(nbp, cell: int, n: int, timeout: float = 60.0) -> None:
    nbp.page.wait_for_function(
        """([i, n]) => {
          const cell = document.querySelectorAll('.jp-Notebook .jp-Cell')[i];
          const body = cell && cell.querySelector(".cnb-live [data-cnb='body']");
          return !!body && body.innerText.length > n;
        }""",
        arg=[cell, n],
        timeout=timeout * 1000,
    )


# Notebook 7 repeats the check a little faster (the same view code; the suite stays lean).
@pytest.mark.parametrize(("ui", "speed"), [("lab", 0.3), ("nb7", 0.6)])
def test_markdown_streams_progressively_then_turns_static(open_notebook, ui, speed):
    suffix = "" if ui == "lab" else "-nb7"
    nbp = open_notebook(
        [SETUP, f"%%claude --replay markdown --speed {speed}\nHow do I find outliers?"], ui
    )
    nbp.run_setup()
    start_sampler(nbp.page, 1)
    before = nbp.start(1)

    _live_text_longer_than(nbp, 1, 600)
    live = nbp.cell(1).locator(".cnb-live")
    header = live.locator("[data-cnb='hdr']").inner_text()
    assert "writing" in header, header
    nbp.snap(f"live-markdown{suffix}.png", nbp.cell(1))

    nbp.wait_done(1, before)
    rec = read_sampler(nbp.page)

    # Progressive: several growing states were on screen before the static output.
    states = [norm(t) for t in rec["bodies"] if norm(t)]
    jumps = [len(a) - common_prefix(a, b) for a, b in itertools.pairwise(states)]
    print(
        f"{len(states)} live states, {len(set(rec['clocks']))} clock values, max tail change {max(jumps, default=0)}"
    )
    assert len(states) >= 3, f"only {len(states)} live states seen: {states}"
    for a, b in itertools.pairwise(states):
        assert common_prefix(a, b) >= len(a) - TAIL_SLACK, (
            f"live text jumped:\n{a[-300:]}\n---\n{b[-300:]}"
        )
    assert len(states[-1]) > len(states[0]) + 500, (len(states[0]), len(states[-1]))
    assert states[0].startswith("Finding outliers") or "Finding outliers".startswith(states[0])
    assert not rec["liveAfterStatic"], "the live view came back after the static output"
    assert rec["forbidden"] == [], rec["forbidden"]

    # The header clock ticks while the answer streams (it is not a frozen number).
    assert len(set(rec["clocks"])) >= 5, rec["clocks"]
    assert any("writing" in h for h in rec["headers"]), rec["headers"]

    # The final static output replaced the widget in place.
    out = nbp.output(1)
    assert out.locator(".cnb-live").count() == 0
    static = out.locator(".cnb-static")
    static.wait_for()
    assert static.count() == 1
    assert "done" in static.locator(".cnb-header").inner_text()
    assert static.locator("h1, h2").count() >= 3
    assert static.locator("table").count() >= 2
    code = static.locator(".cnb-code")
    assert code.count() >= 2
    colors = code.first.locator("span[style*='color']")
    assert colors.count() >= 5, "python code block is not highlighted"
    distinct = code.first.evaluate(
        "e => new Set([...e.querySelectorAll('span')].map(s => getComputedStyle(s).color)).size"
    )
    assert distinct >= 3, f"only {distinct} colours in the highlighted code"
    static.locator("mjx-container").first.wait_for()
    assert static.locator("mjx-container").count() >= 5
    text = static.inner_text()
    assert "costs $5 and $10 per month" in text, "dollar amounts were eaten by MathJax"
    assert "$1,200 per year" in text
    final = norm(static.locator(".cnb-body").inner_text())
    assert final.startswith(states[-1][:200]), "the static text does not continue the live text"
    assert nbp.error_lines(1) == []
    nbp.snap(f"final-markdown{suffix}.png", nbp.cell(1))


def test_interrupt_keeps_partial_answer(open_notebook, jupyter_server):
    poll = (
        "import time\n"
        "srv = get_ipython().find_magic('claude').__self__._server\n"
        "deadline = time.monotonic() + 20\n"
        "while 'client_disconnected' not in [r.outcome for r in srv.requests]"
        " and time.monotonic() < deadline:\n"
        "    time.sleep(0.05)\n"
        "print(_claude.status, sorted({str(r.outcome) for r in srv.requests}))"
    )
    nbp = open_notebook([SETUP, "%%claude --replay long --speed 0.2\nWrite a field guide.", poll])
    nbp.run_setup()
    start_sampler(nbp.page, 1)
    before = nbp.start(1)
    _live_text_longer_than(nbp, 1, 150)
    seen = norm(nbp.cell(1).locator(LIVE_BODY).inner_text())
    nbp.interrupt()
    nbp.wait_done(1, before, timeout=60)
    rec = read_sampler(nbp.page)
    assert len(set(rec["clocks"])) >= 3, rec["clocks"]

    out = nbp.output(1)
    assert out.locator(".cnb-live").count() == 0
    static = out.locator(".cnb-static")
    assert "interrupted" in static.locator(".cnb-header").inner_text()
    footer = static.locator(".cnb-footer").inner_text()
    assert "Interrupted" in footer, footer
    kept = norm(static.locator(".cnb-body").inner_text())
    assert kept.startswith(seen[:120]), (
        f"partial text lost:\nlive: {seen[:200]}\nkept: {kept[:200]}"
    )
    assert len(kept) >= len(seen) - TAIL_SLACK
    errors = nbp.error_lines(1)
    assert len(errors) == 1, errors
    assert "Interrupt" in errors[0] and "Traceback" not in errors[0]
    nbp.snap("interrupted.png", nbp.cell(1))

    # The kernel is idle and usable, and the offline server saw the client go away.
    jupyter_server.wait_kernel_idle(nbp.kernel_id)
    nbp.run(2)
    printed = nbp.stdout(2)
    assert printed.startswith("interrupted"), printed
    assert "client_disconnected" in printed, printed


def test_error_midstream_shows_partial_text_and_red_line(open_notebook):
    nbp = open_notebook([SETUP, "%%claude --replay error_midstream\nPlan my data cleaning."])
    nbp.run_setup()
    start_sampler(nbp.page, 1)
    nbp.run(1)
    rec = read_sampler(nbp.page)

    static = nbp.output(1).locator(".cnb-static")
    assert "error" in static.locator(".cnb-header").inner_text()
    body = norm(static.locator(".cnb-body").inner_text())
    assert body.startswith("Sure! Here is a step-by-step plan"), body
    assert "explicit dtypes" in body
    red = static.locator(".cnb-footer div", has_text="✖")
    assert red.count() == 1
    assert "overloaded" in red.inner_text().lower()
    assert red.evaluate("e => getComputedStyle(e).color") == "rgb(220, 38, 38)"
    errors = nbp.error_lines(1)
    assert len(errors) == 1, errors
    assert "overloaded" in errors[0].lower() and "Traceback" not in errors[0]
    assert rec["forbidden"] == []
    nbp.snap("error-midstream.png", nbp.cell(1))


def test_view_opened_mid_stream_catches_up(open_notebook):
    """A second view of the output, created after the early checkpoints, shows what the
    first shows and follows along (it used to freeze on an early, empty state)."""
    nbp = open_notebook([SETUP, "%%claude --replay markdown\nHow do I find outliers?"])
    nbp.run_setup()
    before = nbp.start(1)
    nbp.page.wait_for_function(
        """() => {
          const c = document.querySelector(".cnb-live [data-cnb='hdr.clock']");
          const b = document.querySelector(".cnb-live [data-cnb='body']");
          return c && b && parseFloat(c.textContent) > 2.5 && b.innerText.length > 100;
        }""",
        timeout=60_000,
    )
    nbp.output(1).locator(".jp-OutputArea-output").first.click(button="right")
    nbp.page.get_by_text("Create New View for Cell Output").click()
    views = nbp.page.locator(".cnb-live")
    # The new view is not empty: it replayed what it missed, then keeps up.
    nbp.page.wait_for_function(
        """() => {
          const bodies = [...document.querySelectorAll(".cnb-live [data-cnb='body']")];
          return bodies.length === 2 && bodies[1].innerText.length > 200;
        }""",
        timeout=30_000,
    )
    both = views.evaluate_all(
        """els => els.map(e => ({
          text: e.querySelector("[data-cnb='body']").innerText,
          clock: parseFloat(e.querySelector("[data-cnb='hdr.clock']").textContent),
        }))"""
    )
    assert len(both) == 2
    first, second = (norm(v["text"]) for v in both)
    assert common_prefix(first, second) >= min(len(first), len(second)) - TAIL_SLACK
    assert abs(len(first) - len(second)) <= TAIL_SLACK, (len(first), len(second))
    assert abs(both[0]["clock"] - both[1]["clock"]) < 1.0, both
    nbp.wait_done(1, before)
    # Both views end as the same static answer.
    statics = nbp.page.locator(".cnb-static")
    statics.nth(1).wait_for()
    assert nbp.page.locator(".cnb-live").count() == 0
    texts = [norm(t) for t in statics.all_inner_texts()]
    assert len(texts) == 2 and texts[0] == texts[1]
