"""Bytes to the browser against updates per second: the trade-off behind figure 5.

The product's own ``MarkdownRun`` streams an answer on a simulated clock (one 4-char
delta per token at ``tps``) and is asked for its live patch ops every ``interval``
seconds, exactly as ``LiveView.paint`` would; each batch is sized as the ipywidgets
custom message carrying it (the ops as the product sends them: tail diffs, and a
finished block the browser already shows moved by a ``freeze`` op, not re-sent).

What the cell sends besides the patches (widget open/close, checkpoints, the final
static bundle) and the Jupyter envelope per message come from a measured kernel run.

    python bench/bytes_model.py [--kb 10] [--tps 100]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from claude_nb.render.segments import MarkdownRun
from claude_nb.testing.samples import llm_markdown

INTERVALS = (0.05, 0.1, 0.2, 0.5, 1.0)


def _size(obj: Any) -> int:
    return len(json.dumps(obj, ensure_ascii=False).encode())


def simulate(text: str, tps: float, interval: float) -> dict[str, Any]:
    """Patch batches and their payload bytes for one answer."""
    deltas = [text[i : i + 4] for i in range(0, len(text), 4)]
    seg = MarkdownRun("s0")
    seg.mark_shown()
    seq = 0
    cur = 0
    next_at = 0.0
    last = len(deltas)
    for k, delta in enumerate(deltas, 1):
        seg.append(delta)
        now = k / tps
        if now < next_at and k != last:
            continue
        next_at = now + interval
        if k == last:
            seg.finish(now)
        ops = seg.ops()
        if not ops:
            continue
        seq += 1
        cur += _size({"method": "custom", "content": {"cnb": 1, "seq": seq, "ops": ops}})
    return {"interval": interval, "patches": seq, "current": cur}


def model(
    text: str,
    tps: float,
    html_bytes: int,
    other_payload: int,
    other_whole: int,
    envelope: float,
    intervals: tuple[float, ...] = INTERVALS,
) -> list[dict[str, Any]]:
    """Whole-cell ratios (bytes / final HTML byte) per paint interval.

    ``other_*``: bytes of everything but the patch batches in the measured run;
    ``envelope``: Jupyter's per-message bytes beyond the payload, measured.
    """
    rows = []
    for interval in intervals:
        s = simulate(text, tps, interval)
        env = s["patches"] * envelope
        rows.append(
            {
                "interval_s": interval,
                "updates_per_s": 1 / interval,
                "patches": s["patches"],
                "payload_ratio": (other_payload + s["current"]) / html_bytes,
                "whole_ratio": (other_whole + s["current"] + env) / html_bytes,
                "patch_payload_ratio": s["current"] / html_bytes,
            }
        )
    return rows


def format_rows(rows: list[dict[str, Any]]) -> str:
    out = [f"{'updates/s':>9}  {'patches':>7}  {'payload':>8}  {'whole':>7}"]
    for r in rows:
        out.append(
            f"{r['updates_per_s']:>9g}  {r['patches']:>7}  {r['payload_ratio']:>7.2f}x  "
            f"{r['whole_ratio']:>6.2f}x"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kb", type=int, default=10)
    parser.add_argument("--tps", type=float, default=100.0)
    parser.add_argument("--seed", type=int, default=0)
    # Defaults: a 10 KB answer's measured kernel run (see bench/README.md).
    parser.add_argument("--html", type=int, help="final HTML bytes (default: estimated)")
    parser.add_argument("--other-payload", type=float, default=2.35, help="x final HTML")
    parser.add_argument("--other-whole", type=float, default=2.55, help="x final HTML")
    parser.add_argument("--envelope", type=float, default=560.0, help="bytes per message")
    args = parser.parse_args(argv)
    text = llm_markdown(args.kb * 1024, args.seed)
    if args.html is None:
        from claude_nb.render.markdown import render_markdown

        args.html = len(render_markdown(text).encode()) + 1500  # header, footer, wrappers
    rows = model(
        text,
        args.tps,
        args.html,
        int(args.other_payload * args.html),
        int(args.other_whole * args.html),
        args.envelope,
    )
    print(f"{args.kb} KB at {args.tps:g} tok/s, bytes per final HTML byte:")
    print(format_rows(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
