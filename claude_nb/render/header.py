"""The header (model, status, time) and footer (stop reason, tokens, timing) of a run."""

from __future__ import annotations

from claude_nb.render.html import (
    ACCENT,
    LINE_STYLE,
    MUTED,
    STATUS_COLOR,
    badge,
    esc,
    fmt_int,
    fmt_secs,
    part,
)
from claude_nb.stream.state import RunState, Status

STOP_REASONS = {
    "end_turn": "",
    "stop_sequence": "stopped at a stop sequence",
    "tool_use": "stopped to use a tool",
    "pause_turn": "paused a long server-tool turn",
    "max_tokens": "⚠ cut off: the answer hit max_tokens — raise --max-tokens to get the rest",
    "refusal": "⛔ Claude declined to answer this request (stop reason: refusal)",
    "model_context_window_exceeded": "⚠ cut off: the conversation filled the model's context window",
}


def header_html(state: RunState, pid: str | None = None, clock: bool = False) -> str:
    """Model, status dot and word, elapsed time; an OFFLINE badge so nobody mistakes it for Claude."""
    status = state.status.value
    color = STATUS_COLOR.get(status, MUTED)
    offline = " " + badge("OFFLINE", "#6b7280") if state.offline else ""
    # Live, the widget's own clock fills the span (so the header is not resent every paint).
    time_html = f"<span{part(pid, 'clock')}></span>" if clock else fmt_secs(state.elapsed)
    notice = (
        f" <span style='color: {ACCENT['tool']}'>· {esc(state.notice)}</span>"
        if state.notice
        else ""
    )
    spinner = "" if state.status.finished else " …"
    return (
        f'<div class="cnb-header" style="{LINE_STYLE} display: flex; gap: 8px; align-items: center;">'
        f'<span style="color: {color}; font-size: 14px;">●</span>'
        f"<b style='color: inherit; opacity: .85'>Claude</b>"
        f"<span>{esc(state.model)}</span>{offline}"
        f"<span style='color: {color}'>{esc(status)}{spinner}</span>"
        f"<span>· {time_html}</span>{notice}</div>"
    )


def footer_lines(state: RunState) -> list[tuple[str, str]]:
    """(text, kind) lines: kind is 'error', 'warn' or 'info'."""
    lines: list[tuple[str, str]] = []
    if state.error is not None:
        lines.append((f"✖ {state.error.line()}", "error"))
    elif state.status is Status.INTERRUPTED:
        lines.append(
            (
                f"⏹ Interrupted after {fmt_secs(state.elapsed)}: the partial answer is kept in _claude.",
                "warn",
            )
        )
    if state.outcome is not None and state.outcome.value == "max_turns":
        lines.append(("⚠ stopped after the maximum number of tool turns (--max-turns)", "warn"))
    reason = state.stop_reason
    if reason:
        words = STOP_REASONS.get(reason, f"stop reason: {reason}")
        if reason == "refusal":
            details = _stop_details(state)
            if details:
                words += f" — {details}"
        if words:
            lines.append((words, "warn" if reason in ("max_tokens", "refusal") else "info"))
    u = state.usage()
    out = (
        f"~{fmt_int(state.streamed_tokens_estimate())} (estimated: the stream ended early)"
        if state.output_estimated
        else fmt_int(u["output_tokens"])
    )
    tokens = (
        f"in {fmt_int(u['input_tokens'])} · out {out}"
        f" · cache read {fmt_int(u['cache_read_input_tokens'])}"
        f" · cache write {fmt_int(u['cache_creation_input_tokens'])}"
    )
    if u.get("thinking_tokens"):
        tokens += f" · thinking {fmt_int(u['thinking_tokens'])}"
    if u.get("web_search_requests"):
        tokens += f" · web searches {u['web_search_requests']}"
    if len(state.turns) > 1:
        tokens += f" · {len(state.turns)} turns"
    lines.append((f"tokens: {tokens}", "info"))
    tps = state.tokens_per_second
    approx = "~" if state.output_estimated else ""
    rate = f"{approx}{tps:,.0f} tokens/s" if tps else "– tokens/s"
    timing = (
        f"time to first token {fmt_secs(state.ttft)} · {rate} · total {fmt_secs(state.elapsed)}"
    )
    lines.append((timing, "info"))
    return lines


def footer_html(state: RunState) -> str:
    colors = {"error": ACCENT["error"], "warn": ACCENT["tool"], "info": MUTED}
    rows = "".join(
        f"<div style='color: {colors[kind]};{' font-weight: 600;' if kind != 'info' else ''}'>{esc(text)}</div>"
        for text, kind in footer_lines(state)
    )
    return (
        f'<div class="cnb-footer" style="{LINE_STYLE} border-top: 1px solid rgba(128,128,128,0.25);'
        f' padding-top: 3px; margin-top: 6px;">{rows}</div>'
    )


def header_plain(state: RunState) -> str:
    offline = " [OFFLINE]" if state.offline else ""
    return f"● Claude {state.model}{offline} · {state.status.value} · {fmt_secs(state.elapsed)}"


def footer_plain(state: RunState) -> str:
    return "\n".join(text for text, _ in footer_lines(state))


def _stop_details(state: RunState) -> str:
    for turn in reversed(state.turns):
        details = getattr(turn.message, "stop_details", None) if turn.message is not None else None
        if details:
            text = getattr(details, "explanation", None) or getattr(details, "category", None)
            if isinstance(details, dict):
                text = details.get("explanation") or details.get("category")
            return str(text or "")
    return ""
