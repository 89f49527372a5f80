"""The output that stays in the notebook: one mimebundle of HTML, markdown and plain text.

It is what replaces the live widget when a stream ends, what ``Result`` shows as its own
repr, and what nbconvert, GitHub and an untrusted notebook display without a kernel.
Every part goes through :mod:`claude_nb.render.safe`: the HTML is escaped and sanitised
as it is built, the markdown is inert in renderers that allow raw HTML (each segment's
own markdown; the header and footer as plain text), and the plain text has no control
characters.
"""

from __future__ import annotations

from claude_nb.render.header import footer_html, footer_plain, header_html, header_plain
from claude_nb.render.html import ROOT_STYLE
from claude_nb.render.safe import markdown_text, plain_text, quote
from claude_nb.render.segments import Layout
from claude_nb.stream.state import RunState


def static_bundle(state: RunState, layout: Layout, extra_html: str = "") -> dict[str, str]:
    """``{text/html, text/markdown, text/plain}`` for the run as it stands."""
    html = (
        f'<div class="cnb cnb-static mathjax_ignore" style="{ROOT_STYLE}">'
        f"{header_html(state)}<div class='cnb-body'>{layout.html()}</div>"
        f"{extra_html}{footer_html(state)}</div>"
    )
    footer = "\n\n".join(markdown_text(line) for line in footer_plain(state).splitlines())
    markdown = "\n\n".join(
        part
        for part in (f"*{markdown_text(header_plain(state))}*", layout.markdown(), quote(footer))
        if part
    )
    plain = plain_text(f"{header_plain(state)}\n\n{layout.plain()}\n\n{footer_plain(state)}")
    return {"text/html": html, "text/markdown": markdown, "text/plain": plain}
