"""The live widget: a tiny DOM patcher in the browser, fed O(change) patches from the kernel.

Standard ipywidgets resend a whole ``value`` on every change, which makes a streamed
answer cost O(n²) bytes. This anywidget (an ipywidgets ``DOMWidget`` whose front-end
code ships as a string — no JupyterLab build step) receives small batches of patch ops
as custom messages instead:

``["add", id, html]``      append HTML to part ``id`` (finished markdown blocks, new panels)
``["set", id, html]``      replace part ``id``'s content (a panel's summary or result)
``["tail", id, k, html]``  the open markdown tail: keep the first ``k`` chars of the last tail, add ``html``
``["text", id, text]``     append plain text (thinking, tool input JSON as it streams)
``["attr", id, name, v]``  set or (``v`` null) remove an attribute (collapse a panel)
``["clock", s, running]``  the header clock shows ``s`` seconds and ticks while running

Batches carry a sequence number. Custom messages sent before the browser has loaded the
widget's code are lost, so the kernel also refreshes a ``checkpoint`` trait (the whole
view) a few times early in the stream; a view that sees a gap rebuilds from it. All
HTML comes from our renderers, which escape model output.
"""

from __future__ import annotations

import anywidget
import traitlets

ESM = r"""
const MATH = ".cnb-math, .cnb-math-display";

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

  function setClock(secs, running) {
    clockSecs = secs;
    clockBase = running ? performance.now() : null;
    if (running && !timer) timer = setInterval(paintClock, 100);
    if (!running && timer) { clearInterval(timer); timer = null; }
    paintClock();
  }

  function apply(op) {
    const kind = op[0];
    if (kind === "clock") { setClock(op[1], op[2]); return; }
    const target = find(op[1]);
    if (!target) return;
    if (kind === "add") {
      const t = document.createElement("template");
      t.innerHTML = op[2];
      const nodes = Array.from(t.content.childNodes);
      target.appendChild(t.content);
      nodes.forEach(typeset);
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
    setClock(cp.clock[0], cp.clock[1]);
  }

  function onMessage(msg) {
    if (!msg || msg.cnb !== 1 || msg.seq <= applied) return;
    if (msg.seq !== applied + 1) { gapped = true; return; }
    for (const op of msg.ops) {
      try { apply(op); } catch (e) { console.warn("claude_nb: patch failed", op[0], e); }
    }
    applied = msg.seq;
  }

  restore();
  model.on("change:checkpoint", restore);
  model.on("msg:custom", onMessage);
  return () => {
    model.off("change:checkpoint", restore);
    model.off("msg:custom", onMessage);
    if (timer) clearInterval(timer);
  };
}

export default { render };
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
    """The browser half of the live view; the kernel half is :class:`~claude_nb.live_view.LiveView`."""

    _esm = ESM
    _css = CSS
    checkpoint = traitlets.Unicode("").tag(sync=True)

    def __repr__(self) -> str:  # the stale text/plain a saved notebook would keep
        return "claude_nb live view (static output replaces it when the answer ends)"
