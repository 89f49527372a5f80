"""Teaching mode in a real browser: the SSE event inspector's rows, row JSON, filters and
raw wire text while the answer streams, then the summary it leaves, counted against the
transcript the offline server played."""

from __future__ import annotations

import json
from importlib import resources

import pytest
from jupyter_harness import SETUP

pytestmark = pytest.mark.browser

INSPECTOR = ".cnb-inspector"

# Rows the virtualised table holds (its spacer's height over the row height), and the
# total it should hold: every event, or, with a type filter on, that type's count.
_TABLE_JS = """root => {
  const layer = root.querySelector('[data-i]').parentElement;
  const rows = Math.round(parseFloat(layer.parentElement.firstChild.style.height) / 18);
  const chip = root.querySelector('[data-cat="text_delta"]');
  const filtered = chip.style.background !== 'transparent';
  const stats = root.querySelector('b').nextSibling.textContent;
  const total = parseInt((filtered ? chip.textContent.split(' ')[1] : stats).replace(/,/g, ''), 10);
  return {rows, total, filtered};
}"""

_EVENTS_SHOWN_JS = """([i, n]) => {
  const cell = document.querySelectorAll('.jp-Notebook .jp-Cell')[i];
  const root = cell && cell.querySelector('.cnb-inspector');
  const stats = root && root.querySelector('b') && root.querySelector('b').nextSibling;
  return !!stats && parseInt(stats.textContent.replace(/,/g, ''), 10) > n;
}"""


def _transcript_totals(name: str) -> dict[str, int]:
    """Events per type in a shipped transcript (deltas per delta type), read from the file."""
    text = (resources.files("claude_nb.offline") / "transcripts" / f"{name}.sse").read_text()
    totals: dict[str, int] = {}
    for frame in text.split("\n\n"):
        lines = dict(
            line.split(": ", 1)
            for line in frame.splitlines()
            if line.startswith(("event:", "data:"))
        )
        if "event" not in lines:
            continue
        kind = lines["event"]
        if kind == "content_block_delta":
            kind = json.loads(lines["data"])["delta"]["type"]
        totals[kind] = totals.get(kind, 0) + 1
    return totals


def test_event_inspector_streams_filters_shows_json_and_leaves_a_summary(open_notebook):
    nbp = open_notebook([SETUP, "%%claude --events --replay markdown --speed 0.3\nOutliers?"])
    nbp.run_setup()
    before = nbp.start(1)
    nbp.page.wait_for_function(_EVENTS_SHOWN_JS, arg=[1, 40], timeout=60_000)
    inspector = nbp.cell(1).locator(INSPECTOR)
    assert inspector.count() == 1

    # Stop following so rows hold still, then open one row's JSON (a row well inside
    # the viewport: the first rendered rows sit above it, for smooth scrolling).
    inspector.get_by_role("button", name="follow").click()
    rows = inspector.locator("[data-i]")
    assert rows.count() >= 10
    rows.nth(5).click()
    detail = inspector.locator("pre")
    nbp.page.wait_for_function(
        "pre => pre.textContent.startsWith('#')", arg=detail.element_handle()
    )
    text = detail.inner_text()
    number = int(text[1:].split(" ", 1)[0])
    chosen = inspector.locator(f'[data-i="{number - 1}"]')
    assert "rgba(37,99,235,0.18)" in chosen.get_attribute("style")  # shown as selected
    assert "bytes on the wire" in text
    payload = json.loads(text.split("\n", 1)[1])  # the event's data, pretty-printed
    assert payload["type"] in (
        "message_start",
        "content_block_start",
        "content_block_delta",
        "ping",
    )

    # The Raw tab: the wire text itself, `event:` and `data:` lines.
    inspector.get_by_role("button", name="Raw").click()
    nbp.page.wait_for_function(
        "root => /event: \\w+/.test(root.innerText) && /data: \\{/.test(root.innerText)",
        arg=inspector.element_handle(),
    )
    assert not inspector.locator("pre").is_visible()  # the JSON pane belongs to the Events tab
    inspector.get_by_role("button", name="Events").click()
    detail.wait_for(state="visible")

    # A total filters the table to its type, and a second click shows everything again.
    chip = inspector.locator('[data-cat="text_delta"]')
    chip.click()
    nbp.page.wait_for_function(
        """root => { const rows = [...root.querySelectorAll('[data-i]')];
                     return rows.length > 0 && rows.every(r => r.title.includes('text_delta')); }""",
        arg=inspector.element_handle(),
    )
    table = inspector.evaluate(_TABLE_JS)
    assert table["filtered"] and table["rows"] == table["total"], table
    nbp.snap("events-live.png", nbp.cell(1))
    chip.click()
    nbp.page.wait_for_function(
        f"root => {{ const t = ({_TABLE_JS})(root); return !t.filtered && t.rows === t.total; }}",
        arg=inspector.element_handle(),
    )

    # The end: the widget is replaced by a summary that counts every event the server sent.
    nbp.wait_done(1, before)
    out = nbp.output(1)
    assert out.locator(INSPECTOR).count() == 0
    summary = out.locator(".cnb-events-summary")
    assert summary.count() == 1
    shown = {
        tds[0].strip(): int(tds[1].replace(",", ""))
        for tds in summary.locator("tbody tr").evaluate_all(
            "trs => trs.map(tr => [...tr.cells].map(td => td.innerText))"
        )
    }
    assert shown == _transcript_totals("markdown")
    assert f"{sum(shown.values())} events" in summary.locator("summary").inner_text()
    assert "Finding outliers" in out.locator(".cnb-static h1").first.inner_text()
    assert nbp.error_lines(1) == []
    assert nbp.our_errors() == []
