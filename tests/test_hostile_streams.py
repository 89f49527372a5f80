"""Streams a hostile or broken server sends: nothing crashes, nothing is lost, one clear line.

Through the real SDK over real HTTP: the offline server replaying hand-written
transcripts, and for what it cannot send (pings forever, a line that never ends, another
model than the one asked for) a tiny local HTTP server written here.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anthropic
import pytest
from sdk_facts import MODEL, OTHER_MODEL

import claude_nb
from claude_nb import offline
from claude_nb.notebook.runner import Run
from claude_nb.stream.wire import WireTap

HI = [{"role": "user", "content": "hi"}]


def sse(events: list[dict[str, Any] | str]) -> str:
    """An SSE body; a str item is put on the wire as the data line as is."""
    out = []
    for e in events:
        data = e if isinstance(e, str) else json.dumps(e, separators=(",", ":"))
        name = json.loads(data)["type"]
        out.append(f"event: {name}\ndata: {data}\n\n")
    return "".join(out)


def message_start(model: str = MODEL) -> dict[str, Any]:
    return offline.TranscriptBuilder(model=model).text("x").stop().build("x").dicts()[0]


TEXT_START = {
    "type": "content_block_start",
    "index": 0,
    "content_block": {"type": "text", "text": ""},
}


def text_delta(text: str, index: int = 0) -> dict[str, Any]:
    return {
        "type": "content_block_delta",
        "index": index,
        "delta": {"type": "text_delta", "text": text},
    }


END = [
    {"type": "content_block_stop", "index": 0},
    {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": 9},
    },
    {"type": "message_stop"},
]


def write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / f"{name}.sse"
    path.write_text(body, encoding="ascii")
    return path


def show(client: anthropic.Anthropic, path: Path) -> claude_nb.Result:
    with client.messages.stream(
        model=MODEL,
        max_tokens=1000,
        messages=HI,
        extra_headers={"x-claude-nb-transcript": str(path)},
    ) as s:
        return claude_nb.show(s, view="quiet")


# Lone UTF-16 halves (issue 12) -------------------------------------------------------------

# On the wire as JSON escapes: a lone high half, then one emoji sent as two escapes in two
# deltas (the SDK's JSON decoding makes each a lone surrogate in a Python str).
SURROGATES = sse(
    [
        message_start(),
        TEXT_START,
        '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello \\ud83d"}}',
        '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"X \\ud83d"}}',
        '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"\\ude00 Y end"}}',
        *END,
    ]
)
VALID = "Hello \ufffdX 😀 Y end"


def test_lone_surrogates_become_valid_text_in_show(offline_client, tmp_path):
    r = show(offline_client, write(tmp_path, "surrogates", SURROGATES))
    assert r.complete, r.error
    assert r.text == VALID
    for part in r._repr_mimebundle_().values():
        part.encode("utf-8")  # what the kernel does to send it


def test_lone_surrogates_in_the_magic(shell, server, tmp_path, capsys):
    path = write(tmp_path, "surrogates", SURROGATES)
    r = shell.run_cell(f"%%claude --replay {path}\nq", store_history=False)
    out = "".join(capsys.readouterr())
    assert r.success, out
    assert shell.user_ns["_claude"].text == VALID
    assert "😀 Y end" in out and "Traceback" not in out


@pytest.mark.kernel
def test_lone_surrogates_in_a_kernel_bind_and_close_the_widget(tmp_path):
    from kernel_utils import execute, offline_kernel, value

    path = write(tmp_path, "surrogates", SURROGATES)
    with offline_kernel(speed=0) as (_, kc):
        ex = execute(kc, f"%%claude --replay {path}\nq")
        assert ex.status == "ok", ex.errors()
        final = ex.of_type("update_display_data")[-1]["content"]["data"]
        assert "cnb-static" in final["text/html"] and "😀 Y end" in final["text/plain"]
        closed = {m["content"]["comm_id"] for m in ex.of_type("comm_close")}
        opened = {m["content"]["comm_id"] for m in ex.of_type("comm_open")}
        assert opened and opened <= closed  # the live widget is closed
        assert value(kc, "[_claude.status, _claude.text]") == ["complete", VALID]


# Malformed streams (issue 12) --------------------------------------------------------------

TOOL_START = {
    "type": "content_block_start",
    "index": 1,
    "content_block": {"type": "tool_use", "id": "toolu_01", "name": "f", "input": {}},
}
MALFORMED = {
    "delta-for-a-block-never-started": (
        [text_delta("more", index=4)],
        "content_block_delta (text_delta) for block 4",
    ),
    "text-delta-to-a-tool-block": (
        [{"type": "content_block_stop", "index": 0}, TOOL_START, text_delta("x", index=1)],
        "content_block_delta (text_delta) for block 1",
    ),
    "message-delta-without-usage": (
        [
            {"type": "content_block_stop", "index": 0},
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}},
        ],
        "message_delta",
    ),
}


def malformed(tmp_path: Path, name: str) -> Path:
    events, _ = MALFORMED[name]
    body = sse([message_start(), TEXT_START, text_delta("The partial answer."), *events])
    return write(tmp_path, name, body)


@pytest.mark.parametrize("name", MALFORMED)
def test_show_records_a_malformed_stream_and_keeps_the_partial_answer(
    offline_client, tmp_path, name
):
    r = show(offline_client, malformed(tmp_path, name))
    assert r.failed and r.error.kind == "malformed_stream"
    assert MALFORMED[name][1] in r.error.line()
    assert "The server sent a malformed stream" in r.error.line()
    assert r.text == "The partial answer."
    assert "malformed stream" in r._repr_mimebundle_()["text/plain"]


@pytest.mark.parametrize("name", MALFORMED)
def test_the_magic_says_the_server_sent_a_malformed_stream(shell, server, tmp_path, capsys, name):
    path = malformed(tmp_path, name)
    r = shell.run_cell(f"%%claude --replay {path}\nq", store_history=False)
    out = "".join(capsys.readouterr())
    assert not r.success
    assert "malformed stream" in out and MALFORMED[name][1] in out
    assert "claude_nb failed" not in out and "please report" not in out
    assert "Traceback" not in out
    res = shell.user_ns["_claude"]
    assert res.error.kind == "malformed_stream" and res.text == "The partial answer."


def test_stepping_through_a_malformed_stream_says_so(offline_client, tmp_path):
    """--step reads a MessageStream (to show the SDK's own events): its accumulator is the
    one that chokes, and that too is named as a malformed stream."""
    from claude_nb.teaching.step import run_stepwise

    path = malformed(tmp_path, "delta-for-a-block-never-started")
    request = {
        "model": MODEL,
        "max_tokens": 1000,
        "messages": HI,
        "extra_headers": {"x-claude-nb-transcript": str(path)},
    }
    done: list[Any] = []
    stepper = run_stepwise(Run(view="quiet", wire=True), offline_client, request, done.append)
    stepper.run_to_end()
    (result,) = done
    assert result.error.kind == "malformed_stream"
    assert "content_block_delta (text_delta) for block 4" in result.error.line()
    assert result.text == "The partial answer."


# A tiny server for what the offline server will not send ----------------------------------


class Tiny:
    """A local HTTP server whose ``POST /v1/messages`` answer is ``respond(handler)``."""

    def __init__(self, respond: Callable[[BaseHTTPRequestHandler], None]) -> None:
        self.stop = threading.Event()
        self.sent = 0

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    respond(self)  # until the client hangs up, when that is the test

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def send(self, handler: BaseHTTPRequestHandler, data: str | bytes) -> None:
        raw = data.encode() if isinstance(data, str) else data
        handler.wfile.write(raw)
        handler.wfile.flush()
        self.sent += len(raw)

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def tiny() -> Iterator[Callable[[Callable[[Tiny, BaseHTTPRequestHandler], None]], Tiny]]:
    servers: list[Tiny] = []

    def start(respond: Callable[[Tiny, BaseHTTPRequestHandler], None]) -> Tiny:
        holder: list[Tiny] = []
        srv = Tiny(lambda h: respond(holder[0], h))
        holder.append(srv)
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.close()


def tapped_client(url: str, **tap: Any) -> anthropic.Anthropic:
    """A client built like the magic's: its bytes are read through the WireTap."""
    return anthropic.Anthropic(
        base_url=url,
        api_key="k",
        max_retries=0,
        timeout=anthropic.Timeout(30.0, connect=5.0),
        http_client=anthropic.DefaultHttpxClient(transport=WireTap(**tap)),
    )


def raw_stream(client: anthropic.Anthropic) -> Callable[[], Any]:
    return lambda: client.messages.create(model=MODEL, max_tokens=1000, messages=HI, stream=True)


BEGIN = sse([message_start(), TEXT_START, text_delta("Started, then ")])


# The overall deadline (issue 12) -----------------------------------------------------------


def test_a_deadline_ends_a_server_that_trickles_pings(tiny):
    def pings_forever(srv: Tiny, h: BaseHTTPRequestHandler) -> None:
        srv.send(h, BEGIN)
        while not srv.stop.is_set():  # every ping resets the idle (read) timeout
            srv.send(h, 'event: ping\ndata: {"type": "ping"}\n\n')
            time.sleep(0.05)

    srv = tiny(pings_forever)
    client = tapped_client(srv.url)
    run = Run(view="quiet", deadline=1.0)
    t0 = time.monotonic()
    assert not run.stream_turn(raw_stream(client))
    r = run.close()
    took = time.monotonic() - t0
    assert r.failed and r.error.kind == "deadline", r.error
    assert "deadline of 1 s" in r.error.line()
    assert r.text == "Started, then "  # kept
    assert took < 5
    client.close()


def test_a_deadline_ends_a_stalled_stream_before_the_idle_timeout(offline_server):
    client = tapped_client(offline_server.url)
    run = Run(view="quiet", deadline=1.0, read_timeout=30.0)
    t0 = time.monotonic()
    fault = {"x-claude-nb-fault": "stall_after=20", "x-claude-nb-transcript": "markdown"}
    ok = run.stream_turn(
        lambda: client.messages.create(
            model=MODEL, max_tokens=1000, messages=HI, stream=True, extra_headers=fault
        )
    )
    r = run.close()
    assert not ok and r.error.kind == "deadline", r.error
    assert time.monotonic() - t0 < 10  # the 30 s idle timeout never came into it
    assert r.text
    client.close()


def test_without_a_deadline_the_run_is_not_limited(offline_client):
    run = Run(view="quiet")
    run.stream_turn(raw_stream(offline_client))
    assert run.close().complete


# One SSE event's size (issue 12) ------------------------------------------------------------


@pytest.mark.parametrize(
    "piece",
    [b"x" * 65536, b"data: x\n" * 8192],
    ids=["a-line-with-no-newline", "lines-with-no-blank-line"],
)
def test_an_event_that_never_ends_is_cut_at_the_cap(tiny, piece):
    def endless(srv: Tiny, h: BaseHTTPRequestHandler) -> None:
        srv.send(h, BEGIN)
        srv.send(h, "event: content_block_delta\ndata: ")
        while not srv.stop.is_set() and srv.sent < 64 * 2**20:
            srv.send(h, piece)

    srv = tiny(endless)
    client = tapped_client(srv.url, max_event_bytes=2**20)
    run = Run(view="quiet")
    assert not run.stream_turn(raw_stream(client))
    r = run.close()
    assert r.failed and r.error.kind == "event_too_large", r.error
    assert "more than 1 MiB" in r.error.line()
    assert r.text == "Started, then "
    assert srv.sent < 16 * 2**20  # reading stopped near the cap, not at the server's whim
    client.close()


def test_ordinary_streams_pass_the_cap(offline_server):
    client = tapped_client(offline_server.url, max_event_bytes=4096)
    run = Run(view="quiet")
    run.stream_turn(raw_stream(client))
    assert run.close().complete
    client.close()


# The served model (issue 12) ----------------------------------------------------------------


@pytest.fixture
def served_by(tiny, shell, monkeypatch):
    """The magic pointed (online) at a tiny server that answers as ``model``."""

    def start(model: str) -> None:
        body = sse([message_start(model), TEXT_START, text_delta("Hello from afar."), *END])
        srv = tiny(lambda s, h: s.send(h, body))
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "k")
        shell.run_cell("%claude online", store_history=False)

    yield start
    shell.run_cell("%claude offline --speed 0", store_history=False)


def magics(shell: Any) -> Any:
    return shell.find_magic("claude").__self__


@pytest.mark.parametrize("served", ["local-llama-3", OTHER_MODEL])
def test_the_header_result_ledger_and_price_follow_the_served_model(
    shell, served_by, capsys, served
):
    from claude_nb.stream.usage import estimate_cost

    served_by(served)
    r = shell.run_cell(f"%%claude -m {MODEL}\nq", store_history=False)
    out = "".join(capsys.readouterr())
    assert r.success, out
    result = shell.user_ns["_claude"]
    assert result.model == served
    bundle = result._repr_mimebundle_()  # the output saved in the notebook
    assert bundle["text/plain"].startswith(f"● Claude {served} ")
    assert f"<span>{served}</span>" in bundle["text/html"]
    call = magics(shell).ledger.calls[-1]
    assert call.model == served
    assert call.cost == estimate_cost(served, result._state.usage())
    if served == "local-llama-3":
        assert call.cost is None  # no price known: no cost, not another model's


# The usage bound after an interrupt (issue 12) ----------------------------------------------


def test_an_interrupted_run_binds_the_estimate_the_footer_shows(
    shell, server, capsys, interrupt_after
):
    server.speed = 1
    interrupt_after(1.0)
    r = shell.run_cell("%%claude --replay long\nq", store_history=False)
    server.speed = 0
    out = "".join(capsys.readouterr())
    assert not r.success and shell.user_ns["_claude"].interrupted
    shown = re.search(r"out ~([\d,]+) \(estimated", out)
    assert shown, out
    usage = shell.user_ns["_claude_usage"]
    assert isinstance(usage, anthropic.types.Usage)
    assert usage.output_tokens == int(shown.group(1).replace(",", "")) > 1
    assert usage.output_tokens_estimated is True
    # a complete run binds the API's own figure, unmarked
    assert shell.run_cell("%%claude\nq", store_history=False).success
    usage = shell.user_ns["_claude_usage"]
    assert usage is shell.user_ns["_claude_message"].usage
    assert getattr(usage, "output_tokens_estimated", None) is None
