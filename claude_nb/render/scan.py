"""Where a markdown text's code, math and links are, read off markdown-it's own parse.

Two places must tell code from prose in *source* text: prompt interpolation fills
``{var}`` only outside code, and the saved ``text/markdown`` part escapes prose but keeps
code as written. Regexes get this wrong (a line of three backticks plus ``python`` does
not close a fence; a double-backtick span may hold single backticks), so this module
asks markdown-it, with the syntax GFM renderers share (CommonMark, tables,
strikethrough) plus inline math, and raw HTML blocks where the text will be rendered by
one that allows them (the saved markdown; in a prompt, ``<document>`` lines are XML tags
around prose and code, not blocks that hide a fence):

- block rules that produce inline text (paragraph, headings, table cells) are wrapped to
  record where each line of their ``content`` sits in the source (:class:`Inline.pieces`);
- inline rules that consume source (code spans, math, links, images, autolinks) are
  wrapped to record the span of source they consumed (:class:`Span`).

Only inline tokens holding one of the caller's ``triggers`` characters are parsed
inline, so a scan costs about one block parse plus the paragraphs that matter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

from markdown_it import MarkdownIt
from markdown_it.common.utils import MD_TRIM_CHARS
from markdown_it.rules_block import StateBlock
from markdown_it.rules_core import StateCore
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token

from claude_nb.render.markdown import dollarmath_syntax, math_brackets_plugin

__all__ = ["Inline", "Scan", "Span", "code_ranges", "normalize", "scan"]

SpanKind = Literal["code", "math", "link", "image", "autolink"]


@dataclass(frozen=True)
class Span:
    """Source consumed by one inline rule, in offsets of the inline token's ``content``.

    Links and images also carry ``label_end`` (the offset of the ``]`` closing their
    text), the normalised ``href`` and the ``title``.
    """

    kind: SpanKind
    start: int
    end: int
    label_end: int = -1
    href: str = ""
    title: str = ""


@dataclass
class Inline:
    """One inline token: its content, where that content sits in the source, its spans.

    ``pieces`` are ``(content offset, source offset, length)`` runs; content characters
    outside every piece are spaces markdown-it made up when it expanded a tab. None
    when the mapping could not be established (callers must then treat the token's
    lines as a whole).
    """

    token: Token
    pieces: list[tuple[int, int, int]] | None
    task: bool = False  # the first paragraph of a list item (where "[ ] " is a checkbox)
    spans: list[Span] = field(default_factory=list)
    parsed: bool = False  # inline-parsed (it held a trigger character)

    @property
    def content(self) -> str:
        return self.token.content

    def source(self, offset: int) -> int:
        """The source offset of content offset ``offset`` (which must lie in a piece)."""
        assert self.pieces is not None
        lo, hi = 0, len(self.pieces) - 1
        while lo < hi:  # the last piece starting at or before offset
            mid = (lo + hi + 1) // 2
            if self.pieces[mid][0] <= offset:
                lo = mid
            else:
                hi = mid - 1
        cstart, sstart, length = self.pieces[lo]
        if not cstart <= offset < cstart + length:
            raise ValueError(f"content offset {offset} is not in the source")
        return sstart + offset - cstart


@dataclass
class Scan:
    """A scanned text: its code blocks (line ranges) and its inline tokens."""

    text: str  # the text as scanned (line endings and NUL normalised as markdown-it does)
    fences: list[tuple[int, int]]  # [first line, end line) of fenced code blocks
    inlines: list[Inline]
    definitions: list[tuple[int, int, str]]  # reference definitions: destination span, href
    html_blocks: list[tuple[int, int]]  # [first line, end line) of raw HTML blocks
    loose: list[tuple[int, int]]  # source no token shows (table cells past the header's)


def normalize(text: str) -> str:
    """The text as markdown-it parses it: ``\\r\\n`` and ``\\r`` become ``\\n``, NUL U+FFFD."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.replace("\0", "\ufffd")


def scan(text: str, triggers: str, html_blocks: bool = True) -> Scan:
    """Parse ``text``; inline tokens holding any of ``triggers`` get their spans.

    ``html_blocks``: read raw HTML blocks as a renderer that allows them does.
    """
    text = normalize(text)
    env: dict[str, Any] = {"cnb_scan": _ScanEnv(triggers)}
    # markdown-it-py reads past the end of some HTML blocks on a last line without a
    # newline: parse with one (offsets are unchanged; no span reaches it).
    parser = _SCANNER_HTML if html_blocks else _SCANNER
    tokens = parser.parse(text if text.endswith("\n") else text + "\n", env)
    fences, html = [], []
    for tok in tokens:
        if tok.map is None:
            continue
        if tok.type == "fence":
            fences.append((tok.map[0], tok.map[1]))
        elif tok.type == "html_block":
            html.append((tok.map[0], tok.map[1]))
    scan_env: _ScanEnv = env["cnb_scan"]
    return Scan(
        text,
        fences,
        scan_env.inlines,
        scan_env.definitions,
        html,
        scan_env.loose,
    )


def line_starts(text: str) -> list[int]:
    """Offset of the start of every line (and one past the end)."""
    starts = [0]
    pos = text.find("\n")
    while pos >= 0:
        starts.append(pos + 1)
        pos = text.find("\n", pos + 1)
    starts.append(len(text) + 1)
    return starts


def code_ranges(text: str) -> tuple[str, list[tuple[int, int]]]:
    """The normalised text and the source ranges that are code: fenced blocks (whole
    lines, fences included) and inline code spans (backticks included).

    Indented code is not counted: in a prompt, indentation is usually a list's.
    """
    s = scan(text, "`", html_blocks=False)
    starts = line_starts(s.text)
    ranges = [(starts[a], min(starts[b], len(s.text) + 1) - 1) for a, b in s.fences]
    for inline in s.inlines:
        for span in inline.spans:
            if span.kind != "code":
                continue
            if inline.pieces is None:  # unmapped: its whole lines count as code
                a, b = inline.token.map or (0, 0)
                ranges.append((starts[a], starts[b] - 1))
                continue
            ranges.append((inline.source(span.start), inline.source(span.end - 1) + 1))
    ranges.sort()
    return s.text, ranges


# --- recording -----------------------------------------------------------------------


class _ScanEnv:
    """Per-scan state kept in markdown-it's ``env``."""

    def __init__(self, triggers: str) -> None:
        self.triggers = triggers
        self.inlines: list[Inline] = []
        self.definitions: list[tuple[int, int, str]] = []
        self.loose: list[tuple[int, int]] = []
        self.current: Inline | None = None

    def wants(self, content: str) -> bool:
        return any(c in content for c in self.triggers)


BlockRule = Callable[[StateBlock, int, int, bool], bool]
InlineRule = Callable[[StateInline, bool], bool]


def _paragraph_pieces(state: StateBlock, start: int, end: int) -> list[tuple[int, int, int]]:
    """Pieces of ``mdTrim(state.getLines(start, end, state.blkIndent, False))``."""
    raw: list[tuple[int, int, int]] = []  # pieces of the untrimmed text
    offset = 0
    src, indent = state.src, state.blkIndent
    for line in range(start, end):
        line_indent = 0
        line_start = first = state.bMarks[line]
        last = state.eMarks[line] + 1 if line + 1 < end else state.eMarks[line]
        while first < last and line_indent < indent:
            ch = src[first]
            if ch in " \t":
                if ch == "\t":
                    line_indent += 4 - (line_indent + state.bsCount[line]) % 4
                else:
                    line_indent += 1
            elif first - line_start < state.tShift[line]:
                line_indent += 1
            else:
                break
            first += 1
        if line_indent > indent:
            offset += line_indent - indent  # spaces made up from a tab
        raw.append((offset, first, last - first))
        offset += last - first
    return _trimmed(raw, src)


def _trimmed(raw: list[tuple[int, int, int]], src: str) -> list[tuple[int, int, int]]:
    """Pieces after ``mdTrim`` of the text they make up (leading and trailing blanks)."""
    text = _assemble(raw, src)
    lead = len(text) - len(text.lstrip(MD_TRIM_CHARS))
    keep = len(text.strip(MD_TRIM_CHARS))
    out = []
    for cstart, sstart, length in raw:
        a, b = max(cstart, lead), min(cstart + length, lead + keep)
        if a < b:
            out.append((a - lead, sstart + a - cstart, b - a))
    return out


def _assemble(pieces: list[tuple[int, int, int]], src: str) -> str:
    parts: list[str] = []
    pos = 0
    for cstart, sstart, length in pieces:
        parts.append(" " * (cstart - pos))
        parts.append(src[sstart : sstart + length])
        pos = cstart + length
    return "".join(parts)


def _heading_pieces(state: StateBlock, line: int) -> list[tuple[int, int, int]]:
    """Pieces of an ATX heading's content (markdown-it's ``heading`` rule, replayed)."""
    pos = state.bMarks[line] + state.tShift[line]
    maximum = state.eMarks[line]
    while pos < maximum and state.src[pos] == "#":
        pos += 1
    maximum = state.skipSpacesBack(maximum, pos)
    tmp = state.skipCharsStrBack(maximum, "#", pos)
    if tmp > pos and state.src[tmp - 1] in " \t":
        maximum = tmp
    return _trimmed([(0, pos, maximum - pos)], state.src)


def _row_cells(state: StateBlock, line: int) -> list[list[tuple[int, int, int]]]:
    """Pieces of each cell of a table row (markdown-it's ``escapedSplit``, replayed)."""
    src = state.src
    begin = state.bMarks[line] + state.tShift[line]
    raw = src[begin : state.eMarks[line]]
    begin += len(raw) - len(raw.lstrip(MD_TRIM_CHARS))
    end = begin + len(raw.strip(MD_TRIM_CHARS))
    cells: list[list[tuple[int, int, int]]] = []
    current: list[tuple[int, int, int]] = []
    offset = 0
    last = pos = begin
    escaped = False
    while pos < end:
        ch = src[pos]
        if ch == "|":
            if not escaped:
                current.append((offset, last, pos - last))
                cells.append(current)
                current, offset, last = [], 0, pos + 1
            else:  # "\|": the backslash is dropped from the cell
                current.append((offset, last, pos - 1 - last))
                offset += pos - 1 - last
                last = pos
        escaped = ch == "\\"
        pos += 1
    current.append((offset, last, end - last))
    cells.append(current)
    if cells and not _assemble(cells[0], src):
        cells.pop(0)
    if cells and not _assemble(cells[-1], src):
        cells.pop()
    return [_trimmed([p for p in c if p[2]], src) for c in cells]


def _register(
    scan_env: _ScanEnv, src: str, tokens: list[Token], pieces: list[Any], task: bool
) -> None:
    inlines = [t for t in tokens if t.type == "inline"]
    for tok, p in zip(inlines, pieces, strict=False):
        mapped = p if p is not None and _assemble(p, src) == tok.content else None
        scan_env.inlines.append(Inline(tok, mapped, task))
    for tok in inlines[len(pieces) :]:
        scan_env.inlines.append(Inline(tok, None))


def _wrap_block(name: str, fn: BlockRule) -> BlockRule:
    def rule(state: StateBlock, start: int, end: int, silent: bool) -> bool:
        first = len(state.tokens)
        if not fn(state, start, end, silent):
            return False
        scan_env: _ScanEnv | None = state.env.get("cnb_scan")
        if silent or scan_env is None:
            return True
        new = state.tokens[first:]
        if name == "table":
            _table_extras(state, scan_env, new)
        if not any(t.type == "inline" and scan_env.wants(t.content) for t in new):
            scan_env.inlines.extend(Inline(t, None) for t in new if t.type == "inline")
            return True
        pieces: list[Any]
        if name in ("paragraph", "lheading"):
            para_end = state.line - (1 if name == "lheading" else 0)
            pieces = [_paragraph_pieces(state, start, para_end)]
        elif name == "heading":
            pieces = [_heading_pieces(state, start)]
        else:  # table: one inline per cell, row by row
            pieces = []
            for line, cells in _table_rows(new).items():
                spans = _row_cells(state, line)
                spans += [[]] * (len(cells) - len(spans))
                pieces.extend(spans[: len(cells)])
        task = (
            name == "paragraph" and first > 0 and state.tokens[first - 1].type == "list_item_open"
        )
        _register(scan_env, state.src, new, pieces, task)
        return True

    return rule


def _table_rows(tokens: list[Token]) -> dict[int, list[Token]]:
    """The cells' inline tokens of a table, by source line."""
    rows: dict[int, list[Token]] = {}
    for tok in tokens:
        if tok.type == "inline" and tok.map is not None:
            rows.setdefault(tok.map[0], []).append(tok)
    return rows


def _table_extras(state: StateBlock, scan_env: _ScanEnv, tokens: list[Token]) -> None:
    """Record the source of cells past the header's count: the table drops them, but a
    renderer without tables shows them as text."""
    for line, cells in _table_rows(tokens).items():
        text = state.src[state.bMarks[line] : state.eMarks[line]]
        if not scan_env.wants(text):
            continue
        extra = [p for cell in _row_cells(state, line)[len(cells) :] for p in cell]
        if extra:
            scan_env.loose.append((extra[0][1], extra[-1][1] + extra[-1][2]))


def _definition(state: StateBlock, start: int) -> tuple[int, int, str] | None:
    """Source span and href of the destination of the definition ``reference`` just
    read from ``start`` (its text is rebuilt line by line as that rule builds it)."""
    src = state.src
    first = state.bMarks[start] + state.tShift[start]
    pieces = [(0, first, state.eMarks[start] + 1 - first)]
    for line in range(start + 1, state.line):
        a = state.bMarks[line] + state.tShift[line]
        pieces.append((pieces[-1][0] + pieces[-1][2], a, state.eMarks[line] + 1 - a))
    string = _assemble(pieces, src)
    pos = 1
    while pos < len(string) and string[pos] != "]":
        pos += 2 if string[pos] == "\\" else 1
    pos += 2  # "]:"
    while pos < len(string) and string[pos] in " \t\n":
        pos += 1
    res = state.md.helpers.parseLinkDestination(string, pos, len(string))
    if not res.ok or res.pos <= pos:
        return None
    inline = Inline(Token("inline", "", 0, content=string), pieces)
    return inline.source(pos), inline.source(res.pos - 1) + 1, state.md.normalizeLink(res.str)


def _wrap_reference(fn: BlockRule) -> BlockRule:
    def rule(state: StateBlock, start: int, end: int, silent: bool) -> bool:
        if not fn(state, start, end, silent):
            return False
        scan_env: _ScanEnv | None = state.env.get("cnb_scan")
        if not silent and scan_env is not None:
            found = _definition(state, start)
            if found is not None:
                scan_env.definitions.append(found)
        return True

    return rule


def _new_tokens(state: StateInline, first: int, kind: str) -> Iterator[Token]:
    return (t for t in state.tokens[first:] if t.type == kind)


def _wrap_inline(kind: SpanKind, fn: InlineRule) -> InlineRule:
    def rule(state: StateInline, silent: bool) -> bool:
        scan_env: _ScanEnv | None = state.env.get("cnb_scan")
        current = scan_env.current if scan_env is not None else None
        if silent or current is None or state.src is not current.token.content:
            return fn(state, silent)
        start, first = state.pos, len(state.tokens)
        label_end = -1
        if kind == "link" and state.src[start] == "[":
            label_end = state.md.helpers.parseLinkLabel(state, start, True)
        elif kind == "image" and state.src.startswith("![", start):
            label_end = state.md.helpers.parseLinkLabel(state, start + 1, False)
        if not fn(state, silent):
            return False
        end = state.pos
        if kind == "code":
            if next(_new_tokens(state, first, "code_inline"), None) is not None:
                current.spans.append(Span("code", start, end))
        elif kind == "math":
            current.spans.append(Span("math", start, end))
        elif kind == "image":
            tok = next(_new_tokens(state, first, "image"), None)
            if tok is not None:
                src, title = tok.attrGet("src"), tok.attrGet("title")
                current.spans.append(
                    Span("image", start, end, label_end, str(src or ""), str(title or ""))
                )
        else:
            tok = next(_new_tokens(state, first, "link_open"), None)
            if tok is not None:
                href, title = str(tok.attrGet("href") or ""), str(tok.attrGet("title") or "")
                if tok.markup == "autolink":
                    current.spans.append(Span("autolink", start, end, -1, href))
                else:
                    current.spans.append(Span("link", start, end, label_end, href, title))
        return True

    return rule


def _inline_core(state: StateCore) -> None:
    """markdown-it's ``inline`` core rule, for the tokens that hold a trigger only."""
    scan_env: _ScanEnv = state.env["cnb_scan"]
    for inline in scan_env.inlines:
        if not scan_env.wants(inline.content):
            continue
        scan_env.current = inline
        inline.parsed = True
        inline.token.children = []
        state.md.inline.parse(inline.content, state.md, state.env, inline.token.children)
    scan_env.current = None


def _replace(ruler: Any, name: str, wrap: Callable[[Any], Any]) -> None:
    for rule in ruler.__rules__:
        if rule.name == name:
            ruler.at(name, wrap(rule.fn), {"alt": list(rule.alt)})
            return
    raise KeyError(name)


def _scanner(html_blocks: bool) -> MarkdownIt:
    # Inline HTML is never read: nothing in it is kept live, so it is prose.
    md = MarkdownIt("commonmark", {"html": html_blocks})
    md.enable(["table", "strikethrough"])
    md.disable("html_inline")
    if not html_blocks:
        md.disable("html_block")
    md.validateLink = lambda url: True  # type: ignore[method-assign]  # see every link
    dollarmath_syntax(md)
    md.block.ruler.disable("math_block")  # GFM renderers have no math blocks
    math_brackets_plugin(md, blocks=False)
    for name in ("paragraph", "heading", "lheading", "table"):
        _replace(md.block.ruler, name, partial(_wrap_block, name))
    _replace(md.block.ruler, "reference", _wrap_reference)
    inline_kinds: dict[str, SpanKind] = {
        "backticks": "code",
        "math_inline": "math",
        "math_brackets": "math",
        "link": "link",
        "image": "image",
        "autolink": "autolink",
    }
    for name, kind in inline_kinds.items():
        _replace(md.inline.ruler, name, partial(_wrap_inline, kind))
    md.core.ruler.at("inline", _inline_core)
    return md


_SCANNER = _scanner(html_blocks=False)
_SCANNER_HTML = _scanner(html_blocks=True)
