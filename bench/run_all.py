"""Every benchmark of issue 8 in one run: one table of figure | value | target | baseline.

    python bench/run_all.py [--quick] [--json bench/results/latest.json]

Renderer-only figures come from ``bench/bench_render.py`` (run in this process, its own
table swallowed, its JSON merged). Whole-path figures come from ``%%claude`` in real
Jupyter kernels (``bench/whole_path.py``) and from a ``Run`` with a ``LiveView`` in this
process (``bench/inproc.py``), all fed by the offline server in its own process
(``bench/serve.py``). ``--quick`` measures every figure on smaller answers (< 2 min);
quick figures are smoke values, not the published ones. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(BENCH_DIR.parent))

import bench_render  # noqa: E402
import bytes_model  # noqa: E402
import inproc  # noqa: E402
import whole_path as wp  # noqa: E402
from serve import ServerProcess  # noqa: E402

# The targets.
T_RENDER_CPU_S = 15.0
T_P50_MS, T_P99_MS, T_FLAT = 2.0, 10.0, 1.5
T_FLICKER = 0.01
T_OVERHEAD = 1.3
T_BYTES = 4.0
T_RATE = 20  # updates/s: the painter's throttle
T_IOPUB = 1000  # Jupyter server's iopub_msg_rate_limit
T_TTFP_MS = 30.0
T_CODE_MS = 20.0

FULL = {
    "render_sizes": "10,50,200",
    "render_repeat": 3,
    "overhead": [(10, 5), (50, 5), (200, 5)],
    "transcripts": [
        ("thinking (shipped)", {"kind": "named", "name": "thinking"}, "", 5),
        ("tool_use (shipped)", {"kind": "named", "name": "tool_use"}, "--max-turns 1", 5),
        ("long thinking 100 KB + 10 KB answer", {"kind": "thinking", "kb": 100}, "", 4),
        ("long tool input 50 KB", {"kind": "tool_input", "kb": 50}, "--max-turns 1", 5),
    ],
    "paced": [(10, 100.0), (50, 100.0), (200, 400.0), (10, 400.0)],
    "display": [(10, 0.0), (50, 0.0), (200, 0.0), (10, 100.0)],
    "ttfp_reps": 9,
    "memory_kb": 200,
    "langs": ("python", "rust", "haskell"),
    "model": [(10, "10@100"), (50, "50@100"), (200, "200@400")],
}
QUICK = {
    "render_sizes": "10,50",
    "render_repeat": 1,
    "overhead": [(10, 2), (50, 1)],
    "transcripts": [
        ("thinking (shipped)", {"kind": "named", "name": "thinking"}, "", 1),
        ("tool_use (shipped)", {"kind": "named", "name": "tool_use"}, "--max-turns 1", 1),
        ("long thinking 20 KB + 10 KB answer", {"kind": "thinking", "kb": 20}, "", 1),
        ("long tool input 10 KB", {"kind": "tool_input", "kb": 10}, "--max-turns 1", 1),
    ],
    "paced": [(10, 400.0)],
    "display": [(10, 0.0)],
    "ttfp_reps": 2,
    "memory_kb": 10,
    "langs": ("python", "haskell"),
    "model": [(10, "10@400")],
}

OVERHEAD_KINDS = (
    ("cpu", "CPU"),
    ("wall", "wall"),
    ("wall_uncontended", "wall less run-queue wait"),
)

# Every figure id run_all.py reports (prefixes; sizes and paces are appended).
FIGURE_ITEMS = tuple(range(1, 11))


@dataclass
class Figure:
    item: int  # the numbered measurement
    id: str
    name: str
    value: Any
    shown: str  # the value as the table prints it
    target: str
    baseline: str
    status: str  # PASS, FAIL or info (no target in the issue)
    note: str = ""


def _pass(ok: bool | None) -> str:
    if ok is None:
        return "info"
    return "PASS" if ok else "FAIL"


def _pace(tps: float) -> str:
    return "full speed" if tps == 0 else f"{tps:g} tok/s"


# --------------------------------------------------------------------------- measuring


def measure(cfg: dict[str, Any], seed: int) -> dict[str, Any]:
    res: dict[str, Any] = {"config": {k: v for k, v in cfg.items() if k != "transcripts"}}
    t0 = time.perf_counter()

    wp.log("renderer-only (bench_render.py)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "render.json"
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            bench_render.main(
                [
                    "--sizes",
                    cfg["render_sizes"],
                    "--repeat",
                    str(cfg["render_repeat"]),
                    "--seed",
                    str(seed),
                    "--json",
                    str(out),
                ]
            )
        res["render"] = json.loads(out.read_text())
        res["render_table"] = buf.getvalue()

    with ServerProcess() as server:
        wp.log("in-process: first code block, time to first paint")
        res["code_block"] = inproc.first_code_block(server, cfg["langs"])
        res["ttfp_inproc"] = inproc.ttfp(server, cfg["ttfp_reps"])

        with wp.Kernel(server.url) as kernel:
            server.set(wp.text_spec(1, seed), speed=0)
            kernel.claude()  # warm-up: imports, widget classes, connection
            kernel.raw(server.url)

            res["overhead"] = {}
            for kb, pairs in cfg["overhead"]:
                res["overhead"][kb] = wp.overhead(kernel, server, wp.text_spec(kb, seed), pairs)

            res["transcripts"] = {}
            for name, spec, line, pairs in cfg["transcripts"]:
                res["transcripts"][name] = wp.overhead(kernel, server, spec, pairs, line)

            wp.log("time to first paint (kernel)")
            res["ttfp_kernel"] = wp.ttfp_repeated(kernel, server, cfg["ttfp_reps"])

            res["paced"] = {}
            for kb, tps in cfg["paced"]:
                wp.log(f"paced: {kb} KB at {tps:g} tok/s (~{kb * 1024 / 4 / tps:.0f} s)")
                res["paced"][f"{kb}@{tps:g}"] = wp.paced(
                    kernel, server, wp.text_spec(kb, seed), tps
                )

            res["display"] = {}
            for kb, tps in cfg["display"]:
                wp.log(f"display view: {kb} KB at {_pace(tps)}")
                res["display"][f"{kb}@{tps:g}"] = wp.display_mode(
                    kernel, server, wp.text_spec(kb, seed), tps
                )

        wp.log(f"memory: {cfg['memory_kb']} KB, fresh kernels")
        res["memory"] = wp.memory(server, wp.text_spec(cfg["memory_kb"], seed), wp.text_spec(1))
        res["memory"]["kb"] = cfg["memory_kb"]
    wp.log("bytes against updates/s (model, checked against the measured runs)")
    res["bytes_model"] = bytes_tradeoff(res, seed, cfg["model"])
    res["elapsed_s"] = time.perf_counter() - t0
    return res


def bytes_tradeoff(res: dict[str, Any], seed: int, plan: list[tuple[int, str]]) -> dict[str, Any]:
    """Model bytes/HTML byte against paint interval at 100 tok/s for each (size, measured run).

    Everything but the patch batches (widget open/close, checkpoints, final bundle) and the
    per-message envelope come from the measured run; the patches are simulated.
    """
    from claude_nb.testing.samples import llm_markdown

    out: dict[str, Any] = {}
    for kb, measured_key in plan:
        t = res["paced"][measured_key]
        html = t["final_html_bytes"]
        other_payload = t["payload_bytes"] - t["patch_payload_bytes"]
        other_whole = t["whole_bytes"] - t["patch_whole_bytes"]
        envelope = (t["patch_whole_bytes"] - t["patch_payload_bytes"]) / max(t["patches"], 1)
        sizes = t["final_bundle_sizes"]
        slim = sizes.get("text/markdown", 0) + sizes.get("text/plain", 0)
        text = llm_markdown(kb * 1024, seed)
        rows = bytes_model.model(text, 100.0, html, other_payload, other_whole, envelope)
        for r in rows:
            r["slim_payload_ratio"] = r["payload_ratio"] - slim / html
            r["slim_whole_ratio"] = r["whole_ratio"] - slim / html
        out[f"{kb}@100"] = {
            "measured_run": measured_key,
            "html_bytes": html,
            "envelope": envelope,
            "other_payload_ratio": other_payload / html,
            "slim_saving_ratio": slim / html,
            "rows": rows,
        }
    return out


def best_rate(rows: list[dict[str, Any]], key: str) -> str:
    ok = [r["updates_per_s"] for r in rows if r[key] <= T_BYTES]
    return f"{max(ok):g}/s" if ok else "none"


# --------------------------------------------------------------------------- figures


def figures(res: dict[str, Any]) -> list[Figure]:
    figs: list[Figure] = []
    add = figs.append
    render = res["render"]
    runs = {(r["size_kb"], r["mode"]): r for r in render["runs"]}
    paced = {k: r for (k, m), r in runs.items() if m == "100 tok/s"}
    big = max(paced)

    # 1 ----------------------------------------------------------------------------
    r = paced[big]
    add(
        Figure(
            1,
            f"render_cpu.{big}",
            f"render CPU, {big} KB @ 100 tok/s (simulated clock)",
            r["total_cpu_s"],
            f"{r['total_cpu_s']:.2f} s",
            f"<= {T_RENDER_CPU_S:g} s",
            f"full re-render every 50 ms: {r['base_total_cpu_s']:,.0f} s",
            _pass(r["total_cpu_s"] <= T_RENDER_CPU_S),
            r["base_note"],
        )
    )

    # 2 ----------------------------------------------------------------------------
    for kb, r in sorted(paced.items()):
        add(
            Figure(
                2,
                f"render_update.{kb}",
                f"renderer per update p50 / p99, {kb} KB @ 100 tok/s",
                [r["p50_ms"], r["p99_ms"]],
                f"{r['p50_ms']:.2f} / {r['p99_ms']:.2f} ms",
                f"<= {T_P50_MS:g} / {T_P99_MS:g} ms",
                f"full re-render {r['base_p50_ms']:.1f} / {r['base_p99_ms']:.1f} ms",
                _pass(r["p50_ms"] <= T_P50_MS and r["p99_ms"] <= T_P99_MS),
            )
        )
    small = min(paced)
    flat = paced[big]["p50_ms"] / paced[small]["p50_ms"]
    base_flat = paced[big]["base_p50_ms"] / paced[small]["base_p50_ms"]
    add(
        Figure(
            2,
            "render_flat",
            f"renderer flat: p50 {big} KB / p50 {small} KB",
            flat,
            f"{flat:.2f}x",
            f"<= {T_FLAT:g}x",
            f"full re-render {base_flat:.1f}x",
            _pass(flat <= T_FLAT),
        )
    )
    live = res["paced"]
    for key, p in live.items():
        kb = p["spec"]["kb"]
        b = paced.get(kb)
        add(
            Figure(
                2,
                f"live_paint.{key}",
                f"live paint CPU p50 / p99 (kernel), {kb} KB @ {_pace(p['tps'])}",
                [p["paint_cpu_p50_ms"], p["paint_cpu_p99_ms"]],
                f"{p['paint_cpu_p50_ms']:.2f} / {p['paint_cpu_p99_ms']:.2f} ms",
                f"<= {T_P50_MS:g} / {T_P99_MS:g} ms",
                f"full re-render {b['base_p50_ms']:.1f} / {b['base_p99_ms']:.1f} ms (renderer only)"
                if b
                else "-",
                _pass(p["paint_cpu_p50_ms"] <= T_P50_MS and p["paint_cpu_p99_ms"] <= T_P99_MS),
                f"Painter's own wall clock p50 / p99 {p['paint_p50_ms']:.2f} / "
                f"{p['paint_p99_ms']:.2f} ms, max {p['paint_max_ms']:.1f} ms (CPU max "
                f"{p['paint_cpu_max_ms']:.1f}); {p['paints']} paints, Painter.cost "
                f"{p['paint_cost_s']:.2f} s, CPU {p['paint_cpu_s']:.2f} s",
            )
        )
    by_tps: dict[float, dict[int, Any]] = {}
    for p in live.values():
        by_tps.setdefault(p["tps"], {})[p["spec"]["kb"]] = p
    for tps, group in sorted(by_tps.items()):
        if len(group) < 2:
            continue
        lo, hi = group[min(group)], group[max(group)]
        ratio = hi["paint_cpu_p50_ms"] / lo["paint_cpu_p50_ms"]
        add(
            Figure(
                2,
                f"live_flat.{tps:g}",
                f"live paint flat: CPU p50 {max(group)} KB / {min(group)} KB @ {_pace(tps)}",
                ratio,
                f"{ratio:.2f}x",
                f"<= {T_FLAT:g}x",
                "-",
                _pass(ratio <= T_FLAT),
            )
        )
    for kb, o in res["overhead"].items():
        tr = o["traffic"]
        add(
            Figure(
                2,
                f"live_paint.{kb}@0",
                f"live paint CPU p50 / p99 (kernel), {kb} KB @ full speed",
                [tr["paint_cpu_p50_ms"], tr["paint_cpu_p99_ms"]],
                f"{tr['paint_cpu_p50_ms']:.2f} / {tr['paint_cpu_p99_ms']:.2f} ms",
                "info",
                "-",
                "info",
                f"{tr['paints']} paints, Painter.cost {tr['paint_cost_s']:.2f} s, CPU "
                f"{tr['paint_cpu_s']:.2f} s (full speed: each paint covers hundreds of deltas; "
                "the painter backs off to 10x the paint cost)",
            )
        )

    # 3 ----------------------------------------------------------------------------
    for (kb, mode), r in sorted(runs.items()):
        add(
            Figure(
                3,
                f"flicker.{kb}.{mode.replace(' ', '_')}",
                f"flicker, {kb} KB @ {mode}",
                r["flicker"],
                f"{r['flicker'] * 100:.2f} %",
                f"<= {T_FLICKER * 100:g} %",
                f"full re-render {r['base_flicker'] * 100:.1f} %",
                _pass(r["flicker"] <= T_FLICKER),
            )
        )

    # 4 ----------------------------------------------------------------------------
    biggest = max(res["overhead"])
    for kb, o in res["overhead"].items():
        targeted = kb == biggest and kb >= 200
        for key, label in OVERHEAD_KINDS:
            ratio = o[f"{key}_ratio"]
            lo, hi = o[f"{key}_ratio_range"]
            note = f"{len(o['pairs'])} interleaved pairs, range {lo:.2f}-{hi:.2f}x"
            if key == "wall":
                note += (
                    f"; client-seen wall until idle {o['client_wall_ratio']:.2f}x; the cell's "
                    f"thread waited for a CPU {o['runq_wait_share'] * 100:.0f}% of its wall time"
                )
            add(
                Figure(
                    4,
                    f"overhead_{key}.{kb}",
                    f"%%claude / raw SDK {label}, {kb} KB @ full speed",
                    ratio,
                    f"{ratio:.2f}x ({o[f'claude_{key}']:.2f} s)",
                    f"<= {T_OVERHEAD:g}x" if targeted else "(<= 1.3x at 200 KB)",
                    f"raw SDK {o[f'raw_{key}']:.2f} s",
                    _pass(ratio <= T_OVERHEAD) if targeted else "info",
                    note,
                )
            )

    # 5 ----------------------------------------------------------------------------
    display = res["display"]
    runs5 = [(f"{kb}@0", o["traffic"], 0.0, kb) for kb, o in res["overhead"].items()]
    runs5 += [(k, p, p["tps"], p["spec"]["kb"]) for k, p in live.items()]
    for key, t, tps, kb in runs5:
        disp = display.get(f"{kb}@{tps:g}")
        for kind in ("payload", "whole"):
            ratio = t[f"{kind}_ratio"]
            base = f"full resend {t[f'resend_{kind}_ratio']:,.1f}x (computed)"
            if disp:
                base += f"; display view {disp[f'{kind}_ratio']:,.1f}x (measured)"
            note = f"{t[f'{kind}_bytes']:,} B for {t['final_html_bytes']:,} B of HTML; " + (
                breakdown(t, kind)
            )
            add(
                Figure(
                    5,
                    f"bytes_{kind}.{key}",
                    f"bytes/HTML byte, {'payload only' if kind == 'payload' else 'whole messages'}"
                    f", {kb} KB @ {_pace(tps)}",
                    ratio,
                    f"{ratio:.2f}x",
                    f"<= {T_BYTES:g}x",
                    base,
                    _pass(ratio <= T_BYTES),
                    note,
                )
            )

    for key, m in res["bytes_model"].items():
        rows = m["rows"]
        at20 = rows[0]
        kb = key.split("@")[0]
        for kind in ("payload", "whole"):
            add(
                Figure(
                    5,
                    f"bytes_model_{kind}.{key}",
                    f"modelled {kind} bytes at 20/s, {kb} KB @ 100 tok/s; fastest rate <= 4x",
                    {r["updates_per_s"]: r[f"{kind}_ratio"] for r in rows},
                    f"{at20[f'{kind}_ratio']:.2f}x; {best_rate(rows, f'{kind}_ratio')}",
                    "info",
                    f"html-only final bundle: {rows[0][f'slim_{kind}_ratio']:.2f}x; "
                    f"{best_rate(rows, f'slim_{kind}_ratio')}",
                    "info",
                    "; ".join(
                        f"{r['updates_per_s']:g}/s: {r[f'{kind}_ratio']:.2f}x "
                        f"(html-only bundle {r[f'slim_{kind}_ratio']:.2f}x)"
                        for r in rows
                    )
                    + f"; patches simulated with the product's MarkdownRun, the rest as measured "
                    f"in run {m['measured_run']}",
                )
            )

    # 6 ----------------------------------------------------------------------------
    for key, t, tps, kb in runs5:
        if tps == 0 and kb != max(res["overhead"]):
            continue
        rate = t["max_patches_per_s_throttled"]
        add(
            Figure(
                6,
                f"rate.{key}",
                f"patches/s to the frontend, max over 1 s, {kb} KB @ {_pace(tps)}",
                rate,
                f"{rate}/s",
                f"<= {T_RATE}/s",
                f"one per delta: {tps:g}/s" if tps else "one per delta: unbounded",
                _pass(rate <= T_RATE),
                f"throttled paints only; with the urgent paints (start, first token) and the "
                f"final flush "
                f"{t['max_patches_per_s']}/s; all IOPub {t['max_iopub_per_s']}/s (limit "
                f"{T_IOPUB}); paint starts {t['max_paints_per_s']}/s; min gap "
                f"{t['patch_gap_min_ms'] or 0:.1f} ms, p50 gap {t['patch_gap_p50_ms'] or 0:.1f} ms",
            )
        )
    worst_iopub = max(t["max_iopub_per_s"] for _, t, _, _ in runs5)
    add(
        Figure(
            6,
            "iopub_rate",
            "IOPub messages/s of a cell, max over 1 s, any run",
            worst_iopub,
            f"{worst_iopub}/s",
            f"< {T_IOPUB}/s",
            "one message per delta at full speed: thousands/s",
            _pass(worst_iopub < T_IOPUB),
        )
    )

    # 7 ----------------------------------------------------------------------------
    tk, ti = res["ttfp_kernel"], res["ttfp_inproc"]
    add(
        Figure(
            7,
            "ttfp.kernel",
            "time to first paint, kernel (server send -> patch header date)",
            tk["ttfp_median_ms"],
            f"{tk['ttfp_median_ms']:.1f} ms (p90 {tk['ttfp_p90_ms']:.1f}, max "
            f"{tk['ttfp_max_ms']:.1f})",
            f"< {T_TTFP_MS:g} ms",
            f"raw SDK first text event {ti['raw_sdk_median_ms']:.1f} ms; "
            "throttle-first design +50 ms",
            _pass(tk["ttfp_median_ms"] < T_TTFP_MS),
            f"{len(tk['ttfp_ms'])} runs at 100 tok/s (median judged); to this client "
            f"{tk['ttfp_arrival_median_ms']:.1f} ms; time.time() in both processes",
        )
    )
    add(
        Figure(
            7,
            "ttfp.inproc",
            "time to first paint, in-process Run (server send -> widget.send)",
            ti["live_median_ms"],
            f"{ti['live_median_ms']:.1f} ms (p90 {ti['live_p90_ms']:.1f}, max "
            f"{ti['live_max_ms']:.1f})",
            f"< {T_TTFP_MS:g} ms",
            f"raw SDK first text event {ti['raw_sdk_median_ms']:.1f} ms",
            _pass(ti["live_median_ms"] < T_TTFP_MS),
            f"{len(ti['live_ms'])} runs; perf_counter (CLOCK_MONOTONIC) in both processes; "
            "no Jupyter serialisation",
        )
    )
    cb = res["code_block"]
    warm_list = [lang for lang in res["config"]["langs"] if lang != "haskell"]
    for lang in res["config"]["langs"]:
        listed = lang in warm_list
        add(
            Figure(
                7,
                f"first_code_block.{lang}",
                f"first {lang} block adds, warm lexers"
                + ("" if listed else " (not in the warm list)"),
                cb[f"{lang}_warm_added_ms"],
                f"{cb[f'{lang}_warm_added_ms']:.1f} ms",
                f"< {T_CODE_MS:g} ms" if listed else "info",
                f"cold {cb[f'{lang}_cold_added_ms']:.1f} ms",
                _pass(cb[f"{lang}_warm_added_ms"] < T_CODE_MS) if listed else "info",
                "worst paint of a fresh interpreter's first block minus the same answer again",
            )
        )

    # 8 ----------------------------------------------------------------------------
    m = res["memory"]
    for key, label in (
        ("rss_peak_delta", "RSS peak growth (fresh kernel)"),
        ("traced_peak", "tracemalloc peak"),
    ):
        c, r = m[f"claude_{key}"], m[f"raw_{key}"]
        add(
            Figure(
                8,
                f"memory_{key}.{m['kb']}",
                f"kernel {label}, {m['kb']} KB answer",
                c,
                f"{c / 1e6:.1f} MB",
                "info (none set)",
                f"raw SDK {r / 1e6:.1f} MB",
                "info",
                f"{c / max(r, 1):.1f}x raw",
            )
        )

    # 9 ----------------------------------------------------------------------------
    for name, o in res["transcripts"].items():
        for key, label in OVERHEAD_KINDS:
            ratio = o[f"{key}_ratio"]
            extra = (o[f"claude_{key}"] - o[f"raw_{key}"]) * 1e3
            add(
                Figure(
                    9,
                    f"overhead_{key}.{name.split()[0]}_{name.split()[1]}",
                    f"%%claude / raw SDK {label}, {name}",
                    ratio,
                    f"{ratio:.2f}x (+{extra:.0f} ms)",
                    f"<= {T_OVERHEAD:g}x",
                    f"raw SDK {o[f'raw_{key}'] * 1e3:.0f} ms",
                    _pass(ratio <= T_OVERHEAD),
                    f"{len(o['pairs'])} pairs, {o['events']:,} events",
                )
            )

    # 10 ---------------------------------------------------------------------------
    checks = [(f"{kb}@0", o["traffic"]) for kb, o in res["overhead"].items()]
    checks += list(live.items())
    for key, t in checks:
        kb, tps = key.split("@")
        ok = bool(
            t.get("text_matches_server")
            and t.get("frozen_equals_one_shot")
            and t.get("live_view_equals_one_shot")
            and t.get("static_bundle_has_one_shot")
        )
        add(
            Figure(
                10,
                f"final_html.{key}",
                f"final HTML == one-shot render, {kb} KB @ {_pace(float(tps))}",
                ok,
                str(ok),
                "True",
                "-",
                _pass(ok),
                "MarkdownRun frozen HTML, the live view rebuilt from its patches, and the "
                "static bundle's body: "
                + ", ".join(
                    f"{k}={t.get(k)}"
                    for k in (
                        "frozen_equals_one_shot",
                        "live_view_equals_one_shot",
                        "static_bundle_has_one_shot",
                    )
                ),
            )
        )
    return figs


def breakdown(t: dict[str, Any], kind: str) -> str:
    """Where the bytes went, as multiples of the final HTML."""
    html = t["final_html_bytes"]
    col = 1 if kind == "payload" else 2
    by = t["by_type"]
    patches = t[f"patch_{kind}_bytes"]
    checkpoints = by.get("comm_msg", [0, 0, 0])[col] - patches
    parts = {
        f"{t['patches']} patches": patches,
        f"{t['state_updates']} state updates (checkpoints, close)": checkpoints,
        "widget open/close": by.get("comm_open", [0, 0, 0])[col]
        + by.get("comm_close", [0, 0, 0])[col],
        "display + final bundle": by.get("display_data", [0, 0, 0])[col]
        + by.get("update_display_data", [0, 0, 0])[col],
    }
    return ", ".join(f"{k} {v / html:.2f}x" for k, v in parts.items())


def table(figs: list[Figure]) -> str:
    heads = ("#", "figure", "value", "target", "baseline", "")
    rows = [(str(f.item), f.name, f.shown, f.target, f.baseline, f.status) for f in figs]
    widths = [max(len(r[i]) for r in [heads, *rows]) for i in range(len(heads))]
    widths[4] = min(widths[4], 60)

    def line(r: tuple[str, ...]) -> str:
        return "  ".join(
            (c if i != 4 or len(c) <= 60 else c[:57] + "...").ljust(widths[i])
            for i, c in enumerate(r)
        ).rstrip()

    out = [line(heads), line(tuple("-" * w for w in widths))]
    out += [line(r) for r in rows]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="every figure, smaller answers")
    parser.add_argument(
        "--json", type=Path, default=BENCH_DIR / "results" / "latest.json", help="output file"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    cfg = QUICK if args.quick else FULL
    res = measure(cfg, args.seed)
    figs = figures(res)
    print()
    print(
        f"claude_nb whole-path benchmarks ({'quick' if args.quick else 'full'} run, "
        f"{res['elapsed_s'] / 60:.1f} min, {os.cpu_count()} CPUs, load "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())})"
    )
    print(table(figs))
    failed = [f for f in figs if f.status == "FAIL"]
    print(
        f"\n{sum(f.status == 'PASS' for f in figs)} PASS, {len(failed)} FAIL, "
        f"{sum(f.status == 'info' for f in figs)} info"
    )

    args.json.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "quick": args.quick,
        "seed": args.seed,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "loadavg_end": os.getloadavg(),
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    args.json.write_text(
        json.dumps(
            {"meta": meta, "figures": [asdict(f) for f in figs], "raw": res},
            indent=1,
            default=str,
        )
    )
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
