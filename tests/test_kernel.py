"""The magic in a real Jupyter kernel: live widget traffic, interrupts, and what is saved."""

from __future__ import annotations

import json
import re
import threading

import nbformat
import pytest
from kernel_utils import execute, offline_kernel, parse, replay_widget, value
from nbclient import NotebookClient
from nbconvert import HTMLExporter

from claude_nb.render.visible import visible_text

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def kernel():
    with offline_kernel(speed=0) as km_kc:
        yield km_kc


def final_display(ex):
    """The static bundle that replaced the live widget (an update of the same display id)."""
    shown = ex.of_type("display_data")
    updates = ex.of_type("update_display_data")
    assert shown and updates, "the widget is displayed and then replaced"
    display_id = shown[0]["content"]["transient"]["display_id"]
    assert updates[-1]["content"]["transient"]["display_id"] == display_id
    return updates[-1]["content"]["data"]


def find_class(nodes, cls):
    for node in nodes:
        if cls in node.attrs.get("class", "").split():
            return node
        hit = find_class(node.children, cls)
        if hit is not None:
            return hit
    return None


def squash(text):
    return re.sub(r"\s+", " ", text).strip()


@pytest.mark.parametrize(
    "name", ["markdown", "thinking", "web_search", "tool_use", "unknown_block"]
)
def test_the_live_view_ends_where_the_static_output_starts(kernel, name):
    """Replaying the widget's patches gives the same visible body as the saved output."""
    _, kc = kernel
    ex = execute(kc, f"%%claude --replay {name}\nq")
    assert ex.status == "ok", ex.errors()
    dom, _ = replay_widget(ex)
    live_body = dom.root.find("body")
    assert live_body is not None and dom.applied > 0
    static = final_display(ex)
    assert set(static) == {"text/html", "text/markdown", "text/plain"}
    static_body = find_class(parse(static["text/html"]), "cnb-body")
    assert squash(live_body.visible()) == squash(static_body.visible())


def test_patches_stay_linear_in_the_answer(kernel):
    """Widget payload bytes against the size of the final HTML: the full-resend design would
    send the whole HTML once per paint. (Whole-message bytes, with Jupyter's ~600-byte
    envelope per update, are measured in bench/.)"""
    _, kc = kernel
    execute(kc, "%claude offline --speed 4")
    try:
        ex = execute(kc, "%%claude --replay markdown\nq", timeout=120)
    finally:
        execute(kc, "%claude offline --speed 0")
    dom, sizes = replay_widget(ex, payload_only=True)
    sizes = sizes[1:]  # the widget's code itself (comm_open) is a fixed cost, not the answer's
    final_html = len(final_display(ex)["text/html"])
    paints = dom.applied
    assert paints >= 5, "a paced stream is painted several times"
    assert sum(sizes) < 4 * final_html
    assert sum(sizes) < paints * final_html / 4  # far below resending everything per paint


def test_interrupt_in_a_real_kernel(kernel):
    km, kc = kernel
    seen = threading.Event()

    def on_message(msg):
        if (
            msg["msg_type"] == "comm_msg"
            and '"tail"' in json.dumps(msg["content"])
            and not seen.is_set()
        ):
            seen.set()  # text is on screen: stop the kernel a moment later
            threading.Timer(0.3, km.interrupt_kernel).start()

    execute(kc, "%claude offline --speed 1")
    try:
        ex = execute(kc, "%%claude --replay long\nq", timeout=120, on_message=on_message)
    finally:
        execute(kc, "%claude offline --speed 0")
    assert ex.status == "error"
    (error,) = ex.errors()
    assert error["ename"] == "RunInterrupted"
    assert len(error["traceback"]) == 1 and "Interrupted" in error["traceback"][0]
    static = final_display(ex)
    assert "⏹ Interrupted" in static["text/plain"]
    status = value(kc, "[_claude.status, len(_claude.text), _claude_message is _claude.message]")
    assert status[0] == "interrupted" and 0 < status[1] < 60_000 and status[2]
    outcomes = value(
        kc,
        "(get_ipython().find_magic('claude').__self__._server.wait_idle(5),"
        " [r.outcome for r in get_ipython().find_magic('claude').__self__._server.requests][-1])",
    )
    assert outcomes == [True, "client_disconnected"]
    threads = value(kc, "sorted(t.name for t in __import__('threading').enumerate())")
    assert not [t for t in threads if "claude_nb" in t and "warm" not in t], threads


def test_errors_are_one_line_and_the_kernel_stays_usable(kernel):
    _, kc = kernel
    ex = execute(kc, "%%claude --replay error_midstream\nq")
    (error,) = ex.errors()
    assert len(error["traceback"]) == 1 and "overloaded_error" in error["traceback"][0]
    static = final_display(ex)
    assert "✖ The API reported an error mid-answer" in static["text/plain"]
    assert "Sure! Here is" in static["text/plain"]
    assert value(kc, "_claude.status") == "error"
    assert execute(kc, "1 + 1").status == "ok"


def test_display_fallback_view(kernel):
    _, kc = kernel
    execute(kc, "%config Claude.view = 'display'")
    try:
        ex = execute(kc, "%%claude --replay markdown\nq")
    finally:
        execute(kc, "%config Claude.view = 'auto'")
    assert not ex.of_type("comm_open")
    data = final_display(ex)
    assert "Finding outliers" in data["text/html"]


QUICK = [
    "%load_ext claude_nb\n%claude offline --speed 0",
    "%%claude --replay markdown\nHow do I find outliers?",
    "%%claude --replay thinking\nMean or median?",
    "%%claude --replay web_search\nWhat changed in pandas 3.0?",
]


def test_an_executed_notebook_keeps_static_answers_only(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in QUICK]
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    path = tmp_path / "run.ipynb"
    nbformat.write(nb, path)
    saved = nbformat.read(path, as_version=4)
    for cell in saved.cells[1:]:
        (out,) = cell.outputs
        assert out.output_type == "display_data"
        assert set(out.data) == {"text/html", "text/markdown", "text/plain"}
        assert "application/vnd.jupyter.widget-view+json" not in out.data
        assert "live view" not in out.data["text/plain"]
    html_doc = saved.cells[2].outputs[0].data["text/html"]
    assert "<details" in html_doc and "Thought for" in html_doc
    # what nbclient leaves of the (closed) widgets is small: no answer content in it
    state = saved.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    for model in state.get("state", {}).values():
        assert model["state"].get("checkpoint", "") == ""
    # nbconvert shows the whole answer without a kernel
    body, _ = HTMLExporter().from_notebook_node(saved)
    text = visible_text(body)
    assert "Finding outliers in a sales table" in text
    assert "Copy-on-Write is now the default" in text
    assert "median" in text


def test_the_key_never_reaches_the_saved_notebook(tmp_path, monkeypatch):
    """A real key in the environment, requests really sent with it, and a notebook saved."""
    from claude_nb import offline

    secret = "sk-ant-api03-NEVER-IN-THE-NOTEBOOK-42"
    with offline.start(speed=0) as srv:
        monkeypatch.setenv("ANTHROPIC_API_KEY", secret)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.url)
        nb = nbformat.v4.new_notebook()
        cells = [
            "%load_ext claude_nb",
            "%%claude --chat c\nhello",
            "%%claude --dry-run\nhello",
            "%claude usage",
            "_claude",
            "%%claude --max-tokens 5\nhello",
            "%%claude --bogus\nq",
        ]
        nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
        nb.cells[6].metadata["tags"] = ["raises-exception"]
        NotebookClient(nb, timeout=120, kernel_name="python3").execute()
        paths = [r.path for r in srv.requests]
        assert paths.count("/v1/messages") == 2 and paths.count("/v1/messages/count_tokens") == 1
        assert all(
            "redacted" in str(r.headers).lower() for r in srv.requests if r.path == "/v1/messages"
        )
    path = tmp_path / "keyed.ipynb"
    nbformat.write(nb, path)
    assert secret not in path.read_text()


def test_a_claude_nb_folder_in_the_working_directory_does_not_hide_the_package(tmp_path):
    """A fresh `git clone` makes a `claude_nb/` folder; a notebook started next to it used
    to import that folder (a namespace package) and `%load_ext` said "not an IPython
    extension". The installed package must win, and the magic must work."""
    from jupyter_client.manager import start_new_kernel

    (tmp_path / "claude_nb").mkdir()
    (tmp_path / "claude_nb" / "README.md").write_text("a clone, not the package\n")
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path))
    try:
        ex = execute(kc, "%load_ext claude_nb\n%claude offline --speed 0")
        assert ex.status == "ok", ex.errors()
        assert "not an IPython extension" not in ex.stream_text()
        origin = value(kc, "__import__('claude_nb').__file__")
        assert origin and not origin.startswith(str(tmp_path))
        ex = execute(kc, "%%claude --quiet\nq\n")
        assert ex.status == "ok", ex.errors()
        assert value(kc, "_claude.status") == "complete"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
