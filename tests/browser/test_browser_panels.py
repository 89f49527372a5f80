"""Thinking and tool panels: collapsed when the answer ends, and they open on a click."""

from __future__ import annotations

import pytest
from jupyter_harness import SETUP

pytestmark = pytest.mark.browser


def _toggle(panel) -> None:
    """Click the summary; wait for the <details> to flip its open state."""
    was_open = panel.evaluate("d => d.open")
    panel.locator("summary").first.click()
    panel.page.wait_for_function(
        "([d, was]) => d.open !== was", arg=[panel.element_handle(), was_open]
    )


def test_thinking_and_tool_panels_expand_and_collapse(open_notebook):
    nbp = open_notebook(
        [
            SETUP,
            "%%claude --replay thinking\nMean or median for income?",
            "%%claude --replay web_search\nWhat changed in pandas 3.0?",
        ]
    )
    nbp.run_all()

    # Thinking: collapsed at the end, its text hidden until the summary is clicked.
    thinking = nbp.output(1).locator(".cnb-static details.cnb-thinking")
    assert thinking.count() == 1
    assert thinking.evaluate("d => d.open") is False
    assert "Thought for" in thinking.locator("summary").inner_text()
    thought = thinking.get_by_text("The user wants to know whether to use the mean or the median")
    assert not thought.is_visible()
    _toggle(thinking)
    assert thought.is_visible()

    # The server tool: name in the summary; input JSON and the result links inside.
    tool = nbp.output(2).locator(".cnb-static details.cnb-tool")
    assert tool.count() == 1
    assert tool.evaluate("d => d.open") is False
    assert "web_search" in tool.locator("summary").inner_text()
    query = tool.locator("pre", has_text='"query"')
    assert not query.is_visible()
    _toggle(tool)
    assert query.is_visible()
    assert "pandas 3.0 release copy-on-write string dtype" in query.inner_text()
    links = tool.locator("ol li a")
    assert links.count() >= 3
    assert all(h.startswith("https://") for h in links.evaluate_all("as => as.map(a => a.href)"))
    assert links.first.is_visible()
    assert "pandas" in links.first.inner_text()

    # Both open: the screenshot shows what a reader sees after expanding them.
    nbp.snap("panels.png", nbp.notebook_area)

    _toggle(thinking)
    _toggle(tool)
    assert not thought.is_visible()
    assert not query.is_visible()
    # The answers around the panels are there too.
    assert "median" in nbp.output(1).locator(".cnb-static .cnb-text").first.inner_text()
    assert "Copy-on-Write" in nbp.output(2).locator(".cnb-static").inner_text()
    assert nbp.error_lines(1) == [] and nbp.error_lines(2) == []
