"""In-process measurements of the live path: a real ``Run`` with a ``LiveView`` in this process.

Outside a kernel the widget's comm is a no-op, so these exclude Jupyter's message
serialisation (the kernel figures include it); in exchange they use one clock
(``time.perf_counter``, CLOCK_MONOTONIC, shared with the server process) and no
kernel scheduling noise.

* ``ttfp``: the server process stamps when the first ``text_delta`` left its socket; the
  widget's ``send`` is wrapped to stamp the first patch that carries answer text. The
  baseline is the raw SDK: the same stamp to the first ``text`` event it yields.
* ``first_code_block``: in fresh interpreters, with and without ``warm_lexers()``, the
  cost of the paint that shows a code fence's first code line, minus a typical paint.
"""

from __future__ import annotations

import contextlib
import io
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH_DIR))

from claude_nb.sdk import default_model  # noqa: E402

REQUEST = {
    "model": default_model(),
    "max_tokens": 64_000,
    "messages": [{"role": "user", "content": "q"}],
}


def _has_text(message: dict[str, Any]) -> bool:
    for op in message.get("ops", []):
        if op[0] == "tail" and op[3]:
            return True
        if op[0] == "add" and op[1].endswith(".f") and op[2]:
            return True
    return False


def ttfp(server: Any, reps: int, tps: float = 100.0) -> dict[str, Any]:
    """Server send of the first text_delta -> first widget patch with text (perf_counter)."""
    import anthropic

    from claude_nb.notebook.runner import Run
    from claude_nb.render.markdown import warm as warm_lexers

    warm_lexers()  # as %load_ext claude_nb does (in a background thread)
    client = anthropic.Anthropic(base_url=server.url, api_key="offline")
    live, raw = [], []
    for _ in range(reps):
        server.set({"kind": "text", "kb": 1}, speed=tps / 80.0, tps=80.0, ttft=0.2)
        run = Run(model="m", view="widget", offline=True)
        with contextlib.redirect_stdout(io.StringIO()):
            run.start()
        assert run.view is not None
        widget = run.view.widget  # type: ignore[attr-defined]
        stamps: list[float] = []
        send = widget.send

        def timed_send(msg: Any, *args: Any, _send: Any = send, _stamps: Any = stamps) -> None:
            _send(msg, *args)
            if not _stamps and _has_text(msg):
                _stamps.append(time.perf_counter())

        widget.send = timed_send
        run.stream_turn(lambda: client.messages.create(**REQUEST, stream=True))
        with contextlib.redirect_stdout(io.StringIO()):
            run.close()
        first = server.last()["first_text_perf"]
        if stamps and first:
            live.append((stamps[0] - first) * 1e3)

        with client.messages.stream(**REQUEST) as stream:
            got = None
            for event in stream:
                if got is None and event.type == "text":
                    got = time.perf_counter()
        first = server.last()["first_text_perf"]
        if got and first:
            raw.append((got - first) * 1e3)
    client.close()
    return {
        "live_ms": live,
        "raw_sdk_ms": raw,
        "live_median_ms": statistics.median(live) if live else None,
        "live_max_ms": max(live) if live else None,
        "live_p90_ms": sorted(live)[min(len(live) - 1, int(0.9 * len(live)))] if live else None,
        "raw_sdk_median_ms": statistics.median(raw) if raw else None,
    }


CODE_SCRIPT = r"""
import contextlib, io, json, sys, time
sys.path.insert(0, sys.argv[3])
import anthropic
from claude_nb.notebook.runner import Run
from claude_nb.render import highlight, markdown
url, mode = sys.argv[1], sys.argv[2]
client = anthropic.Anthropic(base_url=url, api_key="offline")
req = {"model": "m", "max_tokens": 1000, "messages": [{"role": "user", "content": "q"}]}
def once():
    run = Run(model="m", view="widget", offline=True)
    run.painter.min_interval = 0.0  # paint after every delta: one paint per line change
    costs = []
    def paint(orig=run.painter.paint):
        t0 = time.perf_counter(); orig(); costs.append(time.perf_counter() - t0)
    run.painter.paint = paint
    with contextlib.redirect_stdout(io.StringIO()):
        run.stream_turn(lambda: client.messages.create(**req, stream=True))
        run.close()
    return costs
# a warm-up run with no code fence: imports, widget, the markdown parser itself
with contextlib.redirect_stdout(io.StringIO()):
    r = Run(model="m", view="widget", offline=True)
    r.stream_turn(lambda: client.messages.create(**req, stream=True, extra_headers={"x-claude-nb-transcript": "refusal"}))
    r.close()
t0 = time.perf_counter()
if mode == "warm":
    markdown.warm()
warm_s = time.perf_counter() - t0
first = once()
again = once()
print(json.dumps({"warm_s": warm_s, "first": first, "again": again}))
"""


def first_code_block(server: Any, langs: tuple[str, ...]) -> dict[str, Any]:
    """Worst paint of a short answer with a fence in ``lang``, fresh interpreter, cold/warm."""
    out: dict[str, Any] = {}
    for lang in langs:
        server.set({"kind": "code", "lang": lang}, speed=0)
        for mode in ("cold", "warm"):
            proc = subprocess.run(
                [sys.executable, "-c", CODE_SCRIPT, server.url, mode, str(ROOT)],
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
            )
            data = json.loads(proc.stdout.strip().splitlines()[-1])
            # Added by the first block of the language: its worst paint against the same
            # answer's worst paint streamed again in the same interpreter.
            added = (max(data["first"]) - max(data["again"])) * 1e3
            out[f"{lang}_{mode}_added_ms"] = added
            out[f"{lang}_{mode}_worst_ms"] = max(data["first"]) * 1e3
            if mode == "warm":
                out["warm_lexers_s"] = data["warm_s"]
    return out
