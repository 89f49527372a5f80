"""Code highlighting with pygments *inline* styles.

Jupyter strips ``<style>`` elements from untrusted notebooks but keeps ``style=``
attributes, so colours only survive a reload when every span carries its own style.
The ``<pre>`` gets an explicit light background and dark foreground so the block stays
readable under a dark JupyterLab theme too.

The first lookup of a lexer imports its module and compiles its regexes (up to ~80 ms
for Python), which would stall a live stream: the view calls :func:`warm_lexers` in a
background thread at load time.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterable
from functools import lru_cache

from markdown_it.common.utils import escapeHtml
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import get_all_lexers, get_lexer_by_name
from pygments.styles.default import DefaultStyle
from pygments.token import Error, Text, _TokenType
from pygments.util import ClassNotFound

__all__ = [
    "COMMON_LANGUAGES",
    "PRE_STYLE",
    "LiveHighlighter",
    "highlight_code",
    "lexer_for",
    "warm_lexers",
]


class CodeStyle(DefaultStyle):
    """Pygments' light default style minus the red box around ``Error`` tokens.

    Code that is still being written is full of "errors" (an unclosed string); boxing
    them in red while the model types would flash on every line.
    """

    styles = {**DefaultStyle.styles, Error: ""}  # noqa: RUF012 (pygments' own API)


PRE_STYLE = (
    f"background:{CodeStyle.background_color};color:#1f2328;"
    "padding:0.6em 0.8em;border-radius:4px;overflow-x:auto;line-height:1.4"
)
"""Inline style of every ``<pre class="cnb-pre">`` (explicit colours: dark themes)."""

COMMON_LANGUAGES: tuple[str, ...] = (
    "python",
    "sql",
    "javascript",
    "typescript",
    "bash",
    "json",
    "html",
    "css",
    "r",
    "java",
    "c",
    "cpp",
    "go",
    "rust",
    "yaml",
    "markdown",
    "text",
)

_FORMATTER = HtmlFormatter(nowrap=True, noclasses=True, style=CodeStyle)
_LEXERS: dict[str, Lexer | None] = {}
_ALIASES: frozenset[str] | None = None
_ALIASES_LOCK = threading.Lock()


def _aliases() -> frozenset[str]:
    """Built-in lexer aliases only: plugins would make output depend on the machine."""
    global _ALIASES
    if _ALIASES is None:
        with _ALIASES_LOCK:
            if _ALIASES is None:
                _ALIASES = frozenset(
                    alias.lower()
                    for _name, aliases, _files, _mimes in get_all_lexers(plugins=False)
                    for alias in aliases
                )
    return _ALIASES


def lexer_for(lang: str) -> Lexer | None:
    """The cached lexer for a fence's language name, or None when unknown (no guessing)."""
    key = lang.lower()
    try:
        return _LEXERS[key]
    except KeyError:
        pass
    lexer: Lexer | None = None
    if key in _aliases():
        try:
            lexer = get_lexer_by_name(key, stripnl=False, ensurenl=False)
        except ClassNotFound:  # pragma: no cover - alias listed but not loadable
            lexer = None
    if len(_LEXERS) < 512:  # a hostile stream of made-up names must not grow this forever
        _LEXERS[key] = lexer
    return lexer


def _format(tokens: Iterable[tuple[_TokenType, str]]) -> str:
    out = io.StringIO()
    _FORMATTER.format(tokens, out)
    return out.getvalue()


@lru_cache(maxsize=256)
def highlight_code(code: str, lang: str) -> str:
    """HTML for the inside of ``<code>``: highlighted if the language is known, else escaped.

    Cached because closed blocks inside a still-open list are re-rendered on every paint.
    """
    lexer = lexer_for(lang) if lang else None
    if lexer is None or not code:
        return escapeHtml(code)
    return _format(lexer.get_tokens(code))


def warm_lexers(languages: Iterable[str] = COMMON_LANGUAGES) -> None:
    """Import and compile the lexers and the formatter the first paints would stall on
    (the parser's own warm-up is :func:`claude_nb.render.markdown.warm`)."""
    for lang in languages:
        lexer = lexer_for(lang)
        if lexer is not None:
            _format(lexer.get_tokens("x = 1\n"))


class LiveHighlighter:
    """Display-only highlighting of a code block that is still growing.

    Re-highlighting the whole open block on every paint is quadratic over a long block.
    Complete lines are highlighted once, in chunks that end where the lexer is back in
    a neutral state (the last newline came out as plain text, not inside a string or a
    comment); a chunk that ends mid-string is redone with the next lines. The partial
    last line is only escaped. Colours may differ slightly from the final render,
    which highlights the block as a whole when it freezes; the text never does.
    """

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self._lexer = lexer_for(lang) if lang else None
        self._reset()

    def _reset(self) -> None:
        self._done_src = ""
        self._done_html: list[str] = []
        self._dirty_src = ""
        self._dirty_html = ""

    def html(self, code: str) -> str:
        """Inner HTML of ``<code>`` for the block's content so far."""
        if self._lexer is None:
            return escapeHtml(code)
        if not code.startswith(self._done_src):
            self._reset()
        cut = code.rfind("\n") + 1
        start = len(self._done_src)
        if cut > start and code[start:cut] != self._dirty_src:
            chunk = code[start:cut]
            tokens = list(self._lexer.get_tokens(chunk))
            html = _format(tokens)
            ttype, value = tokens[-1] if tokens else (Text, "\n")
            if value.endswith("\n") and ttype in Text:
                self._done_src = code[:cut]
                self._done_html.append(html)
                self._dirty_src = self._dirty_html = ""
            else:
                self._dirty_src, self._dirty_html = chunk, html
        dirty = self._dirty_html if cut > start else ""
        return "".join(self._done_html) + dirty + escapeHtml(code[max(cut, start) :])
