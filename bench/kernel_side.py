"""Imported inside the kernel under test by ``bench/whole_path.py``: timing and probes.

``install()`` adds two tiny probes to the product, in the kernel only: every ``Run`` is
remembered (so its painter and layout can be read after a ``%%claude`` cell) and every
``Painter.paint`` appends its own measured cost (``last_cost``, which the painter
already computes) to a list. Neither changes what is sent or when.

The timed bodies run as the whole cell (``time_claude`` / ``time_raw``) and keep their
figures in ``LAST``; the driver fetches them with ``report()`` in a later cell, so the
checks (a one-shot render of 200 KB takes ~0.5 s) never land in a timed cell.
"""

from __future__ import annotations

import gc
import json
import time
import tracemalloc
from typing import Any

RUNS: list[Any] = []
LAST: dict[str, Any] = {}
_client: Any = None


def install() -> None:
    from claude_nb.notebook import runner as runner_mod
    from claude_nb.views import painter as painter_mod

    if getattr(runner_mod.Run, "_bench_installed", False):
        return
    init, paint = runner_mod.Run.__init__, painter_mod.Painter.paint

    def run_init(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        RUNS.append(self)
        del RUNS[:-4]  # keep the last few only: they hold whole answers

    def painter_paint(self: Any) -> None:
        cpu0 = time.thread_time()
        paint(self)
        cpu = time.thread_time() - cpu0
        self.__dict__.setdefault("bench_costs", []).append(self.last_cost)
        self.__dict__.setdefault("bench_cpu", []).append(cpu)

    runner_mod.Run.__init__ = run_init  # type: ignore[method-assign]
    runner_mod.Run._bench_installed = True  # type: ignore[attr-defined]
    painter_mod.Painter.paint = painter_paint  # type: ignore[method-assign]


def vm(key: str) -> int:
    """A ``/proc/self/status`` field in bytes (VmHWM: peak RSS, VmRSS: current)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux: write 5 to clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def schedstat() -> tuple[float, float]:
    """This thread's (seconds on a CPU, seconds waiting in a run queue), from the kernel."""
    try:
        with open("/proc/thread-self/schedstat") as f:
            on_cpu, waiting = f.read().split()[:2]
        return int(on_cpu) / 1e9, int(waiting) / 1e9
    except (OSError, ValueError):
        return 0.0, 0.0


def _begin(memory: str) -> dict[str, Any]:
    gc.collect()
    probe: dict[str, Any] = {"memory": memory}
    if memory == "tracemalloc":
        tracemalloc.start()
        tracemalloc.reset_peak()
        probe["traced0"] = tracemalloc.get_traced_memory()[0]
    elif memory == "rss":
        probe["rss_reset"] = reset_peak_rss()
        probe["rss0"] = vm("VmRSS")
    probe["sched0"] = schedstat()
    probe["wall0"], probe["cpu0"] = time.perf_counter(), time.process_time()
    return probe


def _end(probe: dict[str, Any]) -> dict[str, Any]:
    out = {
        "wall": time.perf_counter() - probe["wall0"],
        "cpu": time.process_time() - probe["cpu0"],
    }
    sched = schedstat()
    # Time the cell's thread was ready to run but another process had the CPU: on a
    # shared 2-core machine this, not the code under test, is most of wall minus CPU.
    out["runq_wait"] = sched[1] - probe["sched0"][1]
    out["wall_uncontended"] = out["wall"] - out["runq_wait"]
    if probe["memory"] == "tracemalloc":
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out["traced_peak"] = peak - probe["traced0"]
        out["traced_end"] = current - probe["traced0"]
    elif probe["memory"] == "rss":
        out["rss_peak_delta"] = vm("VmHWM") - probe["rss0"]
        out["rss_reset"] = probe["rss_reset"]
    return out


def time_claude(line: str, cell: str = "q", memory: str = "") -> None:
    """The whole cell: ``%%claude LINE`` with CELL as the prompt, timed from inside."""
    from IPython import get_ipython

    probe = _begin(memory)
    get_ipython().run_cell_magic("claude", line, cell)
    LAST.clear()
    LAST.update(_end(probe), kind="claude")


def time_raw(url: str, max_tokens: int, memory: str = "") -> None:
    """The whole cell: the raw SDK consuming the same stream (``for e in stream: pass``)."""
    global _client
    import anthropic

    from claude_nb.sdk import default_model

    if _client is None or str(_client.base_url).rstrip("/") != url.rstrip("/"):
        _client = anthropic.Anthropic(base_url=url, api_key="offline")
    request = {
        "model": default_model(),
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": "q"}],
    }
    probe = _begin(memory)
    with _client.messages.stream(**request) as stream:
        for _event in stream:
            pass
    LAST.clear()
    LAST.update(_end(probe), kind="raw")


def report(check_html: bool = False) -> str:
    """The last timed cell's figures, and for a ``%%claude`` one its run's (JSON)."""
    out = dict(LAST)
    if out.get("kind") == "claude" and RUNS:
        run = RUNS[-1]
        p = run.painter
        costs = list(p.__dict__.get("bench_costs", []))
        out.update(
            paints=p.count,
            paint_cost=p.cost,
            paint_costs=costs,
            paint_cpu=list(p.__dict__.get("bench_cpu", [])),
            paint_times=[t - p.times[0] for t in p.times] if p.times else [],
            bytes_sent=getattr(run.view, "bytes_sent", None),
            first_token=run.state.first_token,
        )
        if check_html:
            out.update(_check_html(run))
    return json.dumps(out)


def _check_html(run: Any) -> dict[str, Any]:
    """Is every markdown run's final HTML a one-shot render of its whole text?"""
    from claude_nb.render.markdown import render_markdown
    from claude_nb.render.segments import MarkdownRun

    runs = [s for s in run.layout.segments if isinstance(s, MarkdownRun)]
    t0 = time.perf_counter()
    same = [("".join(s.frozen) == render_markdown(s.md.text)) and s.tail == "" for s in runs]
    return {
        "md_runs": len(runs),
        "frozen_equals_one_shot": all(same) if same else None,
        "one_shot_s": time.perf_counter() - t0,
        "text": "".join(s.md.text for s in runs),
        "replaced": [bool(getattr(s, "md", None) and s.md.finished) for s in runs],
    }
