"""The shipped notebooks run top to bottom with no API key (offline), as in CI."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

pytestmark = pytest.mark.kernel


@pytest.mark.parametrize("name", sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")))
def test_notebook_runs_top_to_bottom(name, monkeypatch, tmp_path):
    for var in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        "commit notebooks cleared"
    )
    client = NotebookClient(
        nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises on any error in a cell not tagged raises-exception
    answers = [
        o
        for c in nb.cells
        for o in c.get("outputs", [])
        if o.output_type == "display_data" and "cnb-static" in o.data.get("text/html", "")
    ]
    assert answers, "the notebook shows at least one static answer"
    nbformat.write(nb, tmp_path / name)


@pytest.mark.parametrize("name", sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")))
def test_notebooks_use_public_names_and_sdk_facts(name):
    """Users copy notebook code: no private attributes, no model id or tool version written
    out (they come from claude_nb.sdk, so a new SDK release cannot break the notebook)."""
    import re

    from sdk_facts import SDK_MODELS

    from claude_nb import sdk

    code = "\n".join(
        c.source
        for c in nbformat.read(NOTEBOOKS / name, as_version=4).cells
        if c.cell_type == "code"
    )
    assert not re.search(r"\.__self__|\._[a-z]\w*", code), "a private attribute in a notebook"
    assert not [m for m in SDK_MODELS if m in code]
    assert not [t for t in (sdk.WEB_SEARCH_TYPE, sdk.WEB_FETCH_TYPE) if t and t in code]
