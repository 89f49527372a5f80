"""The output that stays in the notebook: one mimebundle of HTML, markdown and plain text.

It is what replaces the live widget when a stream ends, what ``Result`` shows as its own
repr, and what nbconvert, GitHub and an untrusted notebook display without a kernel.
"""

from __future__ import annotations

import re

from claude_nb.render.header import footer_html, footer_plain, header_html, header_plain
from claude_nb.render.html import ROOT_STYLE
from claude_nb.render.segments import Layout
from claude_nb.stream.state import RunState

_FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
_BAD_LINK = re.compile(r"\]\(\s*(?:javascript|vbscript|data|file)\s*:[^)]*\)", re.I)


def static_bundle(state: RunState, layout: Layout, extra_html: str = "") -> dict[str, str]:
    """``{text/html, text/markdown, text/plain}`` for the run as it stands."""
    html = (
        f'<div class="cnb cnb-static mathjax_ignore" style="{ROOT_STYLE}">'
        f"{header_html(state)}<div class='cnb-body'>{layout.html()}</div>"
        f"{extra_html}{footer_html(state)}</div>"
    )
    markdown = f"*{header_plain(state)}*\n\n{safe_markdown(layout.markdown())}\n\n" + "\n".join(
        f"> {line}" for line in footer_plain(state).splitlines()
    )
    plain = f"{header_plain(state)}\n\n{layout.plain()}\n\n{footer_plain(state)}"
    return {"text/html": html, "text/markdown": markdown, "text/plain": plain}


def safe_markdown(text: str) -> str:
    """Model markdown made inert for markdown renderers that allow raw HTML.

    Outside code, ``<`` becomes ``&lt;`` (renders as ``<``, never as a tag) and links to
    script-capable schemes lose their target. Code spans and fences are left untouched.
    """
    out: list[str] = []
    fence: str | None = None
    for line in text.splitlines(keepends=True):
        m = _FENCE.match(line)
        if fence is not None:
            out.append(line)
            if m and m.group(2)[0] == fence[0] and len(m.group(2)) >= len(fence):
                fence = None
            continue
        if m:
            fence = m.group(2)
            out.append(line)
            continue
        out.append(_escape_outside_code(line))
    return "".join(out)


def _escape_outside_code(line: str) -> str:
    parts: list[str] = []
    pos = 0
    for m in _CODE_SPAN.finditer(line):
        parts.append(_inert(line[pos : m.start()]))
        parts.append(m.group(0))
        pos = m.end()
    parts.append(_inert(line[pos:]))
    return "".join(parts)


def _inert(text: str) -> str:
    return _BAD_LINK.sub("](#)", text.replace("<", "&lt;"))
