"""The offline Messages API server in its own process, with send-side timestamps.

The benchmarks run the server out of the kernel under test, as the real API is: its CPU
then never counts as the kernel's, and it never holds the kernel's GIL. It is driven by
JSON lines on stdin, one reply line each on stdout::

    {"cmd": "set", "transcript": SPEC, "speed": 0, "tps": 80, "ttft": 0.4}
        -> {"url": ..., "events": N, "chars": N, "text": "...the answer text..."}
    {"cmd": "last"}
        -> the timings of the last finished request (see ``_Timed``)

SPEC is ``{"kind": "text", "kb": 200, "seed": 0}`` (``llm_markdown`` in 4-char deltas),
``{"kind": "named", "name": "thinking"}`` (a shipped transcript),
``{"kind": "thinking", "kb": 100, "answer_kb": 10}`` (long thinking, then an answer),
``{"kind": "tool_input", "kb": 50}`` (one tool call whose input JSON is long) or
``{"kind": "code", "lang": "rust"}`` (a short intro, then a fence in ``lang``).

Clocks: ``first_text_wall`` is ``time.time()`` just before the socket write of the
first chunk that holds a ``text_delta``, comparable with the ``date`` header
Jupyter stamps on kernel messages (same machine, same realtime clock).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from claude_nb import offline
from claude_nb.offline.handler import APIHandler
from claude_nb.testing.samples import llm_markdown

_timings: list[dict[str, Any]] = []
_lock = threading.Lock()


def build(spec: dict[str, Any]) -> offline.Transcript:
    """The transcript for a SPEC (deterministic)."""
    kind = spec["kind"]
    seed = int(spec.get("seed", 0))
    if kind == "text":
        text = llm_markdown(int(spec["kb"] * 1024), seed)
        return offline.text_transcript(text, chunk_chars=int(spec.get("chunk", 4)))
    if kind == "named":
        return offline.load_transcript(spec["name"])
    if kind == "thinking":
        thought = plain_prose(int(spec["kb"] * 1024), seed)
        answer = llm_markdown(int(spec.get("answer_kb", 10) * 1024), seed + 1)
        builder = offline.TranscriptBuilder(seed=seed, chunk=4)
        return (
            builder.thinking(thought, chunk=4).text(answer, chunk=4).stop().build("long_thinking")
        )
    if kind == "tool_input":
        body = llm_markdown(int(spec["kb"] * 1024), seed)
        builder = offline.TranscriptBuilder(seed=seed, chunk=4)
        builder.text("I'll save the report.", chunk=4)
        builder.tool_use("save_report", {"path": "report.md", "content": body})
        return builder.stop("tool_use").build("long_tool_input")
    if kind == "code":
        lang = spec["lang"]
        text = (
            "Here is the fix, in one short function:\n\n"
            f'```{lang}\nfn main() {{\n    let x = 1;\n    println!("{{}}", x);\n}}\n```\n\n'
            "That is all.\n"
        )
        return offline.text_transcript(text, chunk_chars=4)
    raise ValueError(f"unknown transcript kind {kind!r}")


def plain_prose(n_bytes: int, seed: int) -> str:
    """Thinking-like prose: the markdown sample without its markup characters."""
    text = llm_markdown(n_bytes, seed)
    return text.translate(str.maketrans({c: None for c in "#*`|$>_[]"}))


def _install_timing_hooks() -> None:
    """Record when the first text_delta of each streamed response left the server."""
    handler = APIHandler
    orig_write = handler.write_chunk
    orig_stream = handler.stream_events

    def write_chunk(self: Any, data: bytes) -> None:
        if getattr(self, "_bench_first_text", None) is None and b'"text_delta"' in data:
            self._bench_first_text = (time.time(), time.perf_counter())
        orig_write(self, data)

    def stream(self: Any, emitted: Any, fault: Any) -> None:
        self._bench_first_text = None
        start_wall, start_perf = time.time(), time.perf_counter()
        try:
            orig_stream(self, emitted, fault)
        finally:
            first = self._bench_first_text
            with _lock:
                _timings.append(
                    {
                        "start_wall": start_wall,
                        "start_perf": start_perf,
                        "first_text_wall": first[0] if first else None,
                        "first_text_perf": first[1] if first else None,
                        "end_wall": time.time(),
                        "events": self.rec.events_sent,
                    }
                )

    handler.write_chunk = write_chunk  # type: ignore[method-assign]
    handler.stream_events = stream  # type: ignore[method-assign]


def main() -> int:
    _install_timing_hooks()
    srv = offline.start(speed=0)
    cache: dict[str, offline.Transcript] = {}
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            cmd = json.loads(line)
            if cmd["cmd"] == "set":
                key = json.dumps(cmd["transcript"], sort_keys=True)
                if key not in cache:
                    cache[key] = build(cmd["transcript"])
                    cache[key].frames()  # serialise once, before any timing
                t = cache[key]
                srv.transcript = t
                srv.speed = float(cmd.get("speed", 0))
                srv.tokens_per_second = float(cmd.get("tps", 80.0))
                srv.ttft = float(cmd.get("ttft", 0.4))
                reply: dict[str, Any] = {
                    "url": srv.url,
                    "events": len(t.events),
                    "chars": t.content_chars(),
                    "text": t.text(),
                }
            elif cmd["cmd"] == "last":
                with _lock:
                    reply = dict(_timings[-1]) if _timings else {}
                    reply["count"] = len(_timings)
            else:
                reply = {"error": f"unknown command {cmd['cmd']!r}"}
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()
    finally:
        srv.stop()
    return 0


class ServerProcess:
    """Client side: start ``bench/serve.py`` and talk to it."""

    def __init__(self) -> None:
        import subprocess

        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[1],
        )
        self.url = ""

    def _ask(self, cmd: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("bench server process died")
        return json.loads(line)

    def set(
        self, transcript: dict[str, Any], speed: float = 0.0, tps: float = 80.0, ttft: float = 0.4
    ) -> dict[str, Any]:
        reply = self._ask(
            {"cmd": "set", "transcript": transcript, "speed": speed, "tps": tps, "ttft": ttft}
        )
        self.url = reply["url"]
        return reply

    def last(self) -> dict[str, Any]:
        return self._ask({"cmd": "last"})

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except Exception:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    sys.exit(main())
