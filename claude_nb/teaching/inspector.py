"""Teaching mode's event inspector: every SSE event of the answer, live, beside it.

Rows come from the raw wire (:mod:`claude_nb.stream.wire`), not from the SDK's events, so the
``ping`` events the SDK hides show up too, with their exact ``event:``/``data:`` text.
The kernel half (:class:`EventInspector`) parses new frames in ``paint`` (at most ~20
times a second; ``changed`` does nothing, so the per-event hot path is untouched) and
appends them to the browser half as one compact batch per paint::

    {"start": 120, "names": [...], "rows": [[t_ms, type, index, delta, chars, bytes], ...],
     "raw": ["event: ...\\ndata: ...\\n\\n", ...]}

(``type``/``delta`` are codes into ``names``; ``index`` -1 when there is none), so the
bytes sent are O(events): each event once, never a re-render. The browser half
(:class:`InspectorWidget`) keeps the rows in arrays and draws only the visible ones
(fixed row height, a spacer for the scroll height): 50,000 events are as cheap to show
as 50. Clicking a row shows its JSON; the Raw tab shows the wire text, virtualised too;
clicking a total filters the table.

Custom messages sent before the browser has loaded the widget's code are lost, so, as
the live view does, the kernel refreshes a ``checkpoint`` trait (every row so far) a few
times early on, while the rows are few; the store lives per model (anywidget's
``initialize``), so a view that re-renders keeps its rows. When the answer ends the
widget is replaced by a compact summary (totals per type, TTFT, duration, bytes) that
is kept in the notebook — never the 10,000 rows.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import anywidget
import traitlets

from claude_nb.render.html import BORDER, MUTED, esc, fmt_int, fmt_secs
from claude_nb.stream.protocol import CONTENT_FIELDS, DELTA_TYPES, MESSAGE_EVENTS
from claude_nb.stream.state import Change
from claude_nb.stream.timeline import NameCodes
from claude_nb.teaching.timeline_chart import TimelineChart
from claude_nb.views.jupyter import close_widgets
from claude_nb.views.live import is_live

KNOWN_EVENTS = (*MESSAGE_EVENTS, "ping", "error")
# Totals, in this order: deltas are counted per delta type; anything else is "unknown".
CATEGORIES = (
    "message_start",
    "content_block_start",
    *DELTA_TYPES,
    "content_block_stop",
    "message_delta",
    "message_stop",
    "ping",
    "error",
    "unknown",
)
COLORS = {
    "message_start": "#0f766e",
    "content_block_start": "#0891b2",
    "text_delta": "#2563eb",
    "thinking_delta": "#8b5cf6",
    "signature_delta": "#a78bfa",
    "input_json_delta": "#d97706",
    "citations_delta": "#059669",
    "content_block_stop": "#0e7490",
    "message_delta": "#16a34a",
    "message_stop": "#15803d",
    "ping": "#9ca3af",
    "error": "#dc2626",
    "unknown": "#db2777",
}

# Seconds after display at which every row so far is re-sent as the checkpoint trait
# (for a browser that loaded the widget's code late); skipped once rows are many.
CHECKPOINTS = (0.25, 1.0, 3.0)
CHECKPOINT_MAX_ROWS = 2000


def category(event: str, delta: str | None) -> str:
    """The totals bucket of an event: its type, its delta type for deltas, or ``unknown``."""
    if event == "content_block_delta":
        return delta if delta in DELTA_TYPES else "unknown"
    return event if event in KNOWN_EVENTS else "unknown"


ESM = r"""
const ROW_H = 18;
const LINE_H = 15;
const STORES = new Map();
const KNOWN_EVENTS = __KNOWN_EVENTS__;
const KNOWN_DELTAS = __KNOWN_DELTAS__;
const CATEGORIES = __CATEGORIES__;
const COLORS = __COLORS__;

function makeStore() {
  return {
    n: 0, names: [""], t: [], type: [], index: [], delta: [], chars: [], bytes: [], raw: [],
    cat: [], counts: {}, totalBytes: 0, ttft: null, gapped: false,
    lines: [], lineCat: [], linesBuilt: 0, listeners: new Set(), epoch: 0,
  };
}

function categoryOf(store, type, delta) {
  const ev = store.names[type] || "";
  if (ev === "content_block_delta") {
    const d = store.names[delta] || "";
    return KNOWN_DELTAS.includes(d) ? d : "unknown";
  }
  return KNOWN_EVENTS.includes(ev) ? ev : "unknown";
}

function append(store, start, rows, raw) {
  if (start > store.n) { store.gapped = true; return; }
  for (let i = store.n - start; i < rows.length; i++) {
    const r = rows[i];
    store.t.push(r[0]); store.type.push(r[1]); store.index.push(r[2]);
    store.delta.push(r[3]); store.chars.push(r[4]); store.bytes.push(r[5]);
    store.raw.push(raw[i]);
    const cat = categoryOf(store, r[1], r[3]);
    store.cat.push(cat);
    store.counts[cat] = (store.counts[cat] || 0) + 1;
    store.totalBytes += r[5];
    if (store.ttft === null && (cat === "text_delta" || cat === "thinking_delta" || cat === "input_json_delta")) {
      store.ttft = r[0];
    }
    store.n++;
  }
}

function notify(store) { for (const f of store.listeners) f(); }

function restore(store, model) {
  const raw = model.get("checkpoint");
  if (!raw) return;
  const cp = JSON.parse(raw);
  if (cp.n <= store.n && !store.gapped) return;
  const listeners = store.listeners;
  Object.assign(store, makeStore(), { listeners, epoch: store.epoch + 1 });
  store.names = cp.names;
  append(store, 0, cp.rows, cp.raw);
  notify(store);
}

function onMessage(store, msg) {
  if (!msg || msg.cnbi !== 1) return;
  if (msg.names) store.names = msg.names;
  append(store, msg.start, msg.rows, msg.raw);
  notify(store);
}

function storeFor(model) {
  const uid = model.get("uid");
  let store = STORES.get(uid);
  if (!store) {
    store = makeStore();
    STORES.set(uid, store);
    const onCp = () => restore(store, model);
    const onMsg = (msg) => onMessage(store, msg);
    model.on("change:checkpoint", onCp);
    model.on("msg:custom", onMsg);
    store.detach = () => { model.off("change:checkpoint", onCp); model.off("msg:custom", onMsg); };
    restore(store, model);
  }
  return store;
}

function initialize({ model }) {
  const uid = model.get("uid");
  storeFor(model);
  return () => {
    const store = STORES.get(uid);
    if (store && store.detach) store.detach();
    STORES.delete(uid);
  };
}

function el(tag, style, text) {
  const e = document.createElement(tag);
  if (style) e.style.cssText = style;
  if (text !== undefined) e.textContent = text;
  return e;
}

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function fmtBytes(n) {
  if (n < 1024) return n + " B";
  if (n < 1048576) return (n / 1024).toFixed(1) + " KB";
  return (n / 1048576).toFixed(2) + " MB";
}

function dataOf(raw) {
  const data = [];
  for (const line of raw.split(/\r?\n/)) {
    if (line.startsWith("data:")) data.push(line.slice(line.startsWith("data: ") ? 6 : 5));
  }
  return data.join("\n");
}

function shortEvent(name) {
  return name.startsWith("content_block_") ? "block_" + name.slice(14) : name;
}

const COLS = [["#", 48, "right"], ["t (s)", 58, "right"], ["event", 112, "left"], ["idx", 30, "right"],
              ["delta", 76, "left"], ["chars", 44, "right"], ["bytes", 46, "right"]];

function cellsHtml(values, color) {
  let html = "";
  for (let c = 0; c < COLS.length; c++) {
    const [, w, align] = COLS[c];
    const colour = (c === 2 || c === 4) && color ? ";color:" + color : "";
    html += '<span style="display:inline-block;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;width:' +
      w + "px;text-align:" + align + ";padding:0 4px;box-sizing:border-box" + colour + '">' + values[c] + "</span>";
  }
  return html;
}

function render({ model, el: host }) {
  const store = storeFor(model);
  const root = el("div", "font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:11px;" +
    "border:1px solid rgba(128,128,128,0.35);border-radius:4px;padding:4px;min-width:0;");
  root.className = "cnb-inspector";
  host.appendChild(root);

  const head = el("div", "display:flex;align-items:center;gap:6px;flex-wrap:wrap;margin-bottom:3px;");
  const title = el("b", "font-family:system-ui,sans-serif;font-size:12px;", "SSE events");
  const stats = el("span", "color:#8a8a8a;");
  const tabEvents = el("button", "", "Events");
  const tabRaw = el("button", "", "Raw");
  const follow = el("button", "", "⤓ follow");
  for (const b of [tabEvents, tabRaw, follow]) {
    b.style.cssText = "font-size:11px;padding:0 6px;border:1px solid rgba(128,128,128,0.4);border-radius:3px;" +
      "background:transparent;color:inherit;cursor:pointer;";
  }
  head.append(title, stats, tabEvents, tabRaw, follow);
  const totals = el("div", "display:flex;flex-wrap:wrap;gap:3px;margin-bottom:3px;");
  const colHead = el("div", "white-space:nowrap;overflow:hidden;color:#8a8a8a;border-bottom:1px solid rgba(128,128,128,0.35);");
  colHead.innerHTML = cellsHtml(COLS.map((c) => c[0]), null);
  const viewport = el("div", "position:relative;height:252px;overflow:auto;");
  const spacer = el("div", "width:1px;");
  const layer = el("div", "position:absolute;top:0;left:0;right:0;");
  viewport.append(spacer, layer);
  const detail = el("pre", "margin:4px 0 0;padding:4px 6px;max-height:180px;overflow:auto;white-space:pre-wrap;" +
    "word-break:break-word;background:rgba(128,128,128,0.08);border-radius:3px;font-size:11px;",
    "Click a row to see its JSON.");
  const rawView = el("div", "position:relative;height:300px;overflow:auto;display:none;");
  const rawSpacer = el("div", "width:1px;");
  const rawLayer = el("div", "position:absolute;top:0;left:0;min-width:100%;");
  rawView.append(rawSpacer, rawLayer);
  const notice = el("div", "color:#d97706;display:none;");
  root.append(head, totals, notice, colHead, viewport, detail, rawView);

  let tab = "events";
  let following = true;
  let selected = -1;
  let filter = null;
  let filtered = null;
  let filteredUpTo = 0;
  let scheduled = false;
  let shownTotals = "";
  let drawnRows = "";
  let drawnRaw = "";

  function rowCount() { return filtered ? filtered.length : store.n; }
  function rowAt(k) { return filtered ? filtered[k] : k; }

  function syncFilter() {
    if (!filter) return;
    for (let i = filteredUpTo; i < store.n; i++) if (store.cat[i] === filter) filtered.push(i);
    filteredUpTo = store.n;
  }

  function buildLines() {
    for (let i = store.linesBuilt; i < store.n; i++) {
      const parts = store.raw[i].split(/\r?\n/);
      if (parts.length > 1 && parts[parts.length - 1] === "") parts.pop();
      for (const p of parts) { store.lines.push(p); store.lineCat.push(p.startsWith("event:") ? store.cat[i] : null); }
    }
    store.linesBuilt = store.n;
  }

  function drawTotals() {
    let html = "";
    for (const cat of CATEGORIES) {
      const n = store.counts[cat];
      if (!n) continue;
      const on = filter === cat;
      html += '<span data-cat="' + cat + '" title="show only ' + cat + ' (click again for all)" style="cursor:pointer;' +
        "padding:0 5px;border-radius:8px;border:1px solid " + COLORS[cat] + ";color:" + (on ? "#fff" : COLORS[cat]) +
        ";background:" + (on ? COLORS[cat] : "transparent") + '">' + cat + " " + n.toLocaleString() + "</span>";
    }
    if (html !== shownTotals) { totals.innerHTML = html; shownTotals = html; }
    const ttft = store.ttft === null ? "" : " · first token " + (store.ttft / 1000).toFixed(3) + " s";
    const last = store.n ? " · last " + (store.t[store.n - 1] / 1000).toFixed(3) + " s" : "";
    stats.textContent = store.n.toLocaleString() + " events · " + fmtBytes(store.totalBytes) + ttft + last;
    notice.style.display = store.gapped ? "" : "none";
    notice.textContent = store.gapped ? "Some events were missed while this view loaded; the summary at the end has them all." : "";
  }

  function drawRows() {
    const count = rowCount();
    spacer.style.height = count * ROW_H + "px";
    if (following) viewport.scrollTop = viewport.scrollHeight;
    const first = Math.max(0, Math.floor(viewport.scrollTop / ROW_H) - 2);
    const last = Math.min(count, first + Math.ceil((viewport.clientHeight || 252) / ROW_H) + 4);
    const key = [first, last, selected, filter, store.epoch].join("|");
    if (key === drawnRows) return;  // same rows: keep the DOM stable (hover, clicks)
    drawnRows = key;
    let html = "";
    for (let k = first; k < last; k++) {
      const i = rowAt(k);
      const cat = store.cat[i];
      const color = COLORS[cat];
      const ev = store.names[store.type[i]] || "";
      const delta = store.names[store.delta[i]] || "";
      const sel = i === selected ? "background:rgba(37,99,235,0.18);" : k % 2 ? "background:rgba(128,128,128,0.06);" : "";
      html += '<div data-i="' + i + '" title="' + esc(ev + (delta ? " · " + delta : "")) + '" style="height:' + ROW_H +
        "px;line-height:" + ROW_H + "px;white-space:nowrap;cursor:pointer;border-left:3px solid " + color + ";" + sel + '">' +
        cellsHtml([i + 1, (store.t[i] / 1000).toFixed(3), esc(shortEvent(ev)), store.index[i] < 0 ? "" : store.index[i],
                   esc(delta.replace(/_delta$/, "")), store.chars[i] || "", store.bytes[i]], color) + "</div>";
    }
    layer.style.top = first * ROW_H + "px";
    layer.innerHTML = html;
  }

  function drawRaw() {
    buildLines();
    const count = store.lines.length;
    rawSpacer.style.height = count * LINE_H + "px";
    if (following) rawView.scrollTop = rawView.scrollHeight;
    const first = Math.max(0, Math.floor(rawView.scrollTop / LINE_H) - 2);
    const last = Math.min(count, first + Math.ceil((rawView.clientHeight || 300) / LINE_H) + 4);
    const key = [first, last, store.epoch].join("|");
    if (key === drawnRaw) return;
    drawnRaw = key;
    let html = "";
    for (let k = first; k < last; k++) {
      const cat = store.lineCat[k];
      const color = cat ? "color:" + COLORS[cat] + ";font-weight:600;" : "";
      html += '<div style="height:' + LINE_H + "px;line-height:" + LINE_H + "px;white-space:pre;" + color + '">' +
        (esc(store.lines[k]) || " ") + "</div>";
    }
    rawLayer.style.top = first * LINE_H + "px";
    rawLayer.innerHTML = html;
  }

  function draw() {
    scheduled = false;
    syncFilter();
    drawTotals();
    if (tab === "events") drawRows(); else drawRaw();
    follow.style.opacity = following ? "1" : "0.5";
    tabEvents.style.fontWeight = tab === "events" ? "700" : "400";
    tabRaw.style.fontWeight = tab === "raw" ? "700" : "400";
  }

  function schedule() {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(draw);
  }

  function showDetail(i) {
    selected = i;
    const ev = store.names[store.type[i]] || "";
    const delta = store.names[store.delta[i]] || "";
    let body;
    try { body = JSON.stringify(JSON.parse(dataOf(store.raw[i])), null, 2); } catch (e) { body = store.raw[i]; }
    detail.textContent = "#" + (i + 1) + " · " + (store.t[i] / 1000).toFixed(3) + " s · " + ev +
      (store.index[i] >= 0 ? " · index " + store.index[i] : "") + (delta ? " · " + delta : "") +
      " · " + store.bytes[i] + " bytes on the wire\n" + body;
    schedule();
  }

  // mousedown, not click: while rows stream in, the row under the pointer may be redrawn
  // between press and release, and the click would be lost.
  layer.addEventListener("mousedown", (e) => {
    const row = e.target.closest("[data-i]");
    if (!row) return;
    following = false;  // keep the chosen row in view
    showDetail(Number(row.dataset.i));
  });
  totals.addEventListener("click", (e) => {
    const chip = e.target.closest("[data-cat]");
    if (!chip) return;
    filter = filter === chip.dataset.cat ? null : chip.dataset.cat;
    filtered = filter ? [] : null;
    filteredUpTo = 0;
    schedule();
  });
  const onScroll = (box, h) => () => {
    following = box.scrollTop + box.clientHeight >= box.scrollHeight - h;
    schedule();
  };
  viewport.addEventListener("scroll", onScroll(viewport, ROW_H));
  rawView.addEventListener("scroll", onScroll(rawView, LINE_H));
  tabEvents.addEventListener("click", () => { tab = "events"; setTab(); });
  tabRaw.addEventListener("click", () => { tab = "raw"; setTab(); });
  follow.addEventListener("click", () => { following = !following; schedule(); });

  function setTab() {
    const raw = tab === "raw";
    drawnRows = drawnRaw = "";
    rawView.style.display = raw ? "" : "none";
    for (const e of [colHead, viewport, detail]) e.style.display = raw ? "none" : "";
    schedule();
  }

  store.listeners.add(schedule);
  schedule();
  return () => store.listeners.delete(schedule);
}

export default { initialize, render };
"""

ESM = (
    ESM.replace("__KNOWN_EVENTS__", json.dumps(KNOWN_EVENTS))
    .replace("__KNOWN_DELTAS__", json.dumps(DELTA_TYPES))
    .replace("__CATEGORIES__", json.dumps(CATEGORIES))
    .replace("__COLORS__", json.dumps(COLORS))
)


CLOSED_ESM = "export default {};"  # what a closed inspector's model keeps instead of its code


class InspectorWidget(anywidget.AnyWidget):
    """The browser half of the inspector; rows arrive as custom messages (see the module doc)."""

    _esm = ESM
    uid = traitlets.Unicode("").tag(sync=True)
    checkpoint = traitlets.Unicode("").tag(sync=True)

    def __repr__(self) -> str:  # the stale text/plain a saved notebook would keep
        return "claude_nb event inspector (a summary replaces it when the answer ends)"


class EventInspector:
    """The ``--events`` extra: live SSE event table beside the answer, summary at the end."""

    hosts_timeline = True  # a TimelineChart of the same run shows inside this widget

    def __init__(self, run: Any) -> None:
        self.run = run
        self.codes = NameCodes()
        self.names = self.codes.names
        self.names_sent = 0
        self.seen: list[int] = []  # frames read, per wire log
        self.n = 0  # events read
        self.counts: dict[str, int] = {}  # per `event:` name, as on the wire
        self.totals: dict[str, int] = {}  # per category (deltas per delta type)
        self.bytes_by: dict[str, int] = {}
        self.nbytes = 0
        self.first_t: float | None = None
        self.last_t: float | None = None
        self.sent = 0  # rows sent to the browser
        self.pending_rows: list[list[Any]] = []
        self.pending_raw: list[str] = []
        self.early: tuple[list[list[Any]], list[str]] | None = ([], [])  # rows for checkpoints
        self.widget_obj: InspectorWidget | None = None
        self.box: Any = None
        self.shown_at = 0.0
        self.checkpoints = list(CHECKPOINTS)
        self.checkpoint_n = 0
        # Measurements (bench and tests): payload bytes, messages, paint seconds per paint.
        self.bytes_sent = 0
        self.messages = 0
        self.paint_costs: list[tuple[int, float]] = []  # (rows sent, seconds)

    # Extra protocol -------------------------------------------------------------------

    def widget(self) -> Any:
        """The inspector (with the timeline chart above it when that extra is on too)."""
        if not is_live(self.run):
            return None
        import ipywidgets

        self.widget_obj = InspectorWidget(uid=uuid.uuid4().hex)
        self.widget_obj.checkpoint = self._checkpoint()
        self.shown_at = time.perf_counter()
        chart = next((x for x in self.run.extras if isinstance(x, TimelineChart)), None)
        parts = [self.widget_obj] if chart is None else [chart.live_widget(), self.widget_obj]
        self.box = ipywidgets.VBox(  # align_self: as tall as its content, not as the answer
            parts,
            layout=ipywidgets.Layout(flex="1 1 45%", min_width="340px", align_self="flex-start"),
        )
        return self.box

    def changed(self, change: Change) -> None:
        """Nothing: rows come from the wire log, read in ``paint`` (hot path stays O(1))."""

    def paint(self) -> None:
        if self.widget_obj is None:
            self._ingest()
            return
        start = time.perf_counter()
        self._ingest()
        rows = len(self.pending_rows)
        if rows:
            message: dict[str, Any] = {
                "cnbi": 1,
                "start": self.sent,
                "rows": self.pending_rows,
                "raw": self.pending_raw,
            }
            if self.names_sent != len(self.names):
                message["names"] = self.names
                self.names_sent = len(self.names)
            self.bytes_sent += len(json.dumps(message, ensure_ascii=False))
            self.messages += 1
            self.widget_obj.send(message)
            self.sent += rows
            self.pending_rows, self.pending_raw = [], []
        self._maybe_checkpoint()
        self.paint_costs.append((rows, time.perf_counter() - start))

    def static_html(self) -> str:
        """The compact summary kept in the notebook: totals per type, timing, bytes."""
        self._ingest()
        state = self.run.state
        responses = len(self.run.wire or [])
        head = [
            f"<b>SSE events</b> · {fmt_int(self.n)} events · {_fmt_bytes(self.nbytes)} on the wire"
        ]
        if responses > 1:
            head.append(f"{responses} responses")
        if self.first_t is not None:
            head.append(f"first event {fmt_secs(self.first_t)}")
        if state.ttft is not None:
            head.append(f"first token (TTFT) {fmt_secs(state.ttft)}")
        if self.last_t is not None:
            head.append(f"last event {fmt_secs(self.last_t)}")
        head.append(f"duration {fmt_secs(state.elapsed)}")
        cell = "padding:1px 8px;text-align:left"
        rows = "".join(
            f'<tr><td style="{cell}"><span style="display:inline-block;width:9px;height:9px;'
            f'border-radius:2px;margin-right:5px;background:{COLORS[cat]}"></span>{esc(cat)}</td>'
            f'<td style="{cell};text-align:right">{fmt_int(self.totals[cat])}</td>'
            f'<td style="{cell};text-align:right">{_fmt_bytes(self.bytes_by[cat])}</td></tr>'
            for cat in CATEGORIES
            if self.totals.get(cat)
        )
        if not self.n:
            rows = f'<tr><td style="{cell}" colspan="3">no events were recorded</td></tr>'
        return (
            f'<details class="cnb-events-summary" open style="margin:8px 0;font-size:12px;color:{MUTED}">'
            f'<summary style="cursor:pointer">{" · ".join(head)}</summary>'
            f'<table style="border-collapse:collapse;margin:4px 0;font-size:12px;border:1px solid {BORDER}">'
            f'<thead><tr><th style="{cell}">event type</th><th style="{cell};text-align:right">count</th>'
            f'<th style="{cell};text-align:right">bytes</th></tr></thead><tbody>{rows}</tbody></table>'
            "</details>"
        )

    def close(self) -> None:
        if self.widget_obj is not None:
            # nbclient saves the last state of every widget it saw, closed or not: leave it
            # no rows and no code (the view is already replaced by the static summary).
            self.widget_obj.checkpoint = ""
            self.widget_obj._esm = CLOSED_ESM
            close_widgets(self.widget_obj, self.box)
            self.widget_obj = self.box = None
        self.early = None

    # Reading the wire -----------------------------------------------------------------

    def _ingest(self) -> None:
        """Parse the frames that arrived since the last call (O(new frames))."""
        logs = self.run.wire or []
        while len(self.seen) < len(logs):
            self.seen.append(0)
        for k, log in enumerate(logs):
            frames = log.frames
            if self.seen[k] < len(frames):
                self._add(frames[self.seen[k] :])
                self.seen[k] = len(frames)

    def _add(self, frames: list[Any]) -> None:
        """Count and (when live) queue rows for ``frames``; a tight loop: it sees every event."""
        loads, code, fields = json.loads, self.codes.code, CONTENT_FIELDS
        counts, totals, bytes_by = self.counts, self.totals, self.bytes_by
        live = self.widget_obj is not None
        rows, raws = self.pending_rows, self.pending_raw
        early = self.early if live else None
        for frame in frames:
            event = frame.event
            raw = frame.raw
            try:
                data = loads(frame.data) if frame.data else None
            except ValueError:
                data = None
            if not isinstance(data, dict):
                data = {}
            index = data.get("index")
            dtype = None
            chars = 0
            if event == "content_block_delta":
                delta = data.get("delta")
                if isinstance(delta, dict):
                    dtype = delta.get("type")
                    piece = delta.get(fields.get(dtype, ""))  # type: ignore[arg-type]
                    if isinstance(piece, str):
                        chars = len(piece)
                cat = dtype if dtype in DELTA_TYPES else "unknown"
            else:
                cat = event if event in KNOWN_EVENTS else "unknown"
            nbytes = len(raw) if raw.isascii() else len(raw.encode("utf-8"))
            counts[event] = counts.get(event, 0) + 1
            totals[cat] = totals.get(cat, 0) + 1
            bytes_by[cat] = bytes_by.get(cat, 0) + nbytes
            self.nbytes += nbytes
            self.n += 1
            if self.first_t is None:
                self.first_t = frame.t
            self.last_t = frame.t
            if not live:
                continue
            row = [
                round(frame.t * 1000),
                code(event),
                index if isinstance(index, int) else -1,
                code(dtype),
                chars,
                nbytes,
            ]
            rows.append(row)
            raws.append(raw)
            if early is not None:
                if self.n <= CHECKPOINT_MAX_ROWS:
                    early[0].append(row)
                    early[1].append(raw)
                else:
                    early = self.early = None

    def _checkpoint(self) -> str:
        """Every row sent so far (early in the stream only), for a view that loaded late."""
        if self.early is None:
            return ""
        rows, raw = self.early
        n = self.sent
        return json.dumps({"n": n, "names": self.names, "rows": rows[:n], "raw": raw[:n]})

    def _maybe_checkpoint(self) -> None:
        if not self.checkpoints or self.widget_obj is None:
            return
        elapsed = time.perf_counter() - self.shown_at
        if elapsed < self.checkpoints[0]:
            return
        while self.checkpoints and elapsed >= self.checkpoints[0]:
            self.checkpoints.pop(0)
        if self.early is None:
            self.checkpoints.clear()
        elif self.sent != self.checkpoint_n:
            self.widget_obj.checkpoint = self._checkpoint()
            self.checkpoint_n = self.sent

    # Measurements ---------------------------------------------------------------------

    def stats(self) -> dict[str, float]:
        """What the inspector cost: events, payload bytes, messages, paint seconds."""
        costs = [c for _, c in self.paint_costs]
        return {
            "events": self.n,
            "wire_bytes": self.nbytes,
            "bytes_sent": self.bytes_sent,
            "messages": self.messages,
            "paints": len(costs),
            "paint_total_s": sum(costs),
            "paint_max_s": max(costs, default=0.0),
        }


def _fmt_bytes(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / 1024 / 1024:.2f} MB"
