"""Bytes to the browser against updates per second: the trade-off behind figure 5.

The product's own ``MarkdownRun`` streams an answer on a simulated clock (one 4-char
delta per token at ``tps``) and is asked for its live patch ops every ``interval``
seconds, exactly as ``LiveView.paint`` would; each batch is sized as the ipywidgets
custom message carrying it. Two encodings are compared:

* ``current``: the ops as the product sends them today;
* ``freeze``: a finished block that the browser already shows as the start of its tail
  is moved from tail to frozen by reference (``["freeze", id, n]``) instead of being
  re-sent in an ``add`` op, and the new tail is diffed against what is left of the old.

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

from claude_nb.samples import llm_markdown
from claude_nb.segments import MarkdownRun, common_prefix_len

INTERVALS = (0.05, 0.1, 0.2, 0.5, 1.0)


def _size(obj: Any) -> int:
    return len(json.dumps(obj, ensure_ascii=False).encode())


def simulate(text: str, tps: float, interval: float) -> dict[str, Any]:
    """Patch batches and their payload bytes for one answer, both encodings."""
    deltas = [text[i : i + 4] for i in range(0, len(text), 4)]
    seg = MarkdownRun("s0")
    seg.mark_shown()
    seq = 0
    cur = frz = 0
    frz_tail = ""  # what the browser's tail holds under the freeze encoding
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
        # The same state change under the freeze encoding.
        alt: list[Any] = []
        added = "".join(op[2] for op in ops if op[0] == "add")
        if added:
            n = common_prefix_len(frz_tail, added)
            if n == len(added):
                alt.append(["freeze", "s0", n])
                frz_tail = frz_tail[n:]
            else:
                alt.append(["add", "s0.f", added])
                frz_tail = ""
        tail = seg.tail
        if tail != frz_tail:
            keep = common_prefix_len(frz_tail, tail)
            alt.append(["tail", "s0.t", keep, tail[keep:]])
            frz_tail = tail
        alt += [op for op in ops if op[0] not in ("add", "tail")]
        frz += _size({"method": "custom", "content": {"cnb": 1, "seq": seq, "ops": alt}})
    return {"interval": interval, "patches": seq, "current": cur, "freeze": frz}


def model(
    text: str,
    tps: float,
    html_bytes: int,
    other_payload: int,
    other_whole: int,
    envelope: float,
    intervals: tuple[float, ...] = INTERVALS,
) -> list[dict[str, Any]]:
    """Whole-cell ratios (bytes / final HTML byte) per paint interval and encoding.

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
                "freeze_payload_ratio": (other_payload + s["freeze"]) / html_bytes,
                "freeze_whole_ratio": (other_whole + s["freeze"] + env) / html_bytes,
                "patch_payload_ratio": s["current"] / html_bytes,
                "freeze_patch_payload_ratio": s["freeze"] / html_bytes,
            }
        )
    return rows


def format_rows(rows: list[dict[str, Any]]) -> str:
    out = [
        f"{'updates/s':>9}  {'patches':>7}  {'payload':>8}  {'whole':>7}  "
        f"{'payload+freeze':>14}  {'whole+freeze':>12}"
    ]
    for r in rows:
        out.append(
            f"{r['updates_per_s']:>9g}  {r['patches']:>7}  {r['payload_ratio']:>7.2f}x  "
            f"{r['whole_ratio']:>6.2f}x  {r['freeze_payload_ratio']:>13.2f}x  "
            f"{r['freeze_whole_ratio']:>11.2f}x"
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
        from claude_nb.markdown import render_markdown

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
