"""The display repair of a streaming answer's open tail, as a markdown-it plugin.

While an answer streams, its last line is often half-written: ``**bold te``, ``[a
link](https://ex``, ``| a | b`` or a fence opener whose language is being typed. Shown
as parsed, such text flickers (a ``*`` appears, then vanishes into bold). The repair
works on a *display copy* only, between markdown-it's block and inline phases: a last
line whose meaning depends on the next one is held back, inline syntax is closed
optimistically, half links show only their text, and an open code fence is highlighted
line by line. The aim is that nothing the reader sees later vanishes (see
:mod:`claude_nb.render.visible`).

The same repair, in its ``final`` form (close what is open, hold nothing back), renders
the tail of an answer that was cut off (max_tokens, an interrupt, an error), so the saved
copy reads like the last live frame instead of showing stray ``*``.

:func:`tail_repair_plugin` adds it to a parser; it acts only on parses whose ``env``
holds a :class:`Tail` under ``"cnb_tail"``, so a parser with the plugin renders
everything else exactly as without it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.renderer import RendererHTML, RendererProtocol
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

from claude_nb.render.highlight import LiveHighlighter
from claude_nb.render.markdown import code_block_html, fence_lang

__all__ = ["HoldLastLine", "Tail", "repair_inline", "tail_repair_plugin"]


class HoldLastLine(Exception):
    """Raised by the repair: re-parse without the partial last line."""


@dataclass
class Tail:
    """How to repair one parse: hold back a partial last line or not, final or live."""

    hold: bool = True
    final: bool = False
    live: LiveHighlighter | None = None

    def live_code(self, lang: str, code: str) -> str:
        """An open fence's code, highlighted incrementally (cached per language)."""
        if self.live is None or self.live.lang != lang:
            self.live = LiveHighlighter(lang)
        return self.live.html(code)


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
# An unclosed "[" further back than this is text: link texts are short, and holding it
# longer would hide the rest of a paragraph like "the interval [2, 5) is open".
_MAX_HELD_LINK = 200

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


def repair_inline(s: str, final: bool = False) -> str:
    """The display copy of a still-growing inline run: nothing shown should vanish later.

    Unclosed emphasis, strikethrough and code spans are closed optimistically (an opener
    with nothing after it yet is dropped); a half link shows only its text and a half
    image nothing; an unclosed ``$``/``\\(`` math, a partial autolink, a ``[text]`` that
    may still become a link (for at most ``_MAX_HELD_LINK`` characters), and a trailing
    delimiter run are held back until the following characters decide what they are.
    Prices ("$5 and $10") are left alone.

    ``final``: the text will not grow any more (the answer was cut off): close what is
    open as above, but hold nothing back; what would have been held shows as text.
    """
    if not final:
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
                if e < 0 and n - j <= _MAX_HELD_MATH and not final:
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
            elif not final:
                cut = j
            break
        if c == "$":
            if j + 1 == n or s[j + 1 :] == "$":  # "$" or "$$" just typed: math or a price?
                if final:
                    break
                cut = j
                break
            close = _math_close(s, j)
            if close is None:
                i = j + 1
                continue
            if close + 1 == n and not final:  # closed by the last character: a digit may follow
                cut = j
                break
            if close >= 0:
                i = close + 1
                continue
            if s[j + 1 : j + 2].isdigit():
                amount = _CURRENCY_AMOUNT.match(s, j + 1).end()  # type: ignore[union-attr]
                if amount < n and s[amount] in _CURRENCY_NEXT:
                    i = j + 1  # "$5 and $10": a price, not math
                    continue
            if n - j <= _MAX_HELD_MATH and not final:
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
                if final or n - j > _MAX_HELD_LINK:
                    i = b + 1  # it can no longer become a link (or not soon): text
                    continue
                cut = j
                break
            if after == "(":
                p = _close_of(s, e + 1, "(", ")", blank_line_ends=True)
                if p >= 0:
                    i = p + 1
                    continue
                if c == "!":
                    if final:
                        i = b + 1
                        continue
                    cut = j
                    break
                s = s[:j] + s[b + 1 : e]  # a half link: keep its text, drop the URL
                n = cut = len(s)
                i = j
                continue
            if after == "[":
                r = s.find("]", e + 2)
                if r < 0:
                    if final or n - j > _MAX_HELD_LINK:
                        i = e + 1
                        continue
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
            if _AUTOLINK_PARTIAL.match(s, j) and not final:
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
            if final:
                continue  # an opener with nothing after it stays literal
            cut = pos
            break
        closers.append(ch * rem)
    out = s[:cut]
    if code_suffix and cut == n:
        out += code_suffix
    if closers:
        out = out.rstrip() + "".join(reversed(closers))
    return out


# --- the plugin -----------------------------------------------------------------------


def _last_block(tokens: list[Token], last: int) -> int:
    """Index of the innermost open token holding source line ``last`` (-1 if none)."""
    for i in range(len(tokens) - 1, -1, -1):
        tok = tokens[i]
        mp = tok.map
        if mp is None or tok.nesting < 0:
            continue
        if mp[0] <= last < mp[1]:
            return i
        if tok.level == 0 and mp[1] <= last:
            break
    return -1


def _repair(state: StateCore) -> None:
    """Repair the display copy of the last block (runs between block and inline)."""
    tail: Tail | None = state.env.get("cnb_tail")
    src, tokens = state.src, state.tokens
    if tail is None or not src:
        return
    nl = src.rfind("\n")
    partial = src[nl + 1 :]
    last = src.count("\n") - (0 if partial else 1)
    hold = bool(partial) and tail.hold
    idx = _last_block(tokens, last)
    kind = tokens[idx].type if idx >= 0 else ""
    if kind == "fence":
        fence = tokens[idx]
        stripped = partial.strip()
        if hold and (
            fence.map[0] == last  # type: ignore[index]  # the opener: its language is being typed
            or (stripped and stripped == fence.markup[0] * len(stripped))
        ):
            raise HoldLastLine
        if not tail.final:
            fence.meta["cnb_live"] = True
        return
    if kind in ("code_block", "math_block"):
        return
    if hold and (
        _HOLD_PARTIAL.match(partial)
        or (_HOLD_REF_DEF.match(partial) and len(partial) <= _MAX_HELD_LINK)
        or ("|" in partial and len(partial) <= _MAX_HELD_ROW)
    ):
        raise HoldLastLine
    if kind != "inline":
        return
    inline = tokens[idx]
    parent = tokens[idx - 1]
    if parent.type == "heading_open":
        if partial:
            inline.content = repair_inline(inline.content, tail.final)
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
    if not partial and not tail.final and "|" in src[src.rfind("\n", 0, nl) + 1 : nl]:
        # A complete row with pipes and nothing after it may be a table header.
        content = content[: content.rfind("\n")] if "\n" in content else ""
        if not content:
            parent.hidden = tokens[idx + 1].hidden = True
    inline.content = repair_inline(content, tail.final)


def _render_math_pending(
    self: RendererProtocol, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    """An unclosed ``$$``/``\\[`` block while it streams."""
    return f'<pre class="cnb-math-pending">{escapeHtml(tokens[idx].content)}</pre>\n'


def tail_repair_plugin(md: MarkdownIt) -> None:
    """Repair the tail of parses that carry a :class:`Tail` in ``env["cnb_tail"]``."""
    md.core.ruler.after("block", "cnb_tail_repair", _repair)
    base_fence = cast(RendererHTML, md.renderer).rules["fence"]

    def render_fence(
        self: RendererProtocol,
        tokens: Sequence[Token],
        idx: int,
        options: OptionsDict,
        env: EnvType,
    ) -> str:
        token = tokens[idx]
        tail: Tail | None = env.get("cnb_tail")
        if tail is None or not token.meta.get("cnb_live"):
            return str(base_fence(tokens, idx, options, env))
        lang = fence_lang(token.info)
        return code_block_html(lang, tail.live_code(lang, token.content))

    md.add_render_rule("fence", render_fence)
    md.add_render_rule("cnb_math_pending", _render_math_pending)
