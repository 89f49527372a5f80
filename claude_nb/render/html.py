"""HTML pieces shared by the live widget and the static output: header, footer, panels.

Everything here is inline-styled: an untrusted notebook strips ``<style>`` tags but keeps
``style`` attributes, so the saved output looks like the live one. Colours are
theme-neutral (greys as translucent rgba) so light and dark themes both read well.
Every string from the model or a tool goes through :func:`esc` (the one HTML escape, from
:mod:`claude_nb.render.safe`).

``pid`` arguments name a part for the live widget (``data-cnb`` attributes it patches);
the static output passes ``None`` and gets the same markup without them.
"""

from __future__ import annotations

import json
from typing import Any

from claude_nb.render.safe import esc

__all__ = [
    "ACCENT",
    "BADGE_STYLE",
    "BORDER",
    "LINE_STYLE",
    "MUTED",
    "PRE_STYLE",
    "ROOT_STYLE",
    "STATUS_COLOR",
    "SUBTLE_BG",
    "badge",
    "details",
    "esc",
    "fmt_int",
    "fmt_secs",
    "label",
    "part",
    "pre",
    "pretty_json",
]

MUTED = "#8a8a8a"
BORDER = "rgba(128,128,128,0.35)"
SUBTLE_BG = "rgba(128,128,128,0.07)"
ACCENT = {
    "thinking": "#8b5cf6",
    "tool": "#d97706",
    "server": "#0891b2",
    "generic": "#6b7280",
    "error": "#dc2626",
    "ok": "#16a34a",
}
STATUS_COLOR = {
    "connecting": "#9ca3af",
    "retrying": "#d97706",
    "thinking": "#8b5cf6",
    "writing": "#2563eb",
    "calling tool": "#d97706",
    "running tool": "#d97706",
    "done": "#16a34a",
    "interrupted": "#d97706",
    "error": "#dc2626",
}

ROOT_STYLE = (
    "font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; line-height: 1.5;"
    " max-width: 100%; overflow-wrap: break-word;"
)
LINE_STYLE = f"font-size: 12px; color: {MUTED}; margin: 2px 0;"
PRE_STYLE = (
    f"white-space: pre-wrap; word-break: break-word; margin: 4px 0; padding: 6px 8px;"
    f" background: {SUBTLE_BG}; border-radius: 4px; font-size: 12px; max-height: 360px; overflow: auto;"
)
BADGE_STYLE = (
    "display: inline-block; padding: 0 6px; border-radius: 8px; font-size: 11px;"
    " font-weight: 600; letter-spacing: 0.03em;"
)


def part(pid: str | None, name: str) -> str:
    """The attribute that lets the live widget find a part; empty in static output."""
    return f' data-cnb="{pid}.{name}"' if pid else ""


def fmt_int(n: int | None) -> str:
    return f"{n:,}" if n is not None else "–"


def fmt_secs(s: float | None) -> str:
    if s is None:
        return "–"
    if s < 10:
        return f"{s:.2f} s"
    if s < 120:
        return f"{s:.1f} s"
    return f"{int(s // 60)} min {int(s % 60)} s"


def badge(text: str, color: str) -> str:
    return f'<span style="{BADGE_STYLE} color: #fff; background: {color};">{esc(text)}</span>'


def details(
    *,
    pid: str | None,
    accent: str,
    summary: str,
    body: str,
    open_: bool,
    kind: str,
) -> str:
    """A collapsible panel: ``<details>`` works live, in saved notebooks, nbconvert and GitHub."""
    return (
        f'<details class="cnb-panel cnb-{kind}"{part(pid, "panel")}{" open" if open_ else ""}'
        f' style="margin: 6px 0; border-left: 3px solid {accent}; background: {SUBTLE_BG};'
        f' border-radius: 4px; padding: 2px 8px;">'
        f'<summary style="cursor: pointer; font-size: 13px; color: {MUTED}; padding: 2px 0;">'
        f"<span{part(pid, 'sum')}>{summary}</span></summary>"
        f"{body}</details>"
    )


def pre(text: str, pid: str | None = None, name: str = "pre", color: str | None = None) -> str:
    style = PRE_STYLE + (f" color: {color};" if color else "")
    return f'<pre style="{style}"{part(pid, name)}>{esc(text)}</pre>'


def pretty_json(value: Any) -> str:
    try:
        return json.dumps(value, indent=2, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(value)


def label(text: str) -> str:
    return f'<div style="font-size: 11px; color: {MUTED}; margin-top: 4px;">{esc(text)}</div>'
