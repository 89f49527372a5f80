"""Untrusted text takes one safe path: inert in HTML, in saved markdown and in plain text.

The ``text/markdown`` part is checked as JupyterLab, GitHub and nbconvert show it: run
through a markdown renderer that lets raw HTML through (markdown-it with ``html=True``
and the GFM table and strikethrough rules).
"""

from __future__ import annotations

import html.parser
import os
import re
import unicodedata

import hypothesis
import hypothesis.strategies as st
import pytest
from markdown_it import MarkdownIt
from sdk_facts import MODEL

import claude_nb
from claude_nb.render.markdown import render_markdown
from claude_nb.render.safe import clean, code_fence, esc, inert_markdown, markdown_text, plain_text
from claude_nb.render.scan import code_ranges
from claude_nb.render.segments import MarkdownRun, ThinkingPanel
from claude_nb.render.visible import visible_text
from claude_nb.stream.state import BlockState

RENDERER = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])

LIVE_TAGS = {
    "script", "iframe", "frame", "object", "embed", "svg", "math", "img", "video", "audio",
    "source", "picture", "style", "link", "meta", "base", "form", "input", "button",
    "textarea", "select", "details", "summary", "a", "area", "image",
}  # fmt: skip


class Tags(html.parser.HTMLParser):
    """Every tag and attribute of an HTML fragment."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str, str]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend((tag, k, v or "") for k, v in attrs)


def _scheme(url: str) -> str:
    """The URL's scheme as a browser reads it ("" for a relative URL)."""
    url = "".join(c for c in url if c > " ").lower()
    head = re.split(r"[/?#]", url, maxsplit=1)[0]
    return head.split(":", 1)[0] if ":" in head else ""


def assert_inert(fragment: str, allowed: frozenset[str] = frozenset({"a"})) -> None:
    """No tag that runs or loads anything, no handler, no script URL, no remote image."""
    tags = Tags(fragment)
    live = (set(tags.tags) & LIVE_TAGS) - allowed
    assert not live, (live, fragment)
    for tag, name, value in tags.attrs:
        assert not name.startswith("on"), (tag, name, value)
        assert name not in ("src", "srcset", "background", "poster", "formaction"), (tag, name)
        if name in ("href", "xlink:href", "action"):
            assert _scheme(value) in ("", "http", "https", "mailto"), (tag, name, value)
        if name == "style":
            assert "url(" not in value.lower() and "expression" not in value.lower(), value


def assert_plain(text: str) -> None:
    bad = [c for c in text if c not in "\n\t" and unicodedata.category(c) in ("Cc", "Cs")]
    assert not bad, bad


# --- the saved markdown: what regexes got wrong -------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        # a double-backtick run with no closing pair is text: the HTML after it is live
        "``<img src=x onerror=alert(1)>`",
        # "```x`" is not a fence (its info string holds a backtick)
        "```x`\n<img src=x onerror=alert(1)>\n",
        # a line "```python" does not close a fence, so the real closing is the last one
        "```\ncode\n```python\n<b>code</b>\n```\n<img src=x onerror=alert(1)>\n",
        # images are links, never loaded
        "![chart](http://evil.example/leak.png?k=1) and ![](https://e.example/x.gif)",
        "[![badge](https://img.example/b.svg)](https://ci.example)",
        "![ref]\n\n[ref]: https://evil.example/leak.png",
        # script URLs, inline, by reference, in a definition a strict renderer refuses
        "[click](javascript:alert(1)) [r][x] [x]\n\n[x]: javascript:alert(2)\n    <img src=x>",
        "<javascript:alert(3)> [a](<javascript:alert(4)>) [b](&#106;avascript:alert(5))",
        # math keeps its TeX but nothing a markdown renderer would act on
        "$[a](javascript:alert(6))$ and $![i](http://e.example/i.png)$ and $a<img src=x>$",
        "\\(<img src=x onerror=alert(7)>\\)",
    ],
)
def test_saved_markdown_is_inert_where_regexes_were_fooled(text: str) -> None:
    md = inert_markdown(text)
    assert_inert(RENDERER.render(md))


def test_saved_markdown_keeps_code_as_written_and_prose_readable() -> None:
    text = (
        "# Title with <tag>\n\nUse `a < b` and ``x ` y``; see [docs](https://ex.example/a_(b))"
        " or <https://ex.example>.\n\n```html\n<script>alert(1)</script>\n```\n\n"
        "- [ ] task with **bold**\n- [x] done\n\n| a | `<b>` |\n|---|---|\n| <i> | 1 |\n"
    )
    md = inert_markdown(text)
    assert "```html\n<script>alert(1)</script>\n```" in md  # a fence, untouched
    assert "`a < b`" in md and "``x ` y``" in md
    assert "- [ ] task with **bold**\n- [x] done" in md  # task lists stay checkboxes
    rendered = RENDERER.render(md)
    assert_inert(rendered)
    assert visible_text(rendered) == (
        "Title with <tag> Use a < b and x ` y; see docs or https://ex.example."
        " <script>alert(1)</script> [ ] task with bold [x] done a <b> <i> 1"
    )
    assert '<a href="https://ex.example/a_(b)">docs</a>' in rendered


def test_a_complete_answer_is_left_alone_when_nothing_in_it_can_be_live() -> None:
    text = "# Plan\n\n1. **Load** the data with `pd.read_csv`.\n2. Fit $y = ax + b$.\n"
    assert inert_markdown(text) == text


# --- panels read well when rendered, and stay inert ---------------------------------------


def test_panels_in_saved_markdown_render_as_panels(offline_client: object) -> None:
    bundle = {}
    for name in ("thinking", "tool_use", "web_search"):
        with offline_client.messages.stream(  # type: ignore[attr-defined]
            model=MODEL,
            max_tokens=32000,
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-claude-nb-transcript": name},
        ) as s:
            bundle[name] = claude_nb.show(s, view="quiet")._repr_mimebundle_()["text/markdown"]
    for name, md in bundle.items():
        assert "&lt;details" not in md, name
        rendered = RENDERER.render(md)
        assert rendered.count("<details>") == rendered.count("</details>") >= 1, name
        assert_inert(rendered, frozenset({"a", "details", "summary"}))
    assert "<summary>💭 Thinking</summary>" in bundle["thinking"]
    assert '```json\n{\n  "city": "Tokyo"' in bundle["tool_use"]


def test_a_tool_result_cannot_break_out_of_its_code_block() -> None:
    hostile = "ok\n```\n<img src=x onerror=alert(1)>\n````\n[x](javascript:alert(2))"
    block = code_fence(hostile)
    rendered = RENDERER.render(block)
    assert rendered.count("<pre>") == 1 and "<img" not in rendered
    assert visible_text(rendered) == visible_text(f"<pre>{esc(hostile)}</pre>")


def test_thinking_is_quoted_inert_markdown() -> None:
    panel = ThinkingPanel("s0", BlockState(0, "thinking", 0.0), redacted=False)
    panel.append("Maybe ![x](http://e.example/x.png)\n\n</details><img src=x onerror=alert(1)>")
    md = panel.markdown()
    rendered = RENDERER.render(md)
    assert_inert(rendered, frozenset({"a", "details", "summary"}))
    assert rendered.count("</details>") == 1


# --- one helper per context ---------------------------------------------------------------


def test_clean_drops_control_characters_and_mends_surrogates() -> None:
    text = "a\x1b]52;c;aGk=\x07b\x1b[2J\r\nc\rd\x00e\x9b\ud83d\ude00 \ud83d"
    assert clean(text) == "a]52;c;aGk=b[2J\nc\nde😀 \ufffd"
    assert esc("<b>\x1b[1m") == "&lt;b&gt;[1m"
    assert plain_text("x\x07") == "x"


def test_markdown_text_is_text_in_any_renderer() -> None:
    line = "1. # *not* [a](javascript:x) <img src=x> `code` | a |\n---"
    rendered = RENDERER.render(markdown_text(line))
    assert_inert(rendered, frozenset())
    assert visible_text(rendered) == " ".join(line.split())


def test_code_ranges_are_markdown_its_code() -> None:
    text, ranges = code_ranges("a `x` b\n\n```\n{y}\n```\n\n> c ``d ` e``\n")
    assert [text[a:b] for a, b in ranges] == ["`x`", "```\n{y}\n```", "``d ` e``"]


# --- the property: random hostile markdown, cut into random deltas -------------------------

FRAGMENTS = [
    *"ab \n*_~`$#>[]()!:|\\<&-1.",
    "\n\n",
    "    ",
    "> ",
    "- ",
    "1. ",
    "```",
    "```python\n",
    "~~~",
    "$$",
    "\\(",
    "\\)",
    "\\[",
    "\\]",
    "**",
    "``",
    "| a | b |\n",
    "|---|---|\n",
    "<img src=x onerror=alert(1)>",
    "<script>alert(2)</script>",
    "<a href='javascript:alert(3)'>",
    "<div style='background:url(x)'>",
    "[c](javascript:alert(4))",
    "[r]",
    "[r]: javascript:alert(5)\n",
    "[s]: https://img.example/s.png\n",
    "![i](https://img.example/i.png)",
    "![s]",
    "<javascript:alert(6)>",
    "<https://ok.example/x>",
    "&#106;avascript:",
    "&lt;",
    "https://ok.example/a_b",
    "\x1b[2J",
    "\x1b]52;c;aGk=\x07",
    "\x00",
    "\r",
    "\r\n",
    "\t",
    "\n<div>",
    "<!--",
    "<![CDATA[",
    '[t](http://a "x|y")',
    "[x](<a b>)",
    "| `a` | b |",
    "\ud83d",
    "\ude00",
    "😀",
]
PIECES = st.lists(
    st.one_of(
        st.sampled_from(FRAGMENTS),
        st.characters(codec=None, categories=["Cc", "Cs", "Po", "Sm", "Zs", "Ll"]),
    ),
    max_size=40,
)
# CI checks the same 400 examples every run (about 2 s); CNB_PROPERTY_EXAMPLES=20000 runs
# a fresh random search (about 2 min), which is how the bugs this test guards were found.
EXAMPLES = int(os.environ.get("CNB_PROPERTY_EXAMPLES", "0"))


@hypothesis.settings(
    max_examples=EXAMPLES or 400,
    derandomize=not EXAMPLES,
    deadline=None,
    suppress_health_check=[hypothesis.HealthCheck.too_slow],
)
@hypothesis.given(PIECES, st.lists(st.integers(1, 9), min_size=1, max_size=200), st.randoms())
def test_hostile_markdown_streams_exact_and_every_part_is_inert(
    pieces: list[str], cuts: list[int], rnd: object
) -> None:
    text = "".join(pieces)
    run = MarkdownRun("s0")
    thinking = ThinkingPanel("s1", BlockState(0, "thinking", 0.0), redacted=False)
    pos = k = 0
    while pos < len(text):
        n = cuts[k % len(cuts)]
        k += 1
        run.append(text[pos : pos + n])
        thinking.append(text[pos : pos + n])
        pos += n
        if rnd.random() < 0.4:  # type: ignore[attr-defined]
            run.ops()  # a paint
    run.finish(0.0)
    thinking.finish(0.0)

    assert run.body_html() == render_markdown(run.md.text)  # final == one-shot
    for part in (run.html(), thinking.html()):
        assert_inert(part, frozenset({"a", "details", "summary"}))
    for md in (run.markdown(), thinking.markdown()):
        assert_inert(RENDERER.render(md), frozenset({"a", "details", "summary"}))
    for plain in (run.plain(), thinking.plain()):
        assert_plain(plain)


def test_a_servers_error_message_is_inert_in_every_part(offline_client: object) -> None:
    """The footer's error line is the server's text: the saved markdown showed it raw."""
    message = "<img src=x onerror=alert(1)> [x](javascript:alert(2)) ![i](http://e.example/i.png)"
    fault = {"x-claude-nb-fault": f"error_after=5;message={message}"}
    with offline_client.messages.stream(  # type: ignore[attr-defined]
        model=MODEL,
        max_tokens=32000,
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"x-claude-nb-transcript": "markdown", **fault},
    ) as s:
        bundle = claude_nb.show(s, view="quiet")._repr_mimebundle_()
    assert message in bundle["text/plain"]  # the message really is in the output
    assert_inert(bundle["text/html"])
    rendered = RENDERER.render(bundle["text/markdown"])
    assert_inert(rendered)
    assert message in visible_text(rendered)
