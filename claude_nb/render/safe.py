"""The one path untrusted text takes to the screen.

Model, tool and server text is attacker-written as soon as a prompt reads a web page,
and the user's own text comes back in chats and prompts. Wherever it is shown it goes
through one of these, and nowhere else:

- :func:`esc` — text inside HTML (content or attribute value);
- :func:`~claude_nb.render.markdown.render_markdown` — markdown rendered to HTML (raw
  HTML escaped, links only to safe URLs, images never loaded);
- :func:`inert_markdown` — markdown kept as markdown (``text/markdown`` parts, which
  JupyterLab, GitHub and nbconvert render with raw HTML allowed);
- :func:`markdown_text` — a line of plain text inside markdown (a header, an error);
- :func:`code_fence` — text shown as code inside markdown;
- :func:`plain_text` — ``text/plain`` and terminals.

All of them first :func:`clean` the text: control characters (terminal escapes, clear
screen, OSC 52 clipboard writes) are dropped and lone UTF-16 surrogates become U+FFFD.
"""

from __future__ import annotations

import html
import re
import string
from dataclasses import dataclass
from typing import Any

from claude_nb.render.markdown import is_safe_url
from claude_nb.render.scan import Inline, Span, line_starts, scan

__all__ = [
    "clean",
    "code_fence",
    "esc",
    "inert_markdown",
    "markdown_text",
    "plain_text",
    "quote",
]

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_ASCII_PUNCT = frozenset(string.punctuation)
_ESCAPE_ALL = {ord(c): "\\" + c for c in string.punctuation}
_BACKTICKS = re.compile(r"`+")


def clean(text: str) -> str:
    """``text`` without control characters (tab and newline stay; ``\\r`` becomes a
    newline) and with lone surrogates replaced (split halves of one emoji are joined)."""
    if _SURROGATE.search(text):
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text)


def esc(text: Any) -> str:
    """Text for HTML content and attribute values."""
    return html.escape(clean(str(text)), quote=True)


def plain_text(text: Any) -> str:
    """Text for ``text/plain`` outputs and terminals."""
    return clean(str(text))


def markdown_text(text: Any) -> str:
    """Plain text that reads the same in any markdown renderer: every ASCII punctuation
    character is backslash-escaped, so nothing in it can be markup."""
    return clean(str(text)).translate(_ESCAPE_ALL)


def quote(markdown: str) -> str:
    """``markdown`` as a blockquote (every line prefixed, blank lines kept inside).

    Tabs are expanded first: a tab's width depends on its column, so one that made an
    indented code block at column 0 might make raw HTML two columns further right.
    """
    lines = markdown.expandtabs(4).split("\n")
    return "\n".join("> " + line if line else ">" for line in lines)


def code_fence(text: Any, lang: str = "") -> str:
    """``text`` as a fenced code block no line of it can close."""
    body = clean(str(text))
    longest = max((len(m) for m in _BACKTICKS.findall(body)), default=0)
    fence = "`" * max(3, longest + 1)
    info = "".join(c for c in lang if c.isalnum() or c in "+-_.")
    return f"{fence}{info}\n{body}\n{fence}"


# --- inert markdown ----------------------------------------------------------------------

_TEXT = {"<": "&lt;", "`": "\\`", "[": "\\[", "]": "\\]"}
# TeX that a math renderer shows the same, with no character a markdown parser acts on.
_MATH = {"<": "\\lt ", "[": "\\lbrack ", "]": "\\rbrack ", "`": "\\grave{}"}
_TASK = ("[ ] ", "[x] ", "[X] ")
_IMAGE = "🖼 "
_MAX_PASSES = 6
_BLOCKED = "#unsafe-link"  # not a heading even at the start of a line: no space after "#"

Edit = tuple[int, int, str]


def inert_markdown(text: str) -> str:
    """Model markdown made inert for markdown renderers that allow raw HTML.

    Prose keeps its markup but loses everything live: ``<`` becomes ``&lt;`` (text,
    never a tag or autolink), and ``[``, ``]`` and backticks that markdown-it did not
    read as a link or a code span are escaped, so no renderer can pair them
    differently. Links to unsafe URLs become their text; safe ones are rewritten inline
    with their resolved URL; images become links (``🖼 alt``), never loaded; autolinks
    become ordinary links. Math keeps its TeX, spelled without ``<``, brackets or
    backticks (``\\lt``, ``\\lbrack``). Code spans and code blocks stay exactly as
    written; raw HTML blocks are escaped line by line.

    Where code is comes from markdown-it's own parse (:mod:`claude_nb.render.scan`).
    Escaping an HTML block can change what the lines around it are (it no longer ends
    a paragraph), so the result is scanned again until it no longer changes: then what
    is kept as code is code for a renderer of the result too.
    """
    out = clean(text)
    try:
        for _ in range(_MAX_PASSES):
            again, settled = _inert_pass(out)
            if settled or again == out:
                return again
            out = again
    except Exception:  # a parser bug on odd input must not cost the saved answer
        pass
    return markdown_text(text)  # never settled or failed (not seen in tests): plain text


def _inert_pass(src: str) -> tuple[str, bool]:
    """One pass, and whether its result is final. Edits inside inline text keep every
    block as it was; escaping an HTML block does not, so the result needs a new scan."""
    s = scan(src, "<[]")
    src = s.text
    wholesale: set[int] = set()  # lines escaped whole: HTML blocks, unmapped tokens
    for a, b in s.html_blocks:
        wholesale.update(range(a, b))
    for inline in s.inlines:
        if inline.parsed and inline.pieces is None and inline.token.map is not None:
            wholesale.update(range(*inline.token.map))
    # A definition to an unsafe URL points to "#unsafe-link" instead: it stays one for
    # every renderer (one that refuses the URL would read its lines as a paragraph).
    edits: list[Edit] = [(a, b, _BLOCKED) for a, b, href in s.definitions if not is_safe_url(href)]
    for a, b in s.loose:
        _text_edits(src, a, b, edits)
    if wholesale:
        starts = line_starts(src)
        for line in sorted(wholesale):
            _text_edits(src, starts[line], starts[line + 1] - 1, edits)
    for inline in s.inlines:
        if not inline.parsed or inline.pieces is None:
            continue
        if inline.token.map is not None and wholesale.intersection(range(*inline.token.map)):
            continue
        found: list[Edit] = []
        _Inert(inline, found).walk(0, len(inline.content), _sorted(inline.spans), False)
        for a, b, repl in found:
            edits.append((inline.source(a), inline.source(b - 1) + 1, repl))
    return _apply(src, edits), not s.html_blocks


def _sorted(spans: list[Span]) -> list[Span]:
    return sorted(spans, key=lambda sp: (sp.start, -sp.end))


def _apply(src: str, edits: list[Edit]) -> str:
    if not edits:
        return src
    edits.sort()
    out: list[str] = []
    pos = 0
    for a, b, repl in edits:
        if a < pos:  # overlapping edits would mean a mapping bug: keep the first
            continue
        out.append(src[pos:a])
        out.append(repl)
        pos = b
    out.append(src[pos:])
    return "".join(out)


def _text_edits(s: str, lo: int, hi: int, out: list[Edit], table: dict[str, str] = _TEXT) -> None:
    """Escape what could be markup in ``s[lo:hi]`` (backslash escapes are kept whole)."""
    p = lo
    while p < hi:
        ch = s[p]
        if ch == "\\" and p + 1 < hi and s[p + 1] in _ASCII_PUNCT:
            p += 2
            continue
        repl = table.get(ch)
        if repl is not None:
            out.append((p, p + 1, repl))
        elif ch == "!" and table is _TEXT and s[p + 1 : p + 2] in ("[", "<", "!"):
            out.append((p, p + 1, "\\!"))  # "!" before a link we write would make an image
        p += 1


def md_destination(href: str, title: str = "") -> str:
    """``(href "title")`` that every CommonMark renderer parses back to the same link."""
    dest = (
        href.replace("&", "&amp;")
        .replace("\\", "%5C")
        .replace("(", "%28")
        .replace(")", "%29")
        .replace(" ", "%20")
        .replace("<", "%3C")
        .replace(">", "%3E")
        .replace("`", "%60")
    )
    if title:
        title = " ".join(title.split())
        title = title.replace("&", "&amp;").replace("\\", "\\\\").replace('"', '\\"')
        title = title.replace("<", "&lt;").replace("|", "\\|")  # a bare "|" is a cell border
        return f'({dest} "{title}")'
    return f"({dest})"


@dataclass
class _Inert:
    """The edits that make one inline token's content inert (content offsets)."""

    inline: Inline
    out: list[Edit]

    def walk(self, lo: int, hi: int, spans: list[Span], in_link: bool) -> None:
        i, k = lo, 0
        while k < len(spans):
            span = spans[k]
            j = k + 1
            while j < len(spans) and spans[j].start < span.end:
                j += 1
            self.text(i, span.start)
            self.span(span, spans[k + 1 : j], in_link)
            i, k = span.end, j
        self.text(i, hi)

    def text(self, lo: int, hi: int) -> None:
        if lo >= hi:
            return
        content = self.inline.content
        if lo == 0 and self.inline.task and content.startswith(_TASK):
            lo = 3  # a task list marker stays a checkbox ("[x] " cannot be a link)
        _text_edits(content, lo, hi, self.out)

    def span(self, span: Span, inner: list[Span], in_link: bool) -> None:
        content, out = self.inline.content, self.out
        if span.kind == "code":
            return
        if span.kind == "math":
            _text_edits(content, span.start, span.end, out, _MATH)
            return
        safe = is_safe_url(span.href)
        if span.kind == "autolink":
            source = content[span.start : span.end]
            if "|" in source:  # a rewrite would change the line's cells: text, as written
                _text_edits(content, span.start, span.end, out)
                return
            label = markdown_text(source[1:-1])
            link = f"[{label}]{md_destination(span.href)}" if safe and not in_link else label
            out.append((span.start, span.end, link))
            return
        # The destination part ("](url)", "][ref]", "][]" or "]") stays as written where
        # it can; a shortcut or collapsed reference is spelled out, because the escapes
        # in its text would change the label it is looked up by.
        dest = content[span.label_end : span.end]
        short = dest in ("]", "][]")
        if span.kind == "link":
            if safe:
                self.walk(span.start + 1, span.label_end, inner, True)
                if short:
                    canonical = "]" + md_destination(span.href, span.title)
                    out.append((span.label_end, span.end, canonical))
                return
            out.append((span.start, span.start + 1, "\\["))
            self.walk(span.start + 1, span.label_end, inner, True)
            out.append((span.label_end, span.label_end + 1, "\\]"))
            _text_edits(content, span.label_end + 1, span.end, out)
            return
        # an image: a link to it (or its alt text), never an image
        empty = span.label_end == span.start + 2
        as_link = safe and not in_link
        head = ("[" if as_link else "") + _IMAGE + ("image" if empty else "")
        out.append((span.start, span.start + 2, head))
        _text_edits(content, span.start + 2, span.label_end, out)
        if as_link:
            if short:
                canonical = "]" + md_destination(span.href, span.title)
                out.append((span.label_end, span.end, canonical))
        elif "\n" not in dest and "|" not in dest:
            out.append((span.label_end, span.end, ""))
        else:
            _text_edits(content, span.label_end, span.end, out)
