"""The live widget: a tiny DOM patcher in the browser, fed O(change) patches from the kernel.

Standard ipywidgets resend a whole ``value`` on every change, which makes a streamed
answer cost O(n²) bytes. This anywidget (an ipywidgets ``DOMWidget`` whose front-end
code ships as a string — no JupyterLab build step) receives small batches of patch ops
as custom messages instead:

``["add", id, html]``      append HTML to part ``id`` (finished markdown blocks, new panels)
``["set", id, html]``      replace part ``id``'s content (a panel's summary or result)
``["tail", id, k, html]``  the open markdown tail: keep the first ``k`` chars of the last tail, add ``html``
``["freeze", id, to, n]``  the first ``n`` chars of tail ``id`` became final: move them to part ``to``
``["text", id, text]``     append plain text (thinking, tool input JSON as it streams)
``["attr", id, name, v]``  set or (``v`` null) remove an attribute (collapse a panel)
``["clock", s, running]``  the header clock shows ``s`` seconds and ticks while running

Batches carry a sequence number. Custom messages sent before the browser has loaded the
widget's code are lost, so the kernel also refreshes a ``checkpoint`` trait (the whole
view) a few times early in the stream; a view that sees a gap rebuilds from it. All
HTML comes from our renderers, which escape model output.

A custom message reaches only the listeners registered when it arrives, and a view can
be created long after its model: the output area renders late on a busy page, or the
user opens "Create New View for Cell Output". So the model itself (anywidget's
``initialize``, which runs once per model, before any view) keeps every batch since the
last checkpoint; a new view restores the checkpoint and replays that log, then follows
along. Without it, a late view saw a gap it could never close (checkpoints stop after
the first second) and froze on an early, often empty, state until the answer ended.
"""

from __future__ import annotations

import uuid

import anywidget
import traitlets

ESM = r"""
const MATH = ".cnb-math, .cnb-math-display";

// Per model (keyed by its _cnb_key trait): the batches received since the last checkpoint,
// when that checkpoint arrived, and the views to forward new batches to.
const stores = new Map();

function initialize({ model }) {
  const key = model.get("_cnb_key");
  const store = { log: [], views: new Set(), checkpointAt: performance.now() };
  stores.set(key, store);
  const onMessage = (msg) => {
    if (!msg || msg.cnb !== 1) return;
    const entry = { msg, at: performance.now() };
    store.log.push(entry);
    for (const view of store.views) view(entry);
  };
  const onCheckpoint = () => {
    store.checkpointAt = performance.now();
    const raw = model.get("checkpoint");
    let seq = Infinity;  // "" (the run ended): nothing left to replay
    if (raw) {
      try { seq = JSON.parse(raw).seq; } catch (e) { return; }
    }
    store.log = store.log.filter((entry) => entry.msg.seq > seq);
  };
  model.on("msg:custom", onMessage);
  model.on("change:checkpoint", onCheckpoint);
  return () => {
    model.off("msg:custom", onMessage);
    model.off("change:checkpoint", onCheckpoint);
    if (stores.get(key) === store) stores.delete(key);
  };
}

function typesetterOf(model) {
  try {
    const wm = model.widget_manager;
    return (wm && wm._rendermime && wm._rendermime.latexTypesetter) || null;
  } catch (e) {
    return null;
  }
}

function fmtSecs(s) {
  if (s < 10) return s.toFixed(2) + " s";
  if (s < 120) return s.toFixed(1) + " s";
  return Math.floor(s / 60) + " min " + Math.floor(s % 60) + " s";
}

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "cnb cnb-live jp-RenderedHTMLCommon mathjax_ignore";
  el.classList.add("cnb-host");
  el.appendChild(root);
  const tails = new Map();
  const store = stores.get(model.get("_cnb_key"));
  const typesetter = typesetterOf(model);
  let applied = -1;
  let gapped = false;
  let clockBase = null;
  let clockSecs = 0;
  let timer = null;

  const find = (id) => (id === "root" ? root : root.querySelector('[data-cnb="' + id + '"]'));

  function typeset(node) {
    if (!typesetter || !node || node.nodeType !== 1) return;
    const list = node.matches(MATH) ? [node] : node.querySelectorAll(MATH);
    for (const m of list) {
      try { typesetter.typeset(m); } catch (e) { /* leave the TeX visible */ }
    }
  }

  function paintClock() {
    const c = find("hdr.clock");
    if (!c) return;
    const s = clockBase === null ? clockSecs : clockSecs + (performance.now() - clockBase) / 1000;
    c.textContent = fmtSecs(s);
  }

  // ``at``: when the kernel's reading arrived (a replayed one is older than now).
  function setClock(secs, running, at) {
    clockSecs = secs;
    clockBase = running ? at : null;
    if (running && !timer) timer = setInterval(paintClock, 100);
    if (!running && timer) { clearInterval(timer); timer = null; }
    paintClock();
  }

  function apply(op, at) {
    const kind = op[0];
    if (kind === "clock") { setClock(op[1], op[2], at); return; }
    const target = find(op[1]);
    if (!target) return;
    if (kind === "add") {
      const t = document.createElement("template");
      t.innerHTML = op[2];
      const nodes = Array.from(t.content.childNodes);
      target.appendChild(t.content);
      nodes.forEach(typeset);
    } else if (kind === "freeze") {
      // The first n chars of the tail became final: move them to the frozen part.
      const html = tails.get(op[1]) || "";
      const frozen = find(op[2]);
      const t = document.createElement("template");
      t.innerHTML = html.slice(0, op[3]);
      const nodes = Array.from(t.content.childNodes);
      if (frozen) frozen.appendChild(t.content);
      nodes.forEach(typeset);
      tails.set(op[1], html.slice(op[3]));
      target.innerHTML = html.slice(op[3]);
      typeset(target);
    } else if (kind === "set") {
      target.innerHTML = op[2];
      typeset(target);
    } else if (kind === "tail") {
      const html = (tails.get(op[1]) || "").slice(0, op[2]) + op[3];
      tails.set(op[1], html);
      target.innerHTML = html;
      typeset(target);
    } else if (kind === "text") {
      target.appendChild(document.createTextNode(op[2]));
    } else if (kind === "attr") {
      if (op[3] === null) target.removeAttribute(op[2]);
      else target.setAttribute(op[2], op[3]);
    }
    if (op[1] === "hdr") paintClock();
  }

  function restore() {
    const raw = model.get("checkpoint");
    if (!raw) return;
    const cp = JSON.parse(raw);
    if (cp.seq <= applied && !gapped) return;
    root.innerHTML = cp.html;
    tails.clear();
    for (const [k, v] of Object.entries(cp.tails || {})) tails.set(k, v);
    applied = cp.seq;
    gapped = false;
    typeset(root);
    setClock(cp.clock[0], cp.clock[1], store ? store.checkpointAt : performance.now());
  }

  function onEntry({ msg, at }) {
    if (!msg || msg.cnb !== 1 || msg.seq <= applied) return;
    if (msg.seq !== applied + 1) { gapped = true; return; }
    for (const op of msg.ops) {
      try { apply(op, at); } catch (e) { console.warn("claude_nb: patch failed", op[0], e); }
    }
    applied = msg.seq;
  }

  // No store: a front-end that did not call initialize(); follow from now on.
  const onMessage = (msg) => onEntry({ msg, at: performance.now() });
  restore();
  model.on("change:checkpoint", restore);
  if (store) {
    for (const entry of store.log) onEntry(entry);
    store.views.add(onEntry);
  } else {
    model.on("msg:custom", onMessage);
  }
  return () => {
    model.off("change:checkpoint", restore);
    if (store) store.views.delete(onEntry);
    else model.off("msg:custom", onMessage);
    if (timer) clearInterval(timer);
  };
}

export default { initialize, render };
"""

CSS = r"""
.cnb-live .cnb-tail-cursor::after {
  content: "▍";
  opacity: 0.6;
  animation: cnb-blink 1s steps(2, start) infinite;
}
@keyframes cnb-blink { to { visibility: hidden; } }
.cnb-live details > summary { list-style-position: outside; }
.cnb-live .cnb-code pre { margin: 0; }
"""


class LiveWidget(anywidget.AnyWidget):
    """The browser half of the live view; the kernel half is :class:`~claude_nb.views.live.LiveView`."""

    _esm = ESM
    _css = CSS
    checkpoint = traitlets.Unicode("").tag(sync=True)
    # Names this model's message log in the browser (see the module docstring).
    _cnb_key = traitlets.Unicode().tag(sync=True)

    @traitlets.default("_cnb_key")
    def _default_cnb_key(self) -> str:
        return uuid.uuid4().hex

    def __repr__(self) -> str:  # the stale text/plain a saved notebook would keep
        return "claude_nb live view (static output replaces it when the answer ends)"
