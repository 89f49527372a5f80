"""Teaching mode's timeline: how much output arrived when, as a small chart.

Why plain ``<div>`` columns and not SVG or a PNG: an untrusted notebook (any notebook
opened from disk that its owner did not run, and every notebook rendered on GitHub)
goes through JupyterLab's sanitizer, which strips ``<svg>``, ``<style>`` and ``data:``
image URLs but keeps inline ``style=`` attributes with plain colours, flex layout and
pixel heights. So the chart is ~100 flex columns (one per time bucket) whose stacked
segments have pixel heights proportional to the characters that arrived in that bucket,
coloured by phase (thinking, text, tool input); bucket backgrounds mark waiting for the
first token, a local tool running, and pauses; a red left border marks the time to first
token. The same HTML is the live chart (an ``ipywidgets.HTML`` resent at most twice a
second: it is O(buckets), a few KB) and the static output kept in the saved notebook.

Data: ``run.state.timeline`` (arrival time, delta type and size of every event), read
incrementally into fine time bins, and ``run.state.turns[*]`` (first token per turn, tool
runs). ``changed`` does nothing: the hot path stays O(1).
"""

from __future__ import annotations

import time
from typing import Any

from claude_nb.render.html import BORDER, MUTED, esc, fmt_int, fmt_secs
from claude_nb.stream.state import Change
from claude_nb.views.jupyter import close_widgets
from claude_nb.views.live import is_live

BUCKETS = 100
CHART_PX = 64  # height of the bars area
REFRESH = 0.5  # seconds between live redraws
PAUSE = 0.5  # a gap between two stream events longer than this is marked as a pause
MAX_PAUSES = 50  # marked individually; more are only counted

PHASE_OF_DELTA = {"thinking_delta": 0, "text_delta": 1, "input_json_delta": 2}
PHASE_COLORS = ("#8b5cf6", "#2563eb", "#d97706")
PHASE_LABELS = ("thinking", "text", "tool input")
WAIT_BG = "rgba(128,128,128,0.18)"
TOOL_BG = "rgba(217,119,6,0.25)"
PAUSE_BG = "rgba(220,38,38,0.16)"
TTFT_COLOR = "#dc2626"
_NOT_STREAM = frozenset({"tool_started", "tool_finished", "retry"})


class _Bins:
    """Characters per phase in fine time bins that double in width as the run grows.

    Adding an event is O(1); drawing sums at most ``MAX`` bins into the display buckets,
    so a redraw never costs O(all events), however long the answer.
    """

    MAX = 4096

    def __init__(self, width: float = 1e-4) -> None:
        self.width = width
        self.chars: list[list[int]] = [[], [], []]

    def add(self, t: float, phase: int, n: int) -> None:
        i = int(max(t, 0.0) / self.width)
        while i >= self.MAX:
            self._merge()
            i = int(max(t, 0.0) / self.width)
        col = self.chars[phase]
        if i >= len(col):
            col.extend([0] * (i + 1 - len(col)))
        col[i] += n

    def _merge(self) -> None:
        for p, col in enumerate(self.chars):
            if len(col) % 2:
                col.append(0)
            self.chars[p] = [col[k] + col[k + 1] for k in range(0, len(col), 2)]
        self.width *= 2

    def buckets(self, total: float, count: int) -> list[list[int]]:
        """``count`` buckets over ``[0, total]``: characters per phase in each."""
        out = [[0, 0, 0] for _ in range(count)]
        step = total / count
        for p, col in enumerate(self.chars):
            for i, n in enumerate(col):
                if n:
                    b = min(int((i + 0.5) * self.width / step), count - 1)
                    out[b][p] += n
        return out


class TimelineChart:
    """The ``--timeline`` extra (also part of ``--events``): output over time, live and saved."""

    def __init__(self, run: Any) -> None:
        self.run = run
        self.bins = _Bins()
        self.pos = 0  # timeline rows read so far
        self.chars = [0, 0, 0]
        self.pauses: list[tuple[float, float]] = []
        self.pause_count = 0
        self.longest_pause = 0.0
        self.last: tuple[float, str, int] | None = None  # (t, type, turn) of the previous event
        self.html: Any = None  # the live ipywidgets.HTML
        self.last_draw = -1.0
        self.final: str | None = None
        self.bytes_sent = 0

    # Extra protocol -------------------------------------------------------------------

    def widget(self) -> Any:
        """The live chart beside the answer; with ``--events`` the inspector shows it instead."""
        if not is_live(self.run) or self._inspector_present():
            return None
        return self.live_widget(flex="0 1 40%", align_self="flex-start")

    def changed(self, change: Change) -> None:
        """Nothing: the chart reads the timeline when it draws (hot path stays O(1))."""

    def paint(self) -> None:
        if self.html is None:
            return
        now = time.perf_counter()
        if self.last_draw >= 0 and now - self.last_draw < REFRESH:
            return
        self.last_draw = now
        html = self.render()
        if html != self.html.value:
            self.html.value = html
            self.bytes_sent += len(html)

    def static_html(self) -> str:
        if self.final is not None:
            return self.final
        html = self.render()
        if self.run.state.outcome is not None:
            self.final = html
        return html

    def close(self) -> None:
        if self.html is not None:
            self.html.value = ""  # nbclient keeps a closed widget's last state: leave it nothing
            close_widgets(self.html)
            self.html = None

    # Building -------------------------------------------------------------------------

    def live_widget(self, **layout: str) -> Any:
        """Create the live ``ipywidgets.HTML`` (also called by the inspector, which hosts it)."""
        import ipywidgets

        if self.html is None:
            self.html = ipywidgets.HTML(
                value=self.render(), layout=ipywidgets.Layout(min_width="260px", **layout)
            )
            self.last_draw = time.perf_counter()
        return self.html

    def _inspector_present(self) -> bool:
        """An extra that hosts the chart in its own widget (the event inspector) is present."""
        return any(getattr(x, "hosts_timeline", False) for x in self.run.extras)

    def _ingest(self) -> None:
        """Read the timeline rows added since the last call (O(new rows))."""
        state = self.run.state
        timeline = state.timeline
        n = len(timeline)
        turns = state.turns
        for i in range(self.pos, n):
            e = timeline[i]
            if e.type == "content_block_delta":
                phase = PHASE_OF_DELTA.get(e.delta_type or "")
                if phase is not None and e.size:
                    self.bins.add(e.t, phase, e.size)
                    self.chars[phase] += e.size
            last = self.last
            if (
                last is not None
                and e.t - last[0] > PAUSE
                and last[2] == e.turn
                and e.type not in _NOT_STREAM
                and last[1] not in _NOT_STREAM
                and e.turn < len(turns)
                and turns[e.turn].first_token is not None
                and turns[e.turn].first_token <= last[0]
            ):
                self.pause_count += 1
                self.longest_pause = max(self.longest_pause, e.t - last[0])
                if len(self.pauses) < MAX_PAUSES:
                    self.pauses.append((last[0], e.t))
            self.last = (e.t, e.type, e.turn)
        self.pos = n

    def _bands(self, total: float) -> list[tuple[float, float, str]]:
        """(start, end, background) intervals: waiting for a first token, tools, pauses."""
        state = self.run.state
        bands: list[tuple[float, float, str]] = []
        for turn in state.turns:
            end = turn.first_token
            if end is None:
                end = turn.ended if turn.ended is not None else total
            bands.append((turn.started, end, WAIT_BG))
            for tool in turn.tool_runs.values():
                if tool.started is not None:
                    stop = tool.ended if tool.ended is not None else time.perf_counter()
                    bands.append((tool.started - state.started, stop - state.started, TOOL_BG))
        bands.extend((a, b, PAUSE_BG) for a, b in self.pauses)
        return bands

    def render(self) -> str:
        """The chart as inline-styled HTML (live and static alike)."""
        self._ingest()
        state = self.run.state
        total = max(state.elapsed, 1e-6)
        count = max(1, min(BUCKETS, int(total / self.bins.width)))
        step = total / count
        buckets = self.bins.buckets(total, count)
        peak = max((sum(b) for b in buckets), default=0) or 1
        backgrounds = [""] * count
        used: set[str] = set()
        for a, b, bg in self._bands(total):
            if b <= a:
                continue
            used.add(bg)
            for k in range(max(0, int(a / step)), min(count - 1, int(b / step)) + 1):
                if not backgrounds[k] or bg != WAIT_BG:
                    backgrounds[k] = bg
        ttft = state.ttft
        ttft_k = min(int(ttft / step), count - 1) if ttft is not None else -1
        cols = []
        for k, chars in enumerate(buckets):
            style = "flex:1 1 0;display:flex;flex-direction:column-reverse;min-width:0"
            if backgrounds[k]:
                style += f";background:{backgrounds[k]}"
            if k == ttft_k:
                style += f";border-left:2px solid {TTFT_COLOR}"
            segs = "".join(
                f'<div style="height:{max(1, round(n * CHART_PX / peak))}px;background:{PHASE_COLORS[p]}"></div>'
                for p, n in enumerate(chars)
                if n
            )
            title = f"{k * step:.2f}–{(k + 1) * step:.2f} s"
            if segs:
                title += " · " + ", ".join(
                    f"{n} {PHASE_LABELS[p]}" for p, n in enumerate(chars) if n
                )
            cols.append(f'<div title="{title}" style="{style}">{segs}</div>')
        return (
            f'<div class="cnb-timeline" style="margin:8px 0;font-size:11px;color:{MUTED};'
            f'max-width:760px;font-family:system-ui,-apple-system,sans-serif">'
            f'<div style="margin-bottom:3px">{self._summary(total, step)}</div>'
            f'<div style="display:flex;align-items:stretch;height:{CHART_PX}px;'
            f'border-left:1px solid {BORDER};border-bottom:1px solid {BORDER}">{"".join(cols)}</div>'
            f"{self._axis(total, ttft)}{self._legend(used)}</div>"
        )

    def _summary(self, total: float, step: float) -> str:
        state = self.run.state
        parts = [
            f"{fmt_int(n)} chars of {PHASE_LABELS[p]}" for p, n in enumerate(self.chars) if n
        ] or ["no output yet"]
        line = "⏱ <b>Output over time</b> · " + ", ".join(parts)
        line += f" · {'total' if state.status.finished else 'so far'} {fmt_secs(total)}"
        if state.ttft is not None:
            line += f" · first token {fmt_secs(state.ttft)}"
        if self.pause_count:
            line += (
                f" · {self.pause_count} pause{'s' if self.pause_count > 1 else ''} &gt; {PAUSE:g} s"
                f" (longest {fmt_secs(self.longest_pause)})"
            )
        line += f" · bars: characters per {step * 1000:.0f} ms"
        return line

    def _axis(self, total: float, ttft: float | None) -> str:
        if ttft is None:
            return (
                '<div style="display:flex;justify-content:space-between">'
                f"<span>0 s</span><span>{esc(fmt_secs(total))}</span></div>"
            )
        share = min(max(ttft / total * 100, 0.0), 100.0)
        zero = "0 s" if share >= 8 else ""
        return (
            '<div style="display:flex;white-space:nowrap">'
            f'<span style="flex:0 0 {share:.1f}%">{zero}</span>'
            f'<span style="flex:1 1 auto;color:{TTFT_COLOR}">▲ first token {esc(fmt_secs(ttft))}</span>'
            f"<span>{esc(fmt_secs(total))}</span></div>"
        )

    def _legend(self, used: set[str]) -> str:
        items = [(PHASE_COLORS[p], PHASE_LABELS[p]) for p, n in enumerate(self.chars) if n]
        items += [
            (bg, label)
            for bg, label in (
                (WAIT_BG, "waiting for the first token"),
                (TOOL_BG, "tool running"),
                (PAUSE_BG, f"pause &gt; {PAUSE:g} s"),
            )
            if bg in used
        ]
        swatch = "display:inline-block;width:9px;height:9px;margin:0 3px 0 10px;border-radius:2px"
        return (
            '<div style="margin-top:2px">'
            + "".join(
                f'<span style="{swatch};background:{color}"></span>{label}'
                for color, label in items
            )
            + "</div>"
        )
