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
  (the source and the frozen cache are never touched): a last line whose meaning
  depends on the next one is held back, inline syntax is closed optimistically, half
  links show only their text, and an open code fence is highlighted line by line.
  The aim is that nothing the reader sees later vanishes (see :mod:`claude_nb.render.visible`).
- A long open code fence, table or list would still be re-parsed on every paint, so
  while each new line provably continues it (a fast path), only the new end is parsed
  and the finished rows/items/lines are reused. Fast paths never freeze anything.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.token import Token

from claude_nb.render.highlight import LiveHighlighter
from claude_nb.render.markdown import MD, code_block_html, fence_lang, render_markdown

__all__ = ["Frame", "StreamingMarkdown", "repair_inline"]


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


# --- display repair of the last line ------------------------------------------------------

# A partial last line whose meaning depends on what comes next: list/quote/heading
# markers alone, setext or hr underlines, a fence or display-math opener being typed, a
# table row or delimiter row in progress.
_HOLD_PARTIAL = re.compile(
    r"[ \t>]*(?:(?:[-+*]|\d{1,9}[.)])[ \t]+)*"
    r"(?:[-+*=_#~`\s]*|\d{1,9}[.)]?|`{3,}[^`]*|~{3,}.*|\$\$?|\\\[?|\|.*|[|:\- \t]+)\Z"
)
# A short partial line with a pipe may be a table header without leading pipe.
_MAX_HELD_ROW = 300
# A partial line that may turn out to be a reference definition (which renders as nothing).
_HOLD_REF_DEF = re.compile(r" {0,3}\[(?:[^\]]*|[^\]]*\]:.*)\Z")
# A line that may open a ``$$``/``\[`` block whose closing markdown-it looks ahead for.
_MATH_OPENER = re.compile(r"[ \t>]*(?:(?:[-+*]|\d{1,9}[.)])[ \t]+)*(?:\$\$|\\\[)")
_BLANK = re.compile(r"[ \t]*\Z")

# Inline repair: characters that start something whose meaning depends on what follows.
_SPECIAL = re.compile(r"[\\`*_~\[<$!]|(?:https?|ftp)://|mailto:", re.IGNORECASE)
_URL_BODY = re.compile(r"\S*")
_AUTOLINK_DONE = re.compile(r"<[A-Za-z][A-Za-z0-9+.\-]{1,31}:[^<>\x00-\x20]*>|<[^\s<>@]+@[^\s<>]+>")
_AUTOLINK_PARTIAL = re.compile(r"<[^\s<>]*\Z")
_CURRENCY_AMOUNT = re.compile(r"\d[\d.,]*")
_CURRENCY_NEXT = frozenset(" \t\n.,;:!?)%/-")
_MAX_HELD_MATH = 400  # an unclosed "$" further back than this is text, not math being typed


def _is_ws(ch: str) -> bool:
    return not ch or ch.isspace()


def _is_punct(ch: str) -> bool:
    return bool(ch) and unicodedata.category(ch)[0] in "PS"


def _has_content(text: str) -> bool:
    return bool(text.strip(" \t\n*_~"))


def _escaped(s: str, pos: int) -> bool:
    n = 0
    while pos > 0 and s[pos - 1] == "\\":
        n += 1
        pos -= 1
    return n % 2 == 1


def _math_close(s: str, j: int) -> int | None:
    """End index of the ``$``/``$$`` math opening at ``j`` (dollarmath's pandoc-like rules).

    Returns -1 when no closing ``$`` exists yet, None when this ``$`` is not math.
    """
    n = len(s)
    nxt = s[j + 1 : j + 2]
    if _is_ws(nxt) or (j > 0 and s[j - 1].isdigit()):
        return None
    double = nxt == "$"
    start = j + (2 if double else 1)
    e = start
    while True:
        e = s.find("$", e)
        if e < 0:
            return -1
        if _escaped(s, e):
            e += 1
            continue
        if double:
            if e + 1 >= n:
                return -1
            if s[e + 1] != "$":
                e += 1
                continue
            e += 1
        break
    body = s[start : e - 1] if double else s[start:e]
    if not body or s[e - 1].isspace() or s[e + 1 : e + 2].isdigit():
        return None
    return e


def _close_of(s: str, j: int, open_: str, close: str, blank_line_ends: bool = False) -> int:
    """Index of the ``close`` matching the ``open_`` at ``j`` (escapes skipped), or -1.

    ``[...]`` for a link's text; ``(...)`` for its destination, which a blank line ends.
    """
    depth = 0
    k = j
    n = len(s)
    while k < n:
        ch = s[k]
        if ch == "\\":
            k += 2
            continue
        if ch == open_:
            depth += 1
        elif ch == close:
            depth -= 1
            if depth == 0:
                return k
        elif blank_line_ends and ch == "\n" and s[k + 1 : k + 2] == "\n":
            return -1
        k += 1
    return -1


def repair_inline(s: str) -> str:
    """The display copy of a still-growing inline run: nothing shown should vanish later.

    Unclosed emphasis, strikethrough and code spans are closed optimistically (an opener
    with nothing after it yet is dropped); a half link shows only its text and a half
    image nothing; an unclosed ``$``/``\\(`` math, a partial autolink, a ``[text]`` that
    may still become a link, and a trailing delimiter run are held back until the
    following characters decide what they are. Prices ("$5 and $10") are left alone.
    """
    s = s.rstrip("*_~")
    if s.endswith("!") or (s.endswith("\\") and (len(s) - len(s.rstrip("\\"))) % 2):
        s = s[:-1]  # "!" may open an image, a lone "\\" escapes what comes next
    n = len(s)
    cut = n
    code_suffix = ""
    delims: list[tuple[int, str, int, bool, bool]] = []
    i = 0
    while True:
        m = _SPECIAL.search(s, i)
        if m is None:
            break
        j = m.start()
        c = s[j]
        if m.end() - j > 1:  # a bare URL: its "_" and "*" are not emphasis
            url = _URL_BODY.match(s, j).group()  # type: ignore[union-attr]
            i = j + len(url.rstrip(".,;:!?*_~)'\""))
            continue
        if c == "\\":
            nxt = s[j + 1 : j + 2]
            if nxt in ("(", "["):
                e = s.find("\\)" if nxt == "(" else "\\]", j + 2)
                if e < 0 and n - j <= _MAX_HELD_MATH:
                    cut = j
                    break
                i = j + 2 if e < 0 else e + 2
                continue
            i = j + 2
            continue
        if c == "`":
            k = j
            while k < n and s[k] == "`":
                k += 1
            run = k - j
            e = k
            found = False
            while True:
                e = s.find("`" * run, e)
                if e < 0:
                    break
                ee = e + run
                while ee < n and s[ee] == "`":
                    ee += 1
                if ee - e == run:
                    found = True
                    break
                e = ee
            if found:
                i = e + run
                continue
            if s[k:].strip():
                code_suffix = (" " if s.endswith("`") else "") + "`" * run
            else:
                cut = j
            break
        if c == "$":
            if j + 1 == n or s[j + 1 :] == "$":  # "$" or "$$" just typed: math or a price?
                cut = j
                break
            e = _math_close(s, j)
            if e is None:
                i = j + 1
                continue
            if e + 1 == n:  # closed by the last character: a digit next would undo it
                cut = j
                break
            if e >= 0:
                i = e + 1
                continue
            if s[j + 1 : j + 2].isdigit():
                amount = _CURRENCY_AMOUNT.match(s, j + 1).end()  # type: ignore[union-attr]
                if amount < n and s[amount] in _CURRENCY_NEXT:
                    i = j + 1  # "$5 and $10": a price, not math
                    continue
            if n - j <= _MAX_HELD_MATH:
                cut = j
                break
            i = j + 1
            continue
        if c in "[!":
            if c == "!":
                if s[j + 1 : j + 2] != "[":
                    i = j + 1
                    continue
                b = j + 1
            else:
                b = j
            e = _close_of(s, b, "[", "]")
            after = s[e + 1 : e + 2] if e >= 0 else ""
            if e < 0 or not after:
                cut = j
                break
            if after == "(":
                p = _close_of(s, e + 1, "(", ")", blank_line_ends=True)
                if p >= 0:
                    i = p + 1
                    continue
                if c == "!":
                    cut = j
                    break
                s = s[:j] + s[b + 1 : e]  # a half link: keep its text, drop the URL
                n = cut = len(s)
                i = j
                continue
            if after == "[":
                r = s.find("]", e + 2)
                if r < 0:
                    cut = j
                    break
                i = r + 1
                continue
            i = b + 1
            continue
        if c == "<":
            done = _AUTOLINK_DONE.match(s, j)
            if done:
                i = done.end()
                continue
            if _AUTOLINK_PARTIAL.match(s, j):
                cut = j
                break
            i = j + 1
            continue
        # emphasis / strikethrough delimiter run
        k = j
        while k < n and s[k] == c:
            k += 1
        prev = s[j - 1] if j else ""
        nxt = s[k] if k < n else ""
        left = not _is_ws(nxt) and (not _is_punct(nxt) or _is_ws(prev) or _is_punct(prev))
        right = not _is_ws(prev) and (not _is_punct(prev) or _is_ws(nxt) or _is_punct(nxt))
        if c == "_":
            can_open = left and (not right or _is_punct(prev))
            can_close = right and (not left or _is_punct(nxt))
        else:
            can_open, can_close = left, right
        if c != "~" or k - j == 2:
            delims.append((j, c, k - j, can_open, can_close))
        i = k

    # Match delimiter runs (CommonMark's algorithm, enough of it for display).
    stack: list[list[Any]] = []  # [pos, char, remaining, can_close, length]
    for pos, ch, length, can_open, can_close in delims:
        if pos >= cut:
            break
        rem = length
        while can_close and rem:
            for si in range(len(stack) - 1, -1, -1):
                o = stack[si]
                if o[1] != ch:
                    continue
                if (
                    ch != "~"
                    and (o[3] or can_open)
                    and (o[4] + length) % 3 == 0
                    and (o[4] % 3 or length % 3)
                ):
                    continue
                break
            else:
                break
            use = 2 if ch == "~" or (o[2] >= 2 and rem >= 2) else 1
            o[2] -= use
            rem -= use
            del stack[si + 1 :]
            if not o[2]:
                stack.pop()
        if rem and can_open:
            stack.append([pos, ch, rem, can_close, length])

    closers = []
    for pos, ch, rem, both, length in stack:
        if both:  # intraword "a*b": leave it literal
            continue
        if not _has_content(s[pos + length : cut]):
            cut = pos
            break
        closers.append(ch * rem)
    out = s[:cut]
    if code_suffix and cut == n:
        out += code_suffix
    if closers:
        out = out.rstrip() + "".join(reversed(closers))
    return out


# --- the streaming renderer ---------------------------------------------------------------


class _HoldLastLine(Exception):
    """Raised by the display hook: re-parse without the partial last line."""


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
        return code_block_html(self.lang, sm._live_code(self.lang, code))


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
    byte for byte, unless ``finish()`` returns ``replace=True`` with the whole document.
    """

    def __init__(self, md: MarkdownIt | None = None) -> None:
        self._md = md or MD
        self._pending: list[str] = []
        self._cr = False
        self._frozen_src: list[str] = []
        self._frozen_html: list[str] = []
        self._src = ""  # the unfrozen source
        self._refs: dict[str, Any] = {}
        self._ref_snapshots: list[dict[str, tuple[Any, Any]]] = []
        self._tail = ""
        self._fast: _FastPath | None = None
        self._live: LiveHighlighter | None = None
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

    def finish(self) -> Frame:
        """The stream ended: everything left is frozen, exactly as a one-shot render."""
        if self._finished:
            return Frame("", "")
        self._finished = True
        if self._cr:
            self._pending.append("\n")
            self._cr = False
        self._src += "".join(self._pending)
        self._pending.clear()
        env: dict[str, Any] = {"references": dict(self._refs)}
        tokens = self._md.parse(self._src, env)
        html = self._md.renderer.render(tokens, self._md.options, env)
        self._frozen_src.append(self._src)
        self._frozen_html.append(html)
        self._src = self._tail = ""
        self._fast = self._live = None
        final_refs = _ref_values(env.get("references", {}))
        if any(snap != final_refs for snap in self._ref_snapshots):
            # A block was rendered before a reference it uses was (fully) defined.
            full = render_markdown(self.text)
            if full != "".join(self._frozen_html):
                self._frozen_html = [full]
                return Frame(full, "", replace=True)
        return Frame(html, "")

    # --- parsing and freezing ---

    def _env(self, display: bool = True, refs: dict[str, Any] | None = None) -> dict[str, Any]:
        env: dict[str, Any] = {"references": dict(self._refs if refs is None else refs)}
        if display:
            env["cnb_after_block"] = self._repair_hook
            env["cnb_live_code"] = self._live_code
        return env

    def _display_parse(
        self, src: str, refs: dict[str, Any] | None = None
    ) -> tuple[list[Token], dict[str, Any], str]:
        """Parse with the display repair; returns tokens, env and the text parsed."""
        env = self._env(refs=refs)
        try:
            return self._md.parse(src, env), env, src
        except _HoldLastLine:
            parsed = src[: src.rfind("\n") + 1]
            env = self._env(refs=refs)
            env["cnb_no_hold"] = True
            return self._md.parse(parsed, env), env, parsed

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
            open_tag = self._md.renderer.renderToken(tokens, 0, options, env)
            close_tag = self._md.renderer.renderToken(tokens, len(tokens) - 1, options, env)
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

    # --- display repair (runs between markdown-it's block and inline phases) ---

    def _repair_hook(self, state: StateCore) -> None:
        src, tokens = state.src, state.tokens
        if not src:
            return
        nl = src.rfind("\n")
        partial = src[nl + 1 :]
        last = src.count("\n") - (0 if partial else 1)
        hold = partial and not state.env.get("cnb_no_hold")
        idx = -1
        for i in range(len(tokens) - 1, -1, -1):
            tok = tokens[i]
            mp = tok.map
            if mp is None or tok.nesting < 0:
                continue
            if mp[0] <= last < mp[1]:
                idx = i
                break
            if tok.level == 0 and mp[1] <= last:
                break
        kind = tokens[idx].type if idx >= 0 else ""
        if kind == "fence":
            fence = tokens[idx]
            stripped = partial.strip()
            if hold and (
                fence.map[0] == last  # the opener itself: its language is being typed
                or (stripped and stripped == fence.markup[0] * len(stripped))
            ):
                raise _HoldLastLine
            fence.meta["cnb_live"] = True
            return
        if kind in ("code_block", "math_block"):
            return
        if hold and (
            _HOLD_PARTIAL.match(partial)
            or _HOLD_REF_DEF.match(partial)
            or ("|" in partial and len(partial) <= _MAX_HELD_ROW)
        ):
            raise _HoldLastLine
        if kind != "inline":
            return
        inline = tokens[idx]
        parent = tokens[idx - 1]
        if parent.type == "heading_open":
            if partial:
                inline.content = repair_inline(inline.content)
            return
        if parent.type != "paragraph_open":
            return  # a table row is complete here (partial rows are held back)
        content = inline.content
        first = content.split("\n", 1)[0]
        if (content.startswith("$$") and "$$" not in first[2:]) or (
            content.startswith("\\[") and "\\]" not in first
        ):
            # An unclosed display block: show its TeX plainly until it closes.
            tex = content[2:].rstrip().rstrip("$").rstrip("\\").strip()
            parent.type, parent.content = "cnb_math_pending", tex
            inline.type, inline.content = "text", ""
            tokens[idx + 1].hidden = True
            return
        if not partial and "|" in src[src.rfind("\n", 0, nl) + 1 : nl]:
            # A complete row with pipes and nothing after it may be a table header.
            content = content[: content.rfind("\n")] if "\n" in content else ""
            if not content:
                parent.hidden = tokens[idx + 1].hidden = True
        inline.content = repair_inline(content)

    def _live_code(self, lang: str, code: str) -> str:
        if self._live is None or self._live.lang != lang:
            self._live = LiveHighlighter(lang)
        return self._live.html(code)
