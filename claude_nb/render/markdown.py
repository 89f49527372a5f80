"""The one markdown-it configuration claude_nb renders model output with.

Model output is untrusted (a prompt-injected answer is attacker-written), so:

- raw HTML is escaped (``html=False``);
- links keep only ``http``/``https``/``mailto`` and relative hrefs; anything else renders
  as its text, without ``<a>``; kept links open in a new tab with
  ``rel="noopener noreferrer nofollow"``;
- images are never loaded (a remote image leaks data the moment it renders): they
  become a ``🖼 alt`` link under the same URL rules;
- TeX that could reach MathJax's ``\\href``/``\\style``/``\\class`` machinery is shown
  as code instead of being typeset.

Math is marked for MathJax with ``mathjax_process`` because the view wraps everything
in a ``mathjax_ignore`` container: only our spans get typeset, never a stray ``$``.
Dollar math follows pandoc's rules, so "it costs $5 and $10" stays text.

Code blocks are highlighted with inline styles (:mod:`claude_nb.render.highlight`).

Each extension is a markdown-it plugin (``md.use(plugin)``): :func:`safe_links_plugin`,
:func:`math_plugin` (its syntax alone: :func:`dollarmath_syntax`,
:func:`math_brackets_plugin`, which the scanner of :mod:`claude_nb.render.scan` shares),
:func:`code_plugin`; the streaming view adds :mod:`claude_nb.render.repair`'s.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml, unescapeAll
from markdown_it.renderer import RendererProtocol
from markdown_it.rules_block import StateBlock
from markdown_it.rules_core import StateCore
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from mdit_py_plugins.dollarmath import dollarmath_plugin
from mdit_py_plugins.tasklists import tasklists_plugin

from claude_nb.render.highlight import COMMON_LANGUAGES, PRE_STYLE, highlight_code, warm_lexers

__all__ = [
    "LINK_REL",
    "MD",
    "code_block_html",
    "code_plugin",
    "create_markdown",
    "dollarmath_syntax",
    "fence_lang",
    "is_safe_url",
    "math_brackets_plugin",
    "math_plugin",
    "render_markdown",
    "safe_links_plugin",
]

LINK_REL = "noopener noreferrer nofollow"
_SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
_BAD_URL_CHARS = re.compile(r"[\x00-\x20\x7f\\]")
_URL_HEAD = re.compile(r"[/?#]")
# MathJax commands that make links, styles, classes or ids, or load extensions.
_UNSAFE_TEX = re.compile(r"\\(?:href|url|class|style|cssId|data|require|html)(?![A-Za-z])")

try:  # bare URLs become links only when linkify-it-py is installed
    import linkify_it  # noqa: F401

    HAS_LINKIFY = True
except ImportError:  # pragma: no cover - depends on the environment
    HAS_LINKIFY = False


def is_safe_url(url: str) -> bool:
    """True for http(s)/mailto and relative/anchor URLs: what a link may point to.

    Called on the normalised URL (entities decoded, unsafe characters percent-encoded),
    so ``JaVaScRiPt:``, ``&#106;avascript:`` and ``java%09script:`` all fail here: a
    colon before the first ``/?#`` must end one of the allowed schemes.
    """
    if not url or _BAD_URL_CHARS.search(url):
        return False
    head = _URL_HEAD.split(url, 1)[0]
    scheme, colon, _ = head.partition(":")
    return not colon or scheme.lower() in _SAFE_SCHEMES


def _parse_any_link(url: str) -> bool:
    return True


def fence_lang(info: str) -> str:
    """The language word of a fence's info string (``python {.x}`` -> ``python``)."""
    info = unescapeAll(info).strip()
    return info.split(maxsplit=1)[0] if info else ""


def code_block_html(lang: str, inner_html: str) -> str:
    """The code block markup shared by the one-shot renderer and the live view."""
    if lang:
        label = escapeHtml(lang)
        head = f'<div class="cnb-code" data-lang="{label}"><div class="cnb-code-lang">{label}</div>'
    else:
        head = '<div class="cnb-code">'
    return f'{head}<pre class="cnb-pre" style="{PRE_STYLE}"><code>{inner_html}</code></pre></div>\n'


def _math_html(tex: str, display: bool, block: bool = False) -> str:
    if _UNSAFE_TEX.search(tex):
        code = f'<code class="cnb-math-unsafe">{escapeHtml(tex)}</code>'
        return f"<div>{code}</div>\n" if block else code
    if not display:
        return f'<span class="cnb-math mathjax_process">\\({escapeHtml(tex)}\\)</span>'
    tag = "div" if block else "span"
    end = "\n" if block else ""
    return f'<{tag} class="cnb-math-display mathjax_process">\\[{escapeHtml(tex)}\\]</{tag}>{end}'


# --- \( \) and \[ \] math (mdit's texmath scans the whole rest of the document) ---------


def _math_brackets_inline(state: StateInline, silent: bool) -> bool:
    """``\\(x\\)`` inline and ``\\[x\\]`` (display) inside a paragraph."""
    src, pos = state.src, state.pos
    if src[pos] != "\\" or pos + 1 >= state.posMax or src[pos + 1] not in "([":
        return False
    display = src[pos + 1] == "["
    end = src.find("\\]" if display else "\\)", pos + 2, state.posMax)
    if end < 0 or not src[pos + 2 : end].strip():
        return False
    if not silent:
        token = state.push("math_inline_double" if display else "math_inline", "math", 0)
        token.content = src[pos + 2 : end]
        token.markup = "\\[" if display else "\\("
    state.pos = end + 2
    return True


def _math_brackets_block(state: StateBlock, start: int, end_line: int, silent: bool) -> bool:
    """``\\[`` ... ``\\]`` display math on its own lines; like ``$$``, a blank line stops it."""
    if state.is_code_block(start):
        return False
    pos = state.bMarks[start] + state.tShift[start]
    maximum = state.eMarks[start]
    if not state.src.startswith("\\[", pos):
        return False
    first = state.src[pos + 2 : maximum].rstrip()
    if first.endswith("\\]"):
        if not first[:-2].strip():
            return False
        close, parts = start, [first[:-2]]
    elif "\\]" in first:
        return False
    else:
        close = start + 1
        while True:
            if close >= end_line or state.isEmpty(close) or state.sCount[close] < state.blkIndent:
                return False
            text = state.src[state.bMarks[close] + state.tShift[close] : state.eMarks[close]]
            if text.rstrip().endswith("\\]"):
                break
            close += 1
        middle = state.getLines(start + 1, close, state.blkIndent, False)
        parts = [first, "\n", middle, text.rstrip()[:-2]]
    if silent:
        return True
    token = state.push("math_block", "math", 0)
    token.block = True
    token.content = "".join(parts)
    token.markup = "\\["
    token.map = [start, close + 1]
    state.line = close + 1
    return True


# --- core rules -------------------------------------------------------------------------


def _secure_links(state: StateCore) -> None:
    """Drop ``<a>`` around unsafe or empty hrefs (and nested links); tag the kept ones."""
    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        kept: list[Token] = []
        stack: list[bool] = []
        for tok in block.children:
            if tok.type == "link_open":
                href = str(tok.attrGet("href") or "")
                keep = is_safe_url(href) and not any(stack)
                stack.append(keep)
                if keep:
                    tok.attrSet("rel", LINK_REL)
                    tok.attrSet("target", "_blank")
                    kept.append(tok)
            elif tok.type == "link_close":
                if stack and stack.pop():
                    kept.append(tok)
            else:
                if tok.type == "image" and any(stack):
                    tok.meta["cnb_in_link"] = True
                kept.append(tok)
        block.children = kept


# --- render rules -----------------------------------------------------------------------


def _render_cell_open(
    self: RendererProtocol, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    """Table cells without an alignment read left-aligned (Jupyter's CSS right-aligns
    every cell for DataFrames, which makes prose tables hard to read)."""
    token = tokens[idx]
    if token.attrGet("style") is None:
        token.attrSet("style", "text-align:left")
    return self.renderToken(tokens, idx, options, env)  # type: ignore[attr-defined]


def _render_fence(
    self: RendererProtocol, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    lang = fence_lang(token.info)
    return code_block_html(lang, highlight_code(token.content, lang))


def _render_code_block(
    self: RendererProtocol, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return code_block_html("", escapeHtml(tokens[idx].content))


def _render_image(
    self: RendererProtocol, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    alt = self.renderInlineAsText(token.children, options, env)  # type: ignore[attr-defined]
    text = escapeHtml(f"🖼 {alt or 'image'}")
    src = str(token.attrGet("src") or "")
    if token.meta.get("cnb_in_link") or not is_safe_url(src):
        return text
    title = token.attrGet("title")
    title_attr = f' title="{escapeHtml(str(title))}"' if title else ""
    return (
        f'<a class="cnb-image-link" href="{escapeHtml(src)}"{title_attr} '
        f'rel="{LINK_REL}" target="_blank">{text}</a>'
    )


def _render_math_inline(
    self: RendererProtocol, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return _math_html(tokens[idx].content, display=False)


def _render_math_inline_double(
    self: RendererProtocol, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return _math_html(tokens[idx].content.strip(), display=True)


def _render_math_block(
    self: RendererProtocol, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return _math_html(tokens[idx].content.strip(), display=True, block=True)


# --- plugins (``md.use(plugin)``) -----------------------------------------------------


def dollarmath_syntax(md: MarkdownIt) -> None:
    """Dollar math as pandoc reads it: "it costs $5 and $10" stays text."""
    dollarmath_plugin(
        md,
        allow_labels=False,
        allow_space=False,
        allow_digits=False,
        allow_blank_lines=False,
        double_inline=True,
    )


def math_brackets_plugin(md: MarkdownIt, blocks: bool = True) -> None:
    """``\\(x\\)`` and ``\\[x\\]`` math inside paragraphs and (``blocks``) on their own lines."""
    md.inline.ruler.before("escape", "math_brackets", _math_brackets_inline)
    if blocks:
        md.block.ruler.before("fence", "math_brackets_block", _math_brackets_block)


def math_plugin(md: MarkdownIt) -> None:
    """Dollar and bracket math, rendered as MathJax-ready spans (unsafe TeX as code)."""
    dollarmath_syntax(md)
    math_brackets_plugin(md)
    md.add_render_rule("math_inline", _render_math_inline)
    md.add_render_rule("math_inline_double", _render_math_inline_double)
    md.add_render_rule("math_block", _render_math_block)


def safe_links_plugin(md: MarkdownIt) -> None:
    """Links only to safe URLs, images never loaded (see the module docstring)."""
    # Parse every destination as a link and judge it after parsing (_secure_links, the
    # image renderer): a refused URL then leaves the link text, not raw "[x](...)".
    md.validateLink = _parse_any_link  # type: ignore[method-assign]
    md.core.ruler.push("cnb_links", _secure_links)
    md.add_render_rule("image", _render_image)


def code_plugin(md: MarkdownIt) -> None:
    """Highlighted fences, plain indented code, left-aligned table cells."""
    md.add_render_rule("fence", _render_fence)
    md.add_render_rule("code_block", _render_code_block)
    md.add_render_rule("th_open", _render_cell_open)
    md.add_render_rule("td_open", _render_cell_open)


def create_markdown() -> MarkdownIt:
    """A fresh parser with claude_nb's syntax, safety rules and renderers."""
    md = MarkdownIt("commonmark", {"html": False, "linkify": HAS_LINKIFY, "typographer": False})
    md.enable(["table", "strikethrough"])
    # html=False already makes these no-ops; disabled, they cost nothing per block.
    md.disable(["html_block", "html_inline"])
    if HAS_LINKIFY:
        # Bare "http(s)://..." becomes a link (the inline rule). The core rule would add
        # only fuzzy links, which turn "script.py" or "user@host" in prose into links,
        # at the cost of a large regex over every paragraph: left off.
        md.enable("linkify")
        md.core.ruler.disable("linkify")
        md.linkify.set({"fuzzy_link": False, "fuzzy_email": False})  # type: ignore[union-attr]
    return md.use(safe_links_plugin).use(math_plugin).use(tasklists_plugin).use(code_plugin)


MD = create_markdown()
"""The shared instance (parsing keeps no state between calls, so sharing is safe)."""


def render_markdown(text: str) -> str:
    """Render a whole answer to static HTML (deterministic: same text, same bytes)."""
    return MD.render(text)


def warm(languages: Iterable[str] = COMMON_LANGUAGES) -> None:
    """Compile what the first paints would otherwise stall on: the parser's lazily built
    regexes (linkify's alone take ~30 ms on first use), the lexers and the formatter.

    Runs in a background thread at ``%load_ext``; a private parser instance, so this
    thread never shares parser objects with a render running meanwhile.
    """
    create_markdown().render("# w\n\n**a** https://example.com $x$\n\n| a |\n|---|\n| b |\n")
    warm_lexers(languages)
