"""Whole-path measurements: ``%%claude`` in a real Jupyter kernel, fed by the offline server.

The server runs in its own process (``bench/serve.py``), as the real API does, so its
CPU never counts as the kernel's. A kernel is started with ``jupyter_client``, its
``%%claude`` pointed at that server through ``ANTHROPIC_BASE_URL``, and every IOPub
message of each cell is collected with its arrival time. What each function returns is
plain data; ``bench/run_all.py`` turns it into figures.
"""

from __future__ import annotations

import json
import os
import queue
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_client.jsonutil import json_default
from jupyter_client.manager import start_new_kernel

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
MAX_TOKENS = 64_000  # above the 200 KB answer's ~51,000 tokens: the server must not cut it
VIEW_TYPES = ("comm_open", "comm_msg", "comm_close", "display_data", "update_display_data")
DEFAULT_TPS = 80.0  # the offline server's tokens/s at speed 1


# --------------------------------------------------------------------------- kernel


@dataclass
class Execution:
    reply: dict[str, Any]
    messages: list[dict[str, Any]]
    arrivals: list[float]  # time.time() when each message reached this client
    sent: float  # time.time() when the execute request left
    idle: float  # time.time() when the idle status arrived

    @property
    def client_wall(self) -> float:
        return self.idle - self.sent

    @property
    def ok(self) -> bool:
        return self.reply["content"]["status"] == "ok"

    def text(self) -> str:
        return "".join(m["content"]["text"] for m in self.messages if m["msg_type"] == "stream")

    def errors(self) -> str:
        return "\n".join(
            "\n".join(m["content"].get("traceback", [])) or str(m["content"])
            for m in self.messages
            if m["msg_type"] == "error"
        )


class Kernel:
    """A fresh IPython kernel with claude_nb loaded and the bench probes installed."""

    def __init__(self, url: str) -> None:
        env = dict(os.environ)
        env.update(
            ANTHROPIC_BASE_URL=url,
            ANTHROPIC_API_KEY="offline",
            CLAUDE_NB_OFFLINE="",
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        )
        self.km, self.kc = start_new_kernel(kernel_name="python3", env=env)
        self.run(
            "%load_ext claude_nb\n"
            f"import sys; sys.path.insert(0, {str(BENCH_DIR)!r})\n"
            "import kernel_side as _kb; _kb.install()\n"
            "import claude_nb.render.markdown as _md; _md.warm()\n",
            check=True,
        )

    def run(self, code: str, timeout: float = 900, check: bool = True) -> Execution:
        """Execute ``code``; collect every IOPub message of it until the kernel is idle."""
        sent = time.time()
        msg_id = self.kc.execute(code)
        messages: list[dict[str, Any]] = []
        arrivals: list[float] = []
        deadline = time.monotonic() + timeout
        idle = 0.0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"kernel did not finish: {code[:80]!r}")
            try:
                msg = self.kc.get_iopub_msg(timeout=min(remaining, 1.0))
            except queue.Empty:
                continue
            now = time.time()
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                idle = now
                break
            messages.append(msg)
            arrivals.append(now)
        reply = self.kc.get_shell_msg(timeout=timeout)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = self.kc.get_shell_msg(timeout=timeout)
        ex = Execution(reply, messages, arrivals, sent, idle)
        if check and not ex.ok:
            raise RuntimeError(f"kernel cell failed: {code[:80]!r}\n{ex.errors()}")
        return ex

    def value(self, expr: str) -> Any:
        ex = self.run(f"print({expr})")
        return json.loads(ex.text().strip().splitlines()[-1])

    def claude(self, line: str = "", memory: str = "") -> Execution:
        return self.run(
            f"_kb.time_claude({f'--max-tokens {MAX_TOKENS} {line}'.strip()!r}, memory={memory!r})"
        )

    def raw(self, url: str, memory: str = "") -> Execution:
        return self.run(f"_kb.time_raw({url!r}, {MAX_TOKENS}, memory={memory!r})")

    def report(self, check_html: bool = False) -> dict[str, Any]:
        return self.value(f"_kb.report(check_html={check_html})")

    def close(self) -> None:
        try:
            self.kc.stop_channels()
        finally:
            self.km.shutdown_kernel(now=True)

    def __enter__(self) -> Kernel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------- traffic


def _jlen(obj: Any) -> int:
    """Bytes of ``obj`` as Jupyter's session serialises it (JSON, UTF-8)."""
    return len(json.dumps(obj, default=json_default, ensure_ascii=False).encode())


def _date(msg: dict[str, Any]) -> float:
    d = msg["header"]["date"]
    return d.timestamp() if hasattr(d, "timestamp") else float(d)


@dataclass
class Traffic:
    """The view messages of one cell: counts, bytes, timing, and the live HTML they build."""

    messages: int = 0
    patches: int = 0  # custom comm_msgs (widget patch batches)
    state_updates: int = 0  # comm_msg "update" (the checkpoint trait)
    payload: int = 0  # bytes of the messages' data
    whole: int = 0  # + header, parent_header, metadata, rest of content, buffers
    by_type: dict[str, list[int]] = field(default_factory=dict)  # type -> [count, payload, whole]
    final_html: str = ""  # text/html of the bundle that replaced the widget
    final_bundle_payload: int = 0
    final_bundle_sizes: dict[str, int] = field(default_factory=dict)  # mime -> JSON bytes
    patch_dates: list[float] = field(default_factory=list)  # kernel send stamps (header date)
    patch_arrivals: list[float] = field(default_factory=list)
    iopub_dates: list[float] = field(default_factory=list)  # every IOPub message of the cell
    first_text_patch: tuple[float, float] | None = None  # (date, arrival) of first text patch
    first_text_index: int | None = None  # its index among the patches
    patch_payload: int = 0  # bytes of the patch batches alone
    patch_whole: int = 0
    resend_payload: int = 0  # full-resend design: whole current view HTML per patch batch
    resend_whole: int = 0
    live_frozen: dict[str, str] = field(default_factory=dict)  # pid -> .f part after replay
    live_tail: dict[str, str] = field(default_factory=dict)  # pid -> .t part after replay


def traffic(ex: Execution) -> Traffic:
    t = Traffic()
    parts: dict[str, int] = {}  # part id -> current HTML length (for the full-resend figure)
    tails: dict[str, str] = {}
    for msg, arrival in zip(ex.messages, ex.arrivals, strict=True):
        t.iopub_dates.append(_date(msg))
        mtype = msg["msg_type"]
        if mtype not in VIEW_TYPES:
            continue
        content = msg["content"]
        data = content.get("data", {})
        payload = _jlen(data)
        whole = (
            _jlen(msg["header"])
            + _jlen(msg["parent_header"])
            + _jlen(msg["metadata"])
            + _jlen(content)
            + sum(len(b) for b in msg.get("buffers") or [])
        )
        t.messages += 1
        t.payload += payload
        t.whole += whole
        row = t.by_type.setdefault(mtype, [0, 0, 0])
        row[0] += 1
        row[1] += payload
        row[2] += whole
        if mtype == "update_display_data":
            t.final_html = data.get("text/html", "")
            t.final_bundle_payload = payload
            t.final_bundle_sizes = {k: _jlen(v) for k, v in data.items()}
        if mtype != "comm_msg":
            continue
        if data.get("method") == "update":
            t.state_updates += 1
            continue
        body = data.get("content") or {}
        if not (isinstance(body, dict) and body.get("cnb") == 1):
            continue
        t.patches += 1
        t.patch_payload += payload
        t.patch_whole += whole
        t.patch_dates.append(_date(msg))
        t.patch_arrivals.append(arrival)
        has_text = False
        for op in body["ops"]:
            kind = op[0]
            if kind == "clock":
                continue
            pid = op[1]
            if kind == "add":
                parts[pid] = parts.get(pid, 0) + len(op[2])
                if pid.endswith(".f"):
                    t.live_frozen[pid[:-2]] = t.live_frozen.get(pid[:-2], "") + op[2]
                    has_text = has_text or bool(op[2])
                elif pid == "body":
                    has_text = has_text or ('class="cnb-text"' in op[2] and "</p>" in op[2])
            elif kind == "set":
                parts[pid] = len(op[2])
                if pid.endswith(".f"):
                    t.live_frozen[pid[:-2]] = op[2]
                elif pid.endswith(".t"):
                    tails[pid] = op[2]
                    t.live_tail[pid[:-2]] = op[2]
            elif kind == "tail":
                html = _js_slice(tails.get(pid, ""), 0, op[2]) + op[3]
                tails[pid] = html
                t.live_tail[pid[:-2]] = html
                parts[pid] = len(html)
                has_text = has_text or bool(html)
            elif kind == "freeze":  # the first n chars of the tail move to the frozen part
                html = tails.get(pid, "")
                t.live_frozen[op[2][:-2]] = t.live_frozen.get(op[2][:-2], "") + _js_slice(
                    html, 0, op[3]
                )
                tails[pid] = _js_slice(html, op[3])
                t.live_tail[pid[:-2]] = tails[pid]
                parts[op[2]] = parts.get(op[2], 0) + op[3]
                parts[pid] = len(tails[pid])
            elif kind == "text":
                parts[pid] = parts.get(pid, 0) + len(op[2])
        if has_text and t.first_text_patch is None:
            t.first_text_patch = (_date(msg), arrival)
            t.first_text_index = t.patches - 1
        view = sum(parts.values())
        t.resend_payload += view
        t.resend_whole += view + (whole - payload)
    return t


def max_per_window(times: list[float], window: float = 1.0) -> int:
    """Most events in any half-open window [t, t + window)."""
    ordered = sorted(times)
    if not ordered:
        return 0
    best = lo = 0
    for hi, t in enumerate(ordered):
        while ordered[lo] <= t - window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(t: Traffic, final_len: int | None = None) -> dict[str, Any]:
    html_bytes = final_len if final_len is not None else len(t.final_html.encode())
    gaps = [b - a for a, b in zip(t.patch_dates, t.patch_dates[1:], strict=False)]
    return {
        "final_html_bytes": html_bytes,
        "view_messages": t.messages,
        "patches": t.patches,
        "state_updates": t.state_updates,
        "payload_bytes": t.payload,
        "whole_bytes": t.whole,
        "payload_ratio": t.payload / html_bytes if html_bytes else None,
        "whole_ratio": t.whole / html_bytes if html_bytes else None,
        "envelope_avg": (t.whole - t.payload) / t.messages if t.messages else None,
        "final_bundle_payload": t.final_bundle_payload,
        "final_bundle_sizes": t.final_bundle_sizes,
        "patch_payload_bytes": t.patch_payload,
        "patch_whole_bytes": t.patch_whole,
        "by_type": t.by_type,
        "duration_s": (t.iopub_dates[-1] - t.iopub_dates[0]) if t.iopub_dates else 0.0,
        # The full-resend design: every patch batch replaced by the whole current view HTML
        # (computed from this run's own paints); every other message as sent.
        "resend_payload_ratio": (t.payload - t.patch_payload + t.resend_payload) / html_bytes
        if html_bytes
        else None,
        "resend_whole_ratio": (t.whole - t.patch_whole + t.resend_whole) / html_bytes
        if html_bytes
        else None,
        "max_patches_per_s": max_per_window(t.patch_dates) if t.patch_dates else 0,
        # The painter's throttle does not govern urgent paints (the run starting, the first
        # token) nor the final flush, by design; these are the paints it does govern.
        "max_patches_per_s_throttled": max_per_window(
            [
                d
                for i, d in enumerate(t.patch_dates)
                if i not in (0, t.first_text_index, len(t.patch_dates) - 1)
            ]
        ),
        "max_patches_per_s_arrival": max_per_window(t.patch_arrivals) if t.patch_arrivals else 0,
        "max_iopub_per_s": max_per_window(t.iopub_dates) if t.iopub_dates else 0,
        "patch_gap_min_ms": min(gaps) * 1e3 if gaps else None,
        "patch_gap_p50_ms": statistics.median(gaps) * 1e3 if gaps else None,
    }


# --------------------------------------------------------------------------- runs


def text_spec(kb: float, seed: int = 0) -> dict[str, Any]:
    return {"kind": "text", "kb": kb, "seed": seed}


def log(msg: str) -> None:
    print(f"  {msg}", file=sys.stderr, flush=True)


def overhead(
    kernel: Kernel, server: Any, spec: dict[str, Any], pairs: int, line: str = ""
) -> dict[str, Any]:
    """``%%claude`` against the raw SDK on the same stream at speed 0, interleaved."""
    info = server.set(spec, speed=0)
    rows: list[dict[str, Any]] = []
    claude_traffic = None
    for i in range(pairs):
        order = ("raw", "claude") if i % 2 == 0 else ("claude", "raw")
        pair: dict[str, Any] = {}
        for kind in order:
            ex = kernel.raw(server.url) if kind == "raw" else kernel.claude(line)
            rep = kernel.report(check_html=(kind == "claude" and i == 0))
            pair[kind] = {
                "wall": rep["wall"],
                "cpu": rep["cpu"],
                "client_wall": ex.client_wall,
                "runq_wait": rep["runq_wait"],
                "wall_uncontended": rep["wall_uncontended"],
            }
            if kind == "claude":
                pair[kind].update(paints=rep["paints"], paint_cost=rep["paint_cost"])
                if i == 0:
                    claude_traffic = (ex, rep)
        rows.append(pair)
        log(
            f"{spec} pair {i + 1}/{pairs}: raw {pair['raw']['wall']:.2f} s wall "
            f"{pair['raw']['cpu']:.2f} s cpu, claude {pair['claude']['wall']:.2f} / "
            f"{pair['claude']['cpu']:.2f}"
        )

    def ratios(key: str) -> list[float]:
        return [r["claude"][key] / r["raw"][key] for r in rows]

    def med(kind: str, key: str) -> float:
        return statistics.median(r[kind][key] for r in rows)

    out: dict[str, Any] = {
        "spec": spec,
        "events": info["events"],
        "chars": info["chars"],
        "pairs": rows,
        "wall_ratio": statistics.median(ratios("wall")),
        "cpu_ratio": statistics.median(ratios("cpu")),
        "client_wall_ratio": statistics.median(ratios("client_wall")),
        "wall_uncontended_ratio": statistics.median(ratios("wall_uncontended")),
        "wall_ratio_range": [min(ratios("wall")), max(ratios("wall"))],
        "cpu_ratio_range": [min(ratios("cpu")), max(ratios("cpu"))],
        "wall_uncontended_ratio_range": [
            min(ratios("wall_uncontended")),
            max(ratios("wall_uncontended")),
        ],
        "raw_wall": med("raw", "wall"),
        "raw_cpu": med("raw", "cpu"),
        "raw_wall_uncontended": med("raw", "wall_uncontended"),
        "claude_wall": med("claude", "wall"),
        "claude_cpu": med("claude", "cpu"),
        "claude_wall_uncontended": med("claude", "wall_uncontended"),
        "runq_wait_share": statistics.median(
            r[k]["runq_wait"] / r[k]["wall"] for r in rows for k in ("raw", "claude")
        ),
        "min_cpu_ratio": min(r["claude"]["cpu"] for r in rows) / min(r["raw"]["cpu"] for r in rows),
    }
    if claude_traffic is not None:
        ex, rep = claude_traffic
        out["traffic"] = view_figures(ex, rep, info["text"])
    return out


def view_figures(ex: Execution, rep: dict[str, Any], answer: str) -> dict[str, Any]:
    """Bytes, rates, paint costs and final-HTML checks of one ``%%claude`` cell."""
    from claude_nb.render.markdown import render_markdown

    t = traffic(ex)
    out = summary(t)
    costs = [c * 1e3 for c in rep.get("paint_costs", [])]
    cpu = [c * 1e3 for c in rep.get("paint_cpu", [])]
    out.update(
        paints=rep.get("paints"),
        paint_cost_s=rep.get("paint_cost"),
        paint_cpu_s=sum(cpu) / 1e3,
        paint_p50_ms=statistics.median(costs) if costs else None,
        paint_p99_ms=pct(costs, 0.99),
        paint_max_ms=max(costs) if costs else None,
        paint_cpu_p50_ms=statistics.median(cpu) if cpu else None,
        paint_cpu_p99_ms=pct(cpu, 0.99),
        paint_cpu_max_ms=max(cpu) if cpu else None,
        max_paints_per_s=max_per_window(rep.get("paint_times", [])),
        bytes_sent_patches=rep.get("bytes_sent"),
    )
    if "frozen_equals_one_shot" in rep:
        one_shot = render_markdown(rep["text"]) if rep["text"] == answer else None
        live = "".join(t.live_frozen.values())
        out.update(
            text_matches_server=rep["text"] == answer,
            frozen_equals_one_shot=rep["frozen_equals_one_shot"],
            live_view_equals_one_shot=one_shot is not None
            and live == one_shot
            and not any(t.live_tail.values()),
            static_bundle_has_one_shot=one_shot is not None
            and f'<div class="cnb-text">{one_shot}<div>' in t.final_html,
        )
    return out


def paced(
    kernel: Kernel, server: Any, spec: dict[str, Any], tps: float, line: str = ""
) -> dict[str, Any]:
    """One ``%%claude`` at ``tps`` tokens/s (4-char deltas: one delta per token)."""
    info = server.set(spec, speed=tps / DEFAULT_TPS, tps=DEFAULT_TPS, ttft=0.4)
    ex = kernel.claude(line)
    srv = server.last()
    rep = kernel.report(check_html=True)
    out = view_figures(ex, rep, info["text"])
    out.update(spec=spec, tps=tps, wall=rep["wall"], cpu=rep["cpu"], client_wall=ex.client_wall)
    out.update(ttfp(ex, srv))
    return out


def ttfp(ex: Execution, srv: dict[str, Any]) -> dict[str, Any]:
    """First text_delta leaving the server -> first patch showing text leaving the kernel.

    Server: ``time.time()`` just before the socket write. Kernel: the ``date`` Jupyter
    stamps in the message header when it builds the message (just before it is sent);
    arrival: when this client received it. One machine, one realtime clock.
    """
    t = traffic(ex)
    first = srv.get("first_text_wall")
    if first is None or t.first_text_patch is None:
        return {"ttfp_ms": None, "ttfp_arrival_ms": None}
    date, arrival = t.first_text_patch
    after = [d for d in t.patch_dates if d >= first]
    return {
        "ttfp_ms": (date - first) * 1e3,
        "ttfp_arrival_ms": (arrival - first) * 1e3,
        "first_patch_after_delta_ms": (after[0] - first) * 1e3 if after else None,
    }


def display_mode(kernel: Kernel, server: Any, spec: dict[str, Any], tps: float) -> dict[str, Any]:
    """The ``display`` view (the static bundle re-sent through a display id each paint)."""
    info = server.set(spec, speed=tps / DEFAULT_TPS, tps=DEFAULT_TPS, ttft=0.4)
    kernel.run("%config Claude.view = 'display'")
    try:
        ex = kernel.claude()
    finally:
        kernel.run("%config Claude.view = 'auto'")
    t = traffic(ex)
    out = summary(t)
    out.update(spec=spec, tps=tps, chars=info["chars"])
    return out


def memory(server: Any, spec: dict[str, Any], warm: dict[str, Any]) -> dict[str, Any]:
    """Peak memory of a cell: RSS growth in fresh kernels, and tracemalloc's peak."""
    out: dict[str, Any] = {}
    for kind in ("raw", "claude"):
        server.set(warm, speed=0)
        with Kernel(server.url) as k:
            # Warm: the first request imports and builds what any later one reuses.
            k.raw(server.url) if kind == "raw" else k.claude()
            server.set(spec, speed=0)
            k.raw(server.url, memory="rss") if kind == "raw" else k.claude(memory="rss")
            rep = k.report()
            out[f"{kind}_rss_peak_delta"] = rep["rss_peak_delta"]
            out["rss_reset"] = rep["rss_reset"]
            k.raw(server.url, memory="tracemalloc") if kind == "raw" else k.claude(
                memory="tracemalloc"
            )
            rep = k.report()
            out[f"{kind}_traced_peak"] = rep["traced_peak"]
            out[f"{kind}_traced_end"] = rep["traced_end"]
        log(f"memory {kind}: {out[f'{kind}_rss_peak_delta'] / 1e6:.1f} MB RSS")
    return out


def ttfp_repeated(kernel: Kernel, server: Any, reps: int) -> dict[str, Any]:
    """Time to first paint, a short answer at 100 tok/s, several times."""
    values, arrivals, first_any = [], [], []
    for _ in range(reps):
        server.set(text_spec(1), speed=100 / DEFAULT_TPS, tps=DEFAULT_TPS, ttft=0.4)
        ex = kernel.claude()
        got = ttfp(ex, server.last())
        if got["ttfp_ms"] is not None:
            values.append(got["ttfp_ms"])
            arrivals.append(got["ttfp_arrival_ms"])
            first_any.append(got["first_patch_after_delta_ms"])
    return {
        "ttfp_ms": values,
        "ttfp_arrival_ms": arrivals,
        "first_patch_after_delta_ms": first_any,
        "ttfp_median_ms": statistics.median(values) if values else None,
        "ttfp_max_ms": max(values) if values else None,
        "ttfp_p90_ms": pct(values, 0.9),
        "ttfp_arrival_median_ms": statistics.median(arrivals) if arrivals else None,
    }


def _js_slice(text: str, start: int, end: int | None = None) -> str:
    """``text.slice(start, end)`` as the widget's JavaScript does it (UTF-16 code units)."""
    units = text.encode("utf-16-le")
    return units[2 * start : None if end is None else 2 * end].decode("utf-16-le")
