"""Teaching mode: the event inspector, the timeline chart, --step, record/replay, the lesson.

Real SDK, real HTTP, the offline server; a real kernel (jupyter_client) and nbclient
where widgets and saved outputs matter.
"""

from __future__ import annotations

import contextlib
import io
import json
import queue
import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import nbformat
import pytest
from kernel_utils import execute, offline_kernel, value
from nbclient import NotebookClient
from sdk_facts import MODEL

from claude_nb import offline
from claude_nb.notebook.runner import Run
from claude_nb.notebook.tool_loop import converse
from claude_nb.notebook.tools import as_tool, tool_params
from claude_nb.offline.format import SSEEvent, Transcript
from claude_nb.stream.protocol import DELTA_TYPES
from claude_nb.stream.wire import WireTap
from claude_nb.teaching.inspector import CLOSED_ESM, EventInspector, InspectorWidget, category
from claude_nb.teaching.timeline_chart import PAUSE_BG, TOOL_BG, TTFT_COLOR, TimelineChart

REPO = Path(__file__).resolve().parents[1]
TRANSCRIPTS = Path(offline.__file__).parent / "transcripts"
LESSON = REPO / "notebooks" / "streaming-explained.ipynb"
INSPECTOR_ID = "claude_nb.teaching.inspector.InspectorWidget"


# Helpers ------------------------------------------------------------------------------


def sse_counts(text: str) -> Counter[str]:
    """Events per type, counted from the ``event:`` lines of an SSE body (pings included)."""
    return Counter(m.group(1) for m in re.finditer(r"^event: ?(\S+)", text, re.M))


class RowStore:
    """The browser's row store, rebuilt from the inspector's checkpoint and messages
    exactly as the widget's JavaScript does (``append``/``restore``)."""

    def __init__(self) -> None:
        self.names = [""]
        self.rows: list[list[int]] = []
        self.raw: list[str] = []
        self.gapped = False

    def checkpoint(self, text: str) -> None:
        if not text:
            return
        cp = json.loads(text)
        if cp["n"] > len(self.rows) or self.gapped:
            self.names, self.rows, self.raw = cp["names"], list(cp["rows"]), list(cp["raw"])
            self.gapped = False

    def message(self, msg: dict[str, Any]) -> None:
        assert msg["cnbi"] == 1
        if "names" in msg:
            self.names = msg["names"]
        if msg["start"] > len(self.rows):
            self.gapped = True
            return
        skip = len(self.rows) - msg["start"]
        self.rows += msg["rows"][skip:]
        self.raw += msg["raw"][skip:]

    def counts(self) -> Counter[str]:
        return Counter(self.names[r[1]] for r in self.rows)

    def categories(self) -> Counter[str]:
        return Counter(category(self.names[r[1]], self.names[r[3]] or None) for r in self.rows)


def tap_client(url: str) -> anthropic.Anthropic:
    """An SDK client whose transport tees event streams into the current run's wire logs."""
    return anthropic.Anthropic(
        base_url=url,
        api_key="offline",
        max_retries=0,
        timeout=30.0,
        http_client=anthropic.DefaultHttpxClient(transport=WireTap()),
    )


def request(transcript: str | None = None, **extra: Any) -> dict[str, Any]:
    req: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 128_000,  # never cut: the counts must match the whole transcript
        "messages": [{"role": "user", "content": "q"}],
        **extra,
    }
    if transcript:
        req["extra_headers"] = {"x-claude-nb-transcript": transcript}
    return req


def stream_run(
    client: anthropic.Anthropic, req: dict[str, Any], extras: list[Any], view: str = "widget"
) -> Run:
    """A run with teaching extras and the live widget view (no front-end: comms are dummies)."""
    run = Run(model=MODEL, view=view, extras=extras, wire=True)
    with contextlib.redirect_stdout(io.StringIO()):  # display() of a widget prints its repr here
        run.stream_turn(lambda: client.messages.stream(**req))
        run.close()
    return run


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every custom message the inspectors send (what the browser would receive)."""
    messages: list[dict[str, Any]] = []
    monkeypatch.setattr(
        InspectorWidget, "send", lambda self, msg, buffers=None: messages.append(msg)
    )
    return messages


@pytest.fixture(scope="module")
def fast_server() -> Iterator[offline.OfflineServer]:
    srv = offline.start(speed=0)
    yield srv
    srv.stop()


# The inspector --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "markdown",
        "thinking",
        "tool_use",
        "web_search",
        "unknown_block",
        "error_midstream",
        "redacted_thinking",
    ],
)
def test_inspector_counts_match_the_transcript(fast_server, sent, name):
    """Per type, the inspector counts (kernel side, and the rows the browser rebuilds)
    equal the ``event:`` lines of the transcript file, pings included."""
    sse = (TRANSCRIPTS / f"{name}.sse").read_text(encoding="utf-8")
    expected = sse_counts(sse)
    run = stream_run(tap_client(fast_server.url), request(name), [EventInspector, TimelineChart])
    inspector = run.extras[0]
    assert inspector.counts == expected
    assert sum(inspector.totals.values()) == sum(expected.values())

    browser = RowStore()
    for msg in sent:
        browser.message(msg)
    assert not browser.gapped
    assert browser.counts() == expected
    assert browser.categories() == Counter(inspector.totals)
    # the raw text is the wire's, byte for byte (the server adapts only message_start/delta)
    assert browser.raw == [f.raw for f in run.wire[0].frames]
    for raw in browser.raw:
        if raw.startswith(("event: content_block", "event: ping")):
            assert raw in sse
    # times are milliseconds since the request, in arrival order
    times = [r[0] for r in browser.rows]
    assert times == sorted(times) and times[-1] <= run.state.elapsed * 1000 + 1

    summary = inspector.static_html()
    assert 'class="cnb-events-summary"' in summary
    for cat, n in inspector.totals.items():
        assert re.search(rf"{cat}</td><td[^>]*>{n:,}</td>", summary), cat
    if "ping" in expected:
        assert "ping" in inspector.totals
    if name == "unknown_block":
        assert inspector.totals.get("unknown", 0) > 0
    if name == "error_midstream":
        assert inspector.totals["error"] == 1 and run.state.error is not None


def test_inspector_cost_stays_bounded_for_10k_events(sent):
    """11,000 events: each is parsed once and sent once (bytes O(events)); a paint's cost
    is O(its batch), the checkpoint is not used past the early rows, the summary is small."""
    text = ("All work and no play makes Jack a dull boy. " * 20 + "\n\n") * 50
    transcript = offline.text_transcript(text, 4)
    n_events = len(transcript.events)
    assert n_events > 10_000
    srv = offline.start(speed=0, transcript=transcript)
    try:
        run = stream_run(tap_client(srv.url), request(), [EventInspector, TimelineChart])
    finally:
        srv.stop()
    inspector, chart = run.extras
    stats = inspector.stats()
    assert stats["events"] == n_events
    rows_sent = sum(len(m["rows"]) for m in sent)
    assert rows_sent == n_events  # every event once, never re-sent
    per_event = stats["bytes_sent"] / n_events
    wire_per_event = stats["wire_bytes"] / n_events
    assert per_event < 1.5 * wire_per_event + 40, (per_event, wire_per_event)
    batches = [(rows, cost) for rows, cost in inspector.paint_costs if rows]
    per_row = sum(c for _, c in batches) / sum(r for r, _ in batches)
    assert per_row < 60e-6, f"{per_row * 1e6:.1f} µs per event"
    assert max(c for _, c in batches) < 0.5
    print(
        f"\n{n_events} events: {per_event:.0f} bytes sent per event ({wire_per_event:.0f} on the wire),"
        f" {len(sent)} messages, {per_row * 1e6:.1f} µs per event in paint,"
        f" max paint {max(c for _, c in batches) * 1e3:.1f} ms for {max(r for r, _ in batches)} rows"
    )
    assert inspector.widget_obj is None  # closed
    assert len(inspector.static_html()) < 4000
    html = chart.static_html()
    assert len(html) < 40_000 and html.count("flex:1 1 0") == 100
    assert chart.bytes_sent < 40_000 * (run.state.elapsed / 0.5 + 2)


def test_timeline_chart_marks_first_token_phases_and_pauses():
    """A replay with recorded timing (a 0.9 s pause in the text): thinking, text, the
    first-token marker, the waiting band and the pause are all in the static chart."""
    base = offline.load_transcript("thinking")
    events, t, texts = [], 0.0, 0
    for e in base.events:
        t += 0.3 if e.event == "content_block_start" and e.data["index"] == 0 else 0.006
        if e.event == "content_block_delta" and e.data["delta"]["type"] == "text_delta":
            texts += 1
            t += 0.9 if texts == 30 else 0
        events.append(SSEEvent(e.event, e.raw, t, e.clen))
    srv = offline.start(speed=1, transcript=Transcript("paced", events))
    try:
        run = stream_run(tap_client(srv.url), request(), [TimelineChart])
    finally:
        srv.stop()
    (chart,) = run.extras
    html = chart.static_html()
    assert 'class="cnb-timeline"' in html
    assert f"border-left:2px solid {TTFT_COLOR}" in html and "first token" in html
    assert "#8b5cf6" in html and "#2563eb" in html  # thinking and text bars
    assert PAUSE_BG in html and "1 pause &gt; 0.5 s" in html
    assert "waiting for the first token" in html
    for tag in ("<svg", "<img", "<style", "<script", "data:"):
        assert tag not in html  # survives the notebook sanitizer
    assert chart.pause_count == 1 and 0.8 < chart.longest_pause < 1.6


def test_timeline_chart_shows_a_tool_running(fast_server):
    """A tool loop: the chart marks the local tool's run (from the turns' tool runs)."""

    def lookup(city: str) -> str:
        """Look a city up.

        Args:
            city: the city
        """
        time.sleep(0.4)
        return f"{city}: fine"

    tools = {"lookup": as_tool(lookup)}
    client = tap_client(fast_server.url)
    run = Run(model=MODEL, view="quiet", extras=[TimelineChart], wire=True)
    converse(run, lambda r: client.messages.stream(**r), request(tools=tool_params(tools)), tools)
    result = run.close()
    html = result._repr_mimebundle_()["text/html"]
    assert 'class="cnb-timeline"' in html and TOOL_BG in html and "tool running" in html
    assert len(run.state.turns) == 2


def test_events_df_agrees_with_the_timeline_and_the_wire(fast_server):
    run = stream_run(
        tap_client(fast_server.url), request("thinking"), [EventInspector], view="quiet"
    )
    result = run.close()
    inspector = run.extras[0]
    assert "cnb-events-summary" in result._repr_mimebundle_()["text/html"]  # quiet: read here
    df = result.events_df()
    assert list(df.columns) == ["t", "type", "index", "delta_type", "size", "turn"]
    assert df["t"].is_monotonic_increasing
    deltas = df[df.type == "content_block_delta"]
    assert deltas.delta_type.value_counts().to_dict() == {
        k: v for k, v in inspector.totals.items() if k in DELTA_TYPES
    }
    # the SDK never yields ping: the timeline has every other wire event
    wire = Counter(f.event for f in result.wire[0].frames)
    del wire["ping"]
    assert df.type.value_counts().to_dict() == dict(wire)
    first = deltas[deltas.delta_type.isin(["thinking_delta", "text_delta"])].t.min()
    assert first == pytest.approx(result.ttft)
    assert df.t.max() <= result.duration
    text = deltas[deltas.delta_type == "text_delta"]["size"].sum()
    assert text == len(result.text)


# Record and replay ----------------------------------------------------------------------


def test_record_then_replay_reproduces_text_and_pace(shell, server, tmp_path, capsys):
    path = tmp_path / "answer.sse"
    assert shell.run_cell(
        f"%%claude --record {path} --replay thinking --speed 2 -o first\nq"
    ).success
    first = shell.user_ns["first"]
    recorded = path.read_text(encoding="utf-8")
    assert "claude_nb: recorded" in capsys.readouterr().out
    stamps = [float(x) for x in re.findall(r"^: t=([\d.]+)$", recorded, re.M)]
    assert len(stamps) == len(first.wire[0].frames) == sum(sse_counts(recorded).values())
    assert stamps[-1] > 0.5  # really paced

    assert shell.run_cell(f"%%claude --events --replay {path} --speed 1 -o second\nq").success
    second = shell.user_ns["second"]
    assert second.text == first.text and second.thinking == first.thinking
    assert sse_counts(recorded) == Counter(f.event for f in second.wire[0].frames)
    # the same pace: each event arrives when it did in the recording (± scheduling noise)
    t0 = second.wire[0].frames[0].t
    replayed = [f.t - t0 for f in second.wire[0].frames]
    worst = max(abs(a - b) for a, b in zip(replayed, stamps, strict=True))
    assert worst < 0.35, worst
    assert abs(second.duration - first.duration) < 0.3 * first.duration + 0.2


# A real kernel --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kernel():
    with offline_kernel(speed=1) as (_, kc):
        yield kc


def comm_models(ex: Any) -> dict[str, dict[str, Any]]:
    """comm id -> latest state, for every widget an execution opened."""
    models: dict[str, dict[str, Any]] = {}
    for msg in ex.of_type("comm_open", "comm_msg"):
        data = msg["content"]["data"]
        if "state" in data:
            models.setdefault(msg["content"]["comm_id"], {}).update(data["state"])
    return models


def click(kc: Any, comm_id: str, timeout: float = 60) -> list[dict[str, Any]]:
    """Click a Button the way the front-end does, and collect what the kernel sends back."""
    msg = kc.session.msg(
        "comm_msg",
        {"comm_id": comm_id, "data": {"method": "custom", "content": {"event": "click"}}},
    )
    kc.shell_channel.send(msg)
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            m = kc.get_iopub_msg(timeout=1)
        except queue.Empty:
            continue
        if m["parent_header"].get("msg_id") != msg["header"]["msg_id"]:
            continue
        out.append(m)
        if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
            return out
    raise TimeoutError("the kernel did not handle the click")


@pytest.mark.kernel
def test_inspector_in_a_kernel(kernel):
    """The comm traffic of ``--events``: rows rebuilt as the browser would equal the
    transcript's counts; every widget is closed and left without rows or code."""
    kc = kernel
    ex = execute(kc, "%%claude --events --max-tokens 64000 --replay tool_use_empty --speed 4\nq")
    ex = execute(kc, "%%claude --events --max-tokens 64000 --replay thinking --speed 4\nq")
    assert ex.status == "ok", ex.errors()
    models = comm_models(ex)
    (inspector_id,) = [c for c, s in models.items() if s.get("_anywidget_id") == INSPECTOR_ID]
    browser = RowStore()
    payload = 0
    for msg in ex.of_type("comm_open", "comm_msg"):
        if msg["content"]["comm_id"] != inspector_id:
            continue
        data = msg["content"]["data"]
        if data.get("method") == "custom":
            browser.message(data["content"])
            payload += len(json.dumps(data["content"]))
        elif "checkpoint" in data.get("state", {}):
            browser.checkpoint(data["state"]["checkpoint"])
    expected = sse_counts((TRANSCRIPTS / "thinking.sse").read_text(encoding="utf-8"))
    assert browser.counts() == expected
    assert payload < 3 * sum(len(r) for r in browser.raw)

    final = ex.of_type("update_display_data")[-1]["content"]["data"]["text/html"]
    assert 'class="cnb-events-summary"' in final and 'class="cnb-timeline"' in final
    closed = {m["content"]["comm_id"] for m in ex.of_type("comm_close")}
    assert set(models) <= closed  # the widgets and their layouts/styles
    assert models[inspector_id]["checkpoint"] == "" and models[inspector_id]["_esm"] == CLOSED_ESM
    for state in models.values():
        assert "content_block_delta" not in json.dumps(state)
        assert len(state.get("value", "")) == 0


@pytest.mark.kernel
def test_step_mode_in_a_kernel(kernel):
    """The cell returns at once; clicks (comm messages to the idle kernel) advance the
    stream; at the end the bar and the live view become static HTML and _claude is bound."""
    kc = kernel
    execute(kc, "_claude = None")
    ex = execute(kc, "%%claude --step --events --replay thinking\nq")
    assert ex.status == "ok", ex.errors()
    models = comm_models(ex)
    buttons = {
        s["description"]: c for c, s in models.items() if s.get("_model_name") == "ButtonModel"
    }
    assert set(buttons) == {"Next event ▶", "Next 10", "Run to end ⏭"}

    def shown(out: list[dict[str, Any]]) -> str:
        values = [
            m["content"]["data"]["state"]["value"]
            for m in out
            if m["msg_type"] == "comm_msg" and "value" in m["content"]["data"].get("state", {})
        ]
        return "\n".join(values)

    out = click(kc, buttons["Next event ▶"])
    assert "event 1: message_start" in shown(out)
    out = click(kc, buttons["Next event ▶"])
    assert "event 2: content_block_start · index 0" in shown(out)
    out = click(kc, buttons["Next event ▶"])
    text = shown(out)  # the wire had a ping before this delta: shown, though the SDK hides it
    assert "event 3: content_block_delta · index 0 · thinking_delta" in text
    assert "ping event also arrived" in text and "event: ping" in text
    assert "The SDK then yielded thinking" in text
    out = click(kc, buttons["Next 10"])
    assert "event 13: content_block_delta · index 0 · thinking_delta" in shown(out)
    assert value(kc, "_claude") is None  # not finished: nothing bound yet
    out = click(kc, buttons["Run to end ⏭"])
    updates = [m["content"]["data"] for m in out if m["msg_type"] == "update_display_data"]
    assert any(
        "cnb-static" in u["text/html"] and "cnb-events-summary" in u["text/html"] for u in updates
    )
    assert any("Done: 99 events stepped through" in u["text/html"] for u in updates)
    status, text, n_frames = value(
        kc, "[_claude.status, _claude.text, len(_claude.wire[0].frames)]"
    )
    assert status == "complete" and n_frames == 100
    assert text == offline.load_transcript("thinking").text()
    closed = {m["content"]["comm_id"] for m in out if m["msg_type"] == "comm_close"}
    assert set(buttons.values()) <= closed
    outcome = value(kc, "get_ipython().find_magic('claude').__self__._server.requests[-1].outcome")
    assert outcome == "complete"


@pytest.mark.kernel
def test_a_new_request_abandons_an_open_stepper(kernel):
    """Re-running a --step cell (any new %%claude) closes the previous stepper's HTTP
    connection and turns its view into a static 'interrupted' output."""
    kc = kernel
    ex = execute(kc, "%%claude --step --replay long --speed 1\nq")
    assert ex.status == "ok", ex.errors()
    buttons = {
        s["description"]: c
        for c, s in comm_models(ex).items()
        if s.get("_model_name") == "ButtonModel"
    }
    click(kc, buttons["Next 10"])
    ex = execute(kc, "%%claude --replay tool_use_empty --speed 0\nq")
    assert ex.status == "ok", ex.errors()
    texts = [m["content"]["data"].get("text/plain", "") for m in ex.of_type("update_display_data")]
    assert any("Abandoned after 10 events" in t for t in texts)
    assert any("interrupted" in t for t in texts)
    server = "get_ipython().find_magic('claude').__self__._server"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        outcome = value(kc, f"[r.outcome for r in {server}.requests if r.transcript == 'long'][-1]")
        if outcome is not None:
            break
        time.sleep(0.2)
    assert outcome == "client_disconnected"
    assert value(kc, "__import__('claude_nb.teaching.step').teaching.step.active() is None")


# Saved notebooks ------------------------------------------------------------------------


def run_notebook(nb: Any, cwd: Path, timeout: int = 120) -> Any:
    NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    ).execute()
    return nb


@pytest.mark.kernel
def test_saved_notebook_keeps_chart_and_summary_not_widget_state(tmp_path):
    """Executed by nbclient and saved: the static output has the chart and the summary;
    the widget state nbclient keeps holds no rows, no chart HTML and no inspector code."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("%load_ext claude_nb\n%claude offline --speed 0"),
        nbformat.v4.new_code_cell("%%claude --events --replay markdown --max-tokens 64000\nq"),
        nbformat.v4.new_code_cell("%%claude --timeline --replay thinking\nq"),
    ]
    run_notebook(nb, tmp_path)
    path = tmp_path / "saved.ipynb"
    nbformat.write(nb, path)
    saved = nbformat.read(path, as_version=4)
    events_out, timeline_out = (c.outputs for c in saved.cells[1:])
    (events_html,) = [o.data["text/html"] for o in events_out if "text/html" in o.get("data", {})]
    assert 'class="cnb-events-summary"' in events_html and 'class="cnb-timeline"' in events_html
    n_deltas = sse_counts((TRANSCRIPTS / "markdown.sse").read_text(encoding="utf-8"))[
        "content_block_delta"
    ]
    assert re.search(rf"text_delta</td><td[^>]*>{n_deltas:,}</td>", events_html)
    (timeline_html,) = [
        o.data["text/html"] for o in timeline_out if "text/html" in o.get("data", {})
    ]
    assert 'class="cnb-timeline"' in timeline_html and "cnb-events-summary" not in timeline_html
    for outputs in (events_out, timeline_out):
        assert all(o.output_type == "display_data" for o in outputs)
        assert not any(
            "application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs
        )
    state = saved.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    for model in state.values():
        st = model["state"]
        if st.get("_anywidget_id") == INSPECTOR_ID:
            assert st["checkpoint"] == "" and st["_esm"] == CLOSED_ESM
        if model["model_name"] == "HTMLModel":
            assert st["value"] == ""
        assert "content_block_delta" not in json.dumps(st)


@pytest.mark.kernel
def test_the_lesson_notebook_runs(tmp_path):
    """The lesson runs top to bottom with no key; only the tagged cells fail; it is saved
    without outputs."""
    source = nbformat.read(LESSON, as_version=4)
    for cell in source.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    started = time.monotonic()
    nb = run_notebook(source, tmp_path)
    took = time.monotonic() - started
    failed = [
        c
        for c in nb.cells
        if c.cell_type == "code" and any(o.output_type == "error" for o in c.outputs)
    ]
    assert failed and all("raises-exception" in c.metadata.get("tags", []) for c in failed)
    text = "\n".join(
        o.get("text", "") + json.dumps(o.get("data", {}))
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
    )
    for needle in (
        "cnb-events-summary",
        "cnb-timeline",
        "RemoteProtocolError",
        "overloaded_error",
        "same text: True",
        "input parsed at content_block_stop",
        "stepped through",
    ):
        assert needle in text, needle
    assert not (tmp_path / "lesson-recording.sse").exists()
    assert took < 60, took
