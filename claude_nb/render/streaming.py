"""Incremental markdown rendering for a streaming answer: O(n) over the whole response.

Re-rendering the whole answer on every paint is quadratic (about 2,200 s of CPU for a
200 KB answer at 20 paints/s). Instead :class:`StreamingMarkdown` keeps the source of
the blocks that can no longer change out of every parse:

- Each paint parses only the *unfrozen* source (usually the last block or two) with
  markdown-it. A top-level block is *final* once the next top-level block exists and
  its first line is complete, with two lookahead exceptions (a table's delimiter row,
  and a ``$$``/``\\[`` opener whose closing is still being looked for). Final blocks
  are rendered once, handed out as ``Frame.frozen``, and never parsed again.
- Splitting never changes the HTML: a block's tokens depend only on its own lines and
  on the reference definitions, which are carried in ``env``. The one exception is a
  reference definition that arrives *after* a block that uses it; ``finish()`` detects
  that and asks the view to replace everything (``Frame.replace``).
- The still-open blocks are rendered as ``Frame.tail`` after a *display-only* repair
  (:mod:`claude_nb.render.repair`; the source and the frozen cache are never touched).
  An answer that was cut off ends with the same repair (``finish(cut=True)``).
- A long open code fence, table or list would still be re-parsed on every paint, so
  while each new line provably continues it (a fast path), only the new end is parsed
  and the finished rows/items/lines are reused. Fast paths never freeze anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token

from claude_nb.render.markdown import code_block_html, create_markdown, fence_lang
from claude_nb.render.repair import HoldLastLine, Tail, tail_repair_plugin

__all__ = ["LIVE_MD", "Frame", "StreamingMarkdown"]

LIVE_MD = create_markdown().use(tail_repair_plugin)
"""The shared parser for streaming: :data:`~claude_nb.render.markdown.MD` plus the tail
repair, which acts only on parses that ask for it (everything else renders the same)."""


@dataclass(frozen=True)
class Frame:
    """What one paint adds to the view.

    ``frozen`` is HTML to append for good (each block appears in exactly one frame);
    ``tail`` replaces the previous tail. When ``replace`` is true (only ever from
    ``finish()``), ``frozen`` is the whole document and replaces everything shown.
    """

    frozen: str
    tail: str
    replace: bool = False


# A line that may open a ``$$``/``\\[`` block whose closing markdown-it looks ahead for.
_MATH_OPENER = re.compile(r"[ \t>]*(?:(?:[-+*]|\d{1,9}[.)])[ \t]+)*(?:\$\$|\\\[)")
_BLANK = re.compile(r"[ \t]*\Z")


# --- the streaming renderer ---------------------------------------------------------------


@dataclass
class _Block:
    """A top-level block: its token range and the source lines it covers."""

    start: int  # index of the first token
    end: int  # index one past the last token
    map: list[int] = field(default_factory=list)
    type: str = ""


def _top_blocks(tokens: list[Token]) -> list[_Block]:
    blocks: list[_Block] = []
    start = None
    for i, tok in enumerate(tokens):
        if tok.level != 0:
            continue
        if tok.nesting == 1:
            start = i
        elif tok.nesting == 0:
            blocks.append(_Block(i, i + 1, tok.map or [0, 0], tok.type))
        elif start is not None:
            first = tokens[start]
            blocks.append(_Block(start, i + 1, first.map or [0, 0], first.type))
            start = None
    return blocks


def _line_offset(text: str, line: int) -> int:
    pos = 0
    for _ in range(line):
        pos = text.index("\n", pos) + 1
    return pos


def _pairs(
    tokens: list[Token], open_type: str, close_type: str, start: int, level: int | None = None
) -> Iterator[tuple[int, int]]:
    """Index pairs of matching open/close tokens (not nested within each other)."""
    i = -1
    for k in range(start, len(tokens)):
        tok = tokens[k]
        if level is not None and tok.level != level:
            continue
        if tok.type == open_type:
            i = k
        elif tok.type == close_type and i >= 0:
            yield i, k
            i = -1


def _ref_values(refs: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {label: (ref.get("href"), ref.get("title")) for label, ref in refs.items()}


# --- fast paths: an open last block that grows without a full re-parse --------------------

_TABLE_ROW = re.compile(r" {0,3}\|")
_HR = re.compile(r" {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*\Z")
_LIST_MARKER = re.compile(r"( *)([-*+]|\d{1,9}[.)])([ \t]*)")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _content_indent(line: str) -> int:
    """Columns a list item's continuation lines need (99 when tabs make it unclear)."""
    m = _LIST_MARKER.match(line)
    if m is None or "\t" in m.group(0):
        return 99
    spaces = len(m.group(3))
    width = len(m.group(1)) + len(m.group(2))
    return width + (1 if spaces > 4 or spaces == 0 else spaces)


class _FastPath:
    """An open last block whose new lines can be vetted without re-parsing the block.

    While every new complete line provably continues the block, no block can become
    final, so the exact parse of the whole tail is skipped and only the changed end is
    rendered: O(new text) per paint instead of O(block). A line that is not provably a
    continuation ends the fast path (``advance`` returns None) and the paint falls back
    to the exact parse. Fast paths never freeze anything, so they cannot change the
    final HTML; they only decide what the tail looks like meanwhile.
    """

    scan_from: int  # offset (in the unfrozen source) of the first line not yet vetted

    def advance(self, sm: StreamingMarkdown) -> str | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _new_lines(self, src: str) -> tuple[list[str], int]:
        end = src.rfind("\n") + 1
        if end <= self.scan_from:
            return [], end
        return src[self.scan_from : end - 1].split("\n"), end


class _OpenFence(_FastPath):
    """A top-level code fence: open until a closing fence line arrives."""

    def __init__(self, lang: str, marker: str, body_start: int, scan_from: int) -> None:
        self.lang, self.marker = lang, marker
        self.body_start, self.scan_from = body_start, scan_from
        self.closing = re.compile(
            r"(?m)^ {0,3}" + re.escape(marker[0]) + "{" + str(len(marker)) + r",}[ \t]*$"
        )

    def advance(self, sm: StreamingMarkdown) -> str | None:
        src = sm._src
        end = src.rfind("\n") + 1
        if end > self.scan_from:
            if self.closing.search(src, self.scan_from, end):
                return None
            self.scan_from = end
        code = src[self.body_start :]
        partial = code[end - self.body_start :] if end > self.body_start else code
        mark = partial.strip()
        if mark and mark == self.marker[0] * len(mark):  # a closing fence being typed
            code = code[: len(code) - len(partial)]
        code = code.replace("\0", "\ufffd")
        return code_block_html(self.lang, sm._repair.live_code(self.lang, code))


class _OpenTable(_FastPath):
    """A top-level table: each new line starting with ``|`` is one more body row."""

    def __init__(
        self, head_html: str, rows: list[str], prefix: str, scan_from: int, refs: dict[str, Any]
    ) -> None:
        self.head_html, self.rows, self.prefix = head_html, rows, prefix
        self.scan_from, self.refs = scan_from, refs

    def advance(self, sm: StreamingMarkdown) -> str | None:
        lines, end = self._new_lines(sm._src)
        for line in lines:
            if not _TABLE_ROW.match(line):
                return None
            self.rows.append(sm._table_rows_html(self.prefix + line, self.refs))
        self.scan_from = max(self.scan_from, end)
        partial = sm._src[end:]
        if partial.strip() and not _TABLE_ROW.match(partial):
            return None  # partial rows are held back, anything else needs a parse
        body = "<tbody>\n" + "".join(self.rows) + "</tbody>\n" if self.rows else ""
        return self.head_html + body + "</table>\n"


class _OpenList(_FastPath):
    """A top-level list: finished items are cached, only the last item is re-parsed.

    New lines continue the list when they start an item with the same marker at the
    same column, are blank, or are indented to the current item's content.
    """

    def __init__(
        self,
        list_type: str,
        open_tag: str,
        close_tag: str,
        head: list[str],
        window_start: int,
        scan_from: int,
        item_line: str,
        refs: dict[str, Any],
    ) -> None:
        self.list_type, self.open_tag, self.close_tag = list_type, open_tag, close_tag
        self.refs = refs  # definitions of the whole tail: items may use each other's
        self.head, self.window_start, self.scan_from = head, window_start, scan_from
        m = _LIST_MARKER.match(item_line)
        assert m is not None
        marker = m.group(2)
        marker_re = r"\d{1,9}" + re.escape(marker[-1]) if marker[0].isdigit() else re.escape(marker)
        self.item = re.compile(" " * len(m.group(1)) + marker_re + r"[ \t]+\S")
        self.indent = _content_indent(item_line)

    def advance(self, sm: StreamingMarkdown) -> str | None:
        src = sm._src
        lines, end = self._new_lines(src)
        pos, new_start = self.scan_from, -1
        for line in lines:
            if line.strip():
                if self.item.match(line) and not _HR.match(line):
                    new_start, self.indent = pos, _content_indent(line)
                elif _indent(line) < self.indent:
                    return None
            pos += len(line) + 1
        self.scan_from = max(self.scan_from, end)
        if new_start > self.window_start:
            items = sm._list_inner(
                src[self.window_start : new_start], self.list_type, self.refs, False
            )
            if items is None:
                return None
            self.head.append(items[0])
            self.window_start = new_start
        window = sm._list_inner(src[self.window_start :], self.list_type, self.refs, True)
        if window is None:
            return None
        inner, rest = window
        return self.open_tag + "".join(self.head) + inner + self.close_tag + rest


class StreamingMarkdown:
    """Render markdown while it streams: each finished block once, the open tail per paint.

    ``append()`` is O(len(delta)); ``render()`` costs about one parse of the open tail
    (or of the end of a long open list, table or code block); ``finish()`` renders what
    is left. The concatenation of every ``Frame.frozen`` equals ``render_markdown(text)``
    byte for byte, unless ``finish()`` returns ``replace=True`` with the whole document
    (or the answer was cut off: ``finish(cut=True)``).

    ``md`` (default :data:`LIVE_MD`) gets the tail repair plugin if it lacks it.
    """

    def __init__(self, md: MarkdownIt | None = None) -> None:
        if md is None:
            md = LIVE_MD
        elif not any(r.name == "cnb_tail_repair" for r in md.core.ruler.__rules__):
            md.use(tail_repair_plugin)
        self._md = md
        self._pending: list[str] = []
        self._cr = False
        self._frozen_src: list[str] = []
        self._frozen_html: list[str] = []
        self._src = ""  # the unfrozen source
        self._refs: dict[str, Any] = {}
        self._ref_snapshots: list[dict[str, tuple[Any, Any]]] = []
        self._tail = ""
        self._fast: _FastPath | None = None
        self._repair = Tail()
        self._finished = False

    @property
    def text(self) -> str:
        """The full source so far (line endings normalised to ``\\n``)."""
        return "".join(self._frozen_src) + self._src + "".join(self._pending)

    @property
    def finished(self) -> bool:
        return self._finished

    def append(self, delta: str) -> None:
        """Add a text delta; no parsing happens here."""
        if self._finished:
            raise RuntimeError("append() after finish()")
        if self._cr:
            delta = "\r" + delta
            self._cr = False
        if "\r" in delta:
            if delta.endswith("\r"):  # may be the first half of "\r\n"
                self._cr = True
                delta = delta[:-1]
            delta = delta.replace("\r\n", "\n").replace("\r", "\n")
        if delta:
            self._pending.append(delta)

    def render(self) -> Frame:
        """Freeze the blocks that became final and return them with the repaired tail."""
        if self._finished or not self._pending:
            return Frame("", self._tail)
        self._src += "".join(self._pending)
        self._pending.clear()
        if self._fast is not None:
            tail = self._fast.advance(self)
            if tail is not None:
                self._tail = tail
                return Frame("", tail)
            self._fast = None
        return Frame(self._parse_and_freeze(), self._tail)

    def finish(self, cut: bool = False) -> Frame:
        """The stream ended: everything left is frozen, exactly as a one-shot render.

        ``cut``: the answer was cut off (max_tokens, an interrupt, an error), so its
        last block ends with the live view's repair (closed, nothing held back) instead
        of showing its half-typed syntax.
        """
        if self._finished:
            return Frame("", "")
        self._finished = True
        if self._cr:
            self._pending.append("\n")
            self._cr = False
        self._src += "".join(self._pending)
        self._pending.clear()
        html, refs = self._final_render(self._src, dict(self._refs), cut)
        self._frozen_src.append(self._src)
        self._frozen_html.append(html)
        self._src = self._tail = ""
        self._fast = None
        self._repair = Tail()
        final_refs = _ref_values(refs)
        if any(snap != final_refs for snap in self._ref_snapshots):
            # A block was rendered before a reference it uses was (fully) defined.
            full, _ = self._final_render(self.text, {}, cut)
            if full != "".join(self._frozen_html):
                self._frozen_html = [full]
                return Frame(full, "", replace=True)
        return Frame(html, "")

    # --- parsing and freezing ---

    def _final_render(
        self, src: str, refs: dict[str, Any], cut: bool
    ) -> tuple[str, dict[str, Any]]:
        """The last render of ``src``; with ``cut``, repaired as a final frame."""
        env: dict[str, Any] = {"references": refs}
        if cut:
            env["cnb_tail"] = Tail(hold=False, final=True)
        tokens = self._md.parse(src, env)
        return self._md.renderer.render(tokens, self._md.options, env), env["references"]

    def _env(self, display: bool = True, refs: dict[str, Any] | None = None) -> dict[str, Any]:
        env: dict[str, Any] = {"references": dict(self._refs if refs is None else refs)}
        if display:
            env["cnb_tail"] = self._repair
        return env

    def _display_parse(
        self, src: str, refs: dict[str, Any] | None = None
    ) -> tuple[list[Token], dict[str, Any], str]:
        """Parse with the display repair; returns tokens, env and the text parsed."""
        env = self._env(refs=refs)
        try:
            return self._md.parse(src, env), env, src
        except HoldLastLine:
            parsed = src[: src.rfind("\n") + 1]
            env = self._env(refs=refs)
            self._repair.hold = False
            try:
                return self._md.parse(parsed, env), env, parsed
            finally:
                self._repair.hold = True

    def _parse_and_freeze(self) -> str:
        src = self._src
        tokens, env, parsed = self._display_parse(src)
        blocks = _top_blocks(tokens)
        n_freeze = self._count_final(tokens, blocks, parsed)
        frozen = ""
        render = self._md.renderer.render
        line_shift = offset_shift = 0
        if n_freeze:
            last = blocks[n_freeze - 1]
            frozen = render(tokens[: last.end], self._md.options, env)
            line_shift = last.map[1]
            self._commit_refs(env.get("references", {}), line_shift)
            offset_shift = _line_offset(src, line_shift)
            self._frozen_src.append(src[:offset_shift])
            self._frozen_html.append(frozen)
            self._src = src[offset_shift:]
            tokens = tokens[blocks[n_freeze].start :]
            blocks = blocks[n_freeze:]
        self._tail = render(tokens, self._md.options, env)
        if len(blocks) == 1:
            self._fast = self._fast_path(tokens, env, parsed[offset_shift:], line_shift)
        return frozen

    def _count_final(self, tokens: list[Token], blocks: list[_Block], src: str) -> int:
        """How many leading top-level blocks can no longer change, whatever follows."""
        n_complete = src.count("\n")
        lines: list[str] | None = None
        maybe_math = "$$" in src or "\\[" in src
        final = 0
        for i in range(len(blocks) - 1):
            a, b = blocks[i], blocks[i + 1]
            b0 = b.map[0]
            if b0 >= n_complete:
                break
            # "text\n| a | b |\n|---|--" may still turn back into one paragraph.
            if a.map[1] == b0 and b.type == "table_open" and b0 + 1 >= n_complete:
                break
            if maybe_math:
                if lines is None:
                    lines = src.split("\n")
                if self._math_lookahead_open(tokens, a, lines, b0, n_complete):
                    break
            final = i + 1
        return final

    @staticmethod
    def _math_lookahead_open(
        tokens: list[Token], a: _Block, lines: list[str], b0: int, n_complete: int
    ) -> bool:
        """True if a ``$$``/``\\[`` opener in block ``a`` may still find its closing later.

        markdown-it looks for the closing line until a blank line, across what looks
        like following blocks, so ``a`` is final only once a blank line bounds it.
        """
        closed = [
            t.map for t in tokens[a.start : a.end] if t.type == "math_block" and t.map is not None
        ]
        for line in range(b0 - 1, a.map[0] - 1, -1):
            text = lines[line]
            if _BLANK.match(text):
                return False
            if any(m[0] <= line < m[1] for m in closed):
                continue
            if _MATH_OPENER.match(text):
                return not any(_BLANK.match(lines[x]) for x in range(b0, n_complete))
        return False

    def _commit_refs(self, refs: dict[str, Any], cut_line: int) -> None:
        for label, ref in refs.items():
            if label not in self._refs and ref.get("map", [0])[0] < cut_line:
                self._refs[label] = ref
        snap = _ref_values(refs)
        if not self._ref_snapshots or self._ref_snapshots[-1] != snap:
            self._ref_snapshots.append(snap)

    # --- fast path set-up and helpers ---

    def _fast_path(
        self, tokens: list[Token], env: dict[str, Any], parsed: str, line_shift: int
    ) -> _FastPath | None:
        """A fast path for the single open block left in the tail, if it has one."""
        first = tokens[0]
        if first.map is None:
            return None
        src = self._src
        start_line = first.map[0] - line_shift
        start = _line_offset(src, start_line)
        scan_from = parsed.rfind("\n") + 1  # end of the complete lines parsed
        line_end = src.find("\n", start)
        if line_end < 0 or line_end >= scan_from:
            return None  # its first line is still being typed
        render = self._md.renderer.render
        options = self._md.options
        refs = dict(env.get("references", {}))
        if first.type == "fence":
            if not src.startswith(first.markup, start):
                return None  # an indented fence strips indentation from its lines
            fence = _OpenFence(fence_lang(first.info), first.markup, line_end + 1, line_end + 1)
            return fence if fence.advance(self) is not None else None
        if first.type == "table_open":
            last_line = src[src.rfind("\n", 0, scan_from - 1) + 1 : scan_from - 1]
            if not _TABLE_ROW.match(last_line):
                return None  # after a blank line the next line starts a new block
            thead_end = next(i for i, t in enumerate(tokens) if t.type == "thead_close") + 1
            rows = [
                render(tokens[i : j + 1], options, env)
                for i, j in _pairs(tokens, "tr_open", "tr_close", thead_end)
            ]
            delim_end = src.index("\n", line_end + 1) + 1
            head_html = render(tokens[:thead_end], options, env)
            return _OpenTable(head_html, rows, src[start:delim_end], scan_from, refs)
        if first.type in ("bullet_list_open", "ordered_list_open"):
            items = list(_pairs(tokens, "list_item_open", "list_item_close", 1, level=1))
            last_open = tokens[items[-1][0]]
            if last_open.map is None:
                return None
            window = _line_offset(src, last_open.map[0] - line_shift)
            head = [render(tokens[i : j + 1], options, env) for i, j in items[:-1]]
            item_end = src.find("\n", window)
            item_line = src[window:] if item_end < 0 else src[window:item_end]
            renderer = cast(RendererHTML, self._md.renderer)
            open_tag = renderer.renderToken(tokens, 0, options, env)
            close_tag = renderer.renderToken(tokens, len(tokens) - 1, options, env)
            return _OpenList(
                first.type, open_tag, close_tag, head, window, scan_from, item_line, refs
            )
        return None

    def _table_rows_html(self, text: str, refs: dict[str, Any]) -> str:
        """Body rows of ``header + delimiter + rows`` parsed on their own."""
        env = self._env(display=False, refs=refs)
        tokens = self._md.parse(text, env)
        rows = [
            self._md.renderer.render(tokens[i : j + 1], self._md.options, env)
            for i, j in _pairs(tokens, "tr_open", "tr_close", 0)
        ]
        return "".join(rows[1:])

    def _list_inner(
        self, text: str, list_type: str, refs: dict[str, Any], display: bool
    ) -> tuple[str, str] | None:
        """Items of the list that ``text`` starts with (no outer tags), and what follows.

        ``refs`` are updated with the definitions found (they may sit inside items).
        """
        if display:
            tokens, env, _ = self._display_parse(text, refs)
        else:
            env = self._env(display=False, refs=refs)
            tokens = self._md.parse(text, env)
            refs.update(env.get("references", {}))
        blocks = _top_blocks(tokens)
        if not blocks:
            return "", ""
        first = blocks[0]
        if first.type != list_type or first.map[0] != 0:
            return None
        render = self._md.renderer.render
        inner = render(tokens[first.start + 1 : first.end - 1], self._md.options, env)
        return inner, render(tokens[first.end :], self._md.options, env)
