"""What stays in the notebook: saved and reloaded, and executed headless then opened untrusted."""

from __future__ import annotations

from typing import Any

import pytest
from jupyter_harness import JupyterServer, run_with_nbclient

pytestmark = pytest.mark.browser

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
PROMPTS = [
    "%%claude --replay markdown\nHow do I find outliers?",
    "%%claude --replay thinking\nMean or median for income?",
    "%%claude --replay web_search\nWhat changed in pandas 3.0?",
]
FAST_SETUP = "%load_ext claude_nb\n%claude offline --speed 0"


def _static_outputs_only(nb: Any) -> bool:
    """Each answer cell holds exactly the static bundle: no widget view, no stale repr."""
    for cell in nb.cells[1:4]:
        outs = cell.get("outputs", [])
        if len(outs) != 1:
            return False
        data = outs[0].get("data", {})
        if WIDGET_MIME in data or "cnb-static" not in data.get("text/html", ""):
            return False
        if "live view" in data.get("text/plain", ""):
            return False
    return True


def _check_static_page(nbp, trusted: bool) -> None:
    """The three answers render as static HTML with working panels, and nothing else."""
    page = nbp.page
    statics = page.locator(".cnb-static")
    statics.nth(2).wait_for()
    assert statics.count() == 3
    assert page.locator(".cnb-live").count() == 0
    notebook_text = page.locator(".jp-Notebook").first.inner_text()
    assert "Error displaying widget" not in notebook_text
    assert "Loading widget" not in notebook_text
    assert "claude_nb live view" not in notebook_text
    html_outputs = page.locator('.jp-OutputArea-output[data-mime-type="text/html"]')
    assert html_outputs.count() == 3
    marks = html_outputs.evaluate_all("os => os.map(o => o.classList.contains('jp-mod-trusted'))")
    assert marks == [trusted] * 3, f"expected trusted={trusted}, got {marks}"

    md = nbp.output(1).locator(".cnb-static")
    assert md.locator("h1, h2").count() >= 3
    assert md.locator("table").count() >= 2
    assert "costs $5 and $10 per month" in md.inner_text()
    # Inline styles survive (the sanitizer keeps colour styles): highlighted code and
    # the green "done" dot in the header.
    code_colors = md.locator(".cnb-code").first.evaluate(
        "e => new Set([...e.querySelectorAll('span')].map(s => getComputedStyle(s).color)).size"
    )
    assert code_colors >= 3, f"code lost its colours ({code_colors})"
    dot = md.locator(".cnb-header span").first
    assert dot.evaluate("e => getComputedStyle(e).color") == "rgb(22, 163, 74)"

    for i, kind, inside in [
        (2, "cnb-thinking", "The user wants to know whether to use the mean"),
        (3, "cnb-tool", "pandas 3.0 release copy-on-write string dtype"),
    ]:
        panel = nbp.output(i).locator(f"details.{kind}")
        assert panel.count() == 1, kind
        assert panel.evaluate("d => d.open") is False
        body = panel.get_by_text(inside).first
        assert not body.is_visible()
        panel.locator("summary").first.click()
        body.wait_for(state="visible")
        assert panel.evaluate("d => d.open") is True


@pytest.mark.parametrize("ui", ["lab", "nb7"])
def test_saved_notebook_reloads_as_static_html(open_notebook, ui):
    nbp = open_notebook([FAST_SETUP, *PROMPTS], ui)
    nbp.run_all()
    assert nbp.page.locator(".cnb-static").count() == 3
    saved = nbp.save(_static_outputs_only)
    assert _static_outputs_only(saved)

    nbp.reload()
    _check_static_page(nbp, trusted=True)
    # Math in the saved HTML is typeset again on load.
    nbp.output(1).locator(".cnb-static mjx-container").first.wait_for()
    nbp.snap("reloaded.png" if ui == "lab" else "reloaded-nb7.png", nbp.notebook_area)


@pytest.fixture(scope="module")
def executed_notebook(jupyter_server: JupyterServer) -> str:
    """A notebook run headless by nbclient and written unsigned into the server root."""
    name = "executed-untrusted.ipynb"
    run_with_nbclient(jupyter_server.env, [FAST_SETUP, *PROMPTS], jupyter_server.root / name, 180)
    return name


@pytest.mark.parametrize("ui", ["lab", "nb7"])
def test_executed_notebook_renders_untrusted(open_notebook, jupyter_server, executed_notebook, ui):
    nb = jupyter_server.read_notebook(executed_notebook)
    assert _static_outputs_only(nb), "nbclient left a widget view or a stale repr"
    nbp = open_notebook(None, ui, name=executed_notebook)
    if ui == "nb7":
        assert nbp.page.get_by_text("Not Trusted").first.is_visible()
    _check_static_page(nbp, trusted=False)
    nbp.snap("untrusted.png" if ui == "lab" else "untrusted-nb7.png", nbp.notebook_area)
