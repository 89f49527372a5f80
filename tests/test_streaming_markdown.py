"""Streaming rendering: exact at the end, each block sent once, nothing shown that vanishes."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pytest
from markdown_it.token import Token

from claude_nb.render.markdown import create_markdown, render_markdown
from claude_nb.render.repair import repair_inline
from claude_nb.render.streaming import Frame, StreamingMarkdown
from claude_nb.render.visible import visible_text
from claude_nb.testing.flicker import FlickerMeter
from claude_nb.testing.samples import llm_markdown


@dataclass
class Streamed:
    frames: list[Frame]
    final: Frame

    @property
    def html(self) -> str:
        """What the view ends up showing."""
        if self.final.replace:
            return self.final.frozen
        return "".join(f.frozen for f in self.frames) + self.final.frozen


def stream(text: str, rng: random.Random, p_render: float = 0.3, max_delta: int = 8) -> Streamed:
    """Feed ``text`` in random deltas, painting after each with probability ``p_render``."""
    sm = StreamingMarkdown()
    frames = []
    i = 0
    while i < len(text):
        n = rng.randint(1, max_delta)
        sm.append(text[i : i + n])
        i += n
        if rng.random() < p_render:
            frames.append(sm.render())
    return Streamed(frames, sm.finish())


def paint_every_char(text: str) -> Iterable[tuple[str, Frame]]:
    """(text so far, frame) after every character."""
    sm = StreamingMarkdown()
    for i, ch in enumerate(text):
        sm.append(ch)
        yield text[: i + 1], sm.render()


def tail_after(text: str) -> str:
    """The tail shown once exactly ``text`` has arrived (one paint at the end)."""
    sm = StreamingMarkdown()
    sm.append(text)
    return sm.render().tail


# Documents that stress block splitting: each is a place where a later line changes the
# meaning of an earlier one, or where a block boundary is easy to get wrong.
TRICKY = [
    "- a\n\n- b\n\n  continued\n- c",
    "1. one\n   - sub\n     - subsub\n2. two\n\n   para in item",
    "> quote line\nlazy continuation\n> more",
    "Title\n=====",
    "Multi\nline\nsetext\n---",
    "text\n***",
    "para\n---",
    "Intro:\n| a | b |\n|---|---|\n| 1 | 2 |\ntrailing row",
    "| x |\n|---|---|---|\nrow",
    "text\n| a | b |\n|---|---|---|\nx",
    "| t |\n|---|\nrow a\nno pipes here\n\nafter",
    "| e \\| x |\n|---|\n| 1 |",
    "~~~\n```\ninside\n```\n~~~",
    "````md\n```py\nx\n```\n````",
    "```py`\nnot a fence",
    "```\nunclosed fence",
    "para\n\n    code1\n\n    code2",
    "    code\n  \n    more code after a spaces-only line",
    "Para\n    not code (lazy)",
    "[a][r1] and [b]",
    "[r1]: https://one.example\n[b]: https://b.example 'T'",
    "use [a][r1] again and [r1]",
    "[id2]: /url\n'multi\nline title'",
    "para\n[id3]: /lazy",
    "> [qref]: https://q.example\n> quoted",
    "- [lref]: https://l.example\n- [lref]",
    "## 日本語 🚀\n数据库 **粗体** 😀",
    "$$\na\n\nb\n$$",
    "text\n$$\nx\n$$",
    "$$\nx\n# H\n$$",
    "\\[\nx\n\\]",
    "\\[\nx\n# H\n\\]",
    "- $$\n  x\n  $$\n- next",
    "> $$\n> x\n> $$",
    "$$x$$ trailing",
    "It costs $5 and $10, but $x^2$ is math and $$y$$ too",
    "<div>\n*x*\n</div>",
    "para\n- item",
    "para\n2. item",
    "- a\n+ b\n1. c\n3) d",
    "10. ten\n11. eleven",
    "- a\n-\n- c",
    "-\n  foo\n-\n\n  bar",
    "-\tfoo\n\n\tcode with tab",
    "- [ ] todo\n- [x] done",
    "# Heading\nright after",
    "# H1 #\n## H2 ##   ",
    "1. Step:\n\n   ```python\n   def f():\n       return 1\n   ```\n\n2. Next",
    "- item\n\n      ```\n      deep fence\n      ```",
    "> ```\n> code in quote\noutside",
    "> - quote list\n>   continued\n> > nested quote",
    "```python\nx = '''\nmulti\n'''\n```",
    "```\n$$\nnot math\n$$\n```",
    "**bold *nested* text** with `code` and [link](https://ex.com) and ![img](https://i.png)",
    "***bold italic*** and **_mixed_**",
    "text with * star and _ under and snake_case_name and 2*3*4",
    "https://example.com/path_with_underscores_ and www.x.com",
    "<https://auto.example> and <mailto:a@b.c>",
    "Line with trailing spaces  \nhard break",
    "a\\\nb",
    "#hashtag not heading\n#",
    "* * *",
    "   ",
    "text with \0 nul",
    "a\rb\r\rc",
    "x" * 300 + " **long** line",
    "[undefined ref] and [another][]",
    "term\n: def",
]


def tricky_document(rng: random.Random) -> str:
    parts = [rng.choice(TRICKY) for _ in range(rng.randint(1, 6))]
    text = parts[0]
    for part in parts[1:]:
        text += rng.choice(["\n", "\n\n", "\n\n\n"]) + part
    if rng.random() < 0.7:
        text += "\n"
    if rng.random() < 0.05:
        text = text.replace("\n", "\r\n")
    return text


# --- the final HTML is exactly the one-shot render ----------------------------------------


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("size", [3_000, 12_000])
def test_llm_answers_stream_to_the_one_shot_html(size: int, seed: int) -> None:
    text = llm_markdown(size, seed)
    rng = random.Random(seed * 7 + size)
    for p_render in (0.05, 0.5, 1.0):
        result = stream(text, rng, p_render)
        assert not result.final.replace
        assert result.html == render_markdown(text)


def test_a_long_answer_streams_to_the_one_shot_html() -> None:
    text = llm_markdown(60_000, seed=11)
    result = stream(text, random.Random(1), p_render=0.2, max_delta=6)
    assert result.html == render_markdown(text)


@pytest.mark.parametrize("seed", range(400))
def test_tricky_documents_stream_to_the_one_shot_html(seed: int) -> None:
    rng = random.Random(seed)
    text = tricky_document(rng)
    result = stream(text, rng, p_render=rng.random(), max_delta=rng.randint(1, 12))
    assert result.html == render_markdown(text)


def test_every_prefix_painted_still_ends_exact() -> None:
    text = llm_markdown(4_000, seed=5)
    sm = StreamingMarkdown()
    frozen = []
    for ch in text:
        sm.append(ch)
        frozen.append(sm.render().frozen)
    final = sm.finish()
    assert "".join(frozen) + final.frozen == render_markdown(text)


def test_hypothesis_random_markup_streams_exact() -> None:
    hypothesis = pytest.importorskip("hypothesis")
    st = pytest.importorskip("hypothesis.strategies")

    alphabet = st.sampled_from([*"ab |-*_`~$#>[]()!:\\\n\n\n123. ", "```", "$$", "\\["])

    @hypothesis.settings(max_examples=300, deadline=None, derandomize=True)
    @hypothesis.given(st.lists(alphabet, max_size=60), st.integers(0, 2**32))
    def check(pieces: list[str], seed: int) -> None:
        text = "".join(pieces)
        result = stream(text, random.Random(seed), p_render=0.5, max_delta=4)
        assert result.html == render_markdown(text)

    check()


# --- each block is sent once --------------------------------------------------------------


def test_each_frozen_block_is_sent_once_and_never_changes() -> None:
    text = "# Title\n\nFirst paragraph.\n\n- a\n- b\n\nLast paragraph.\n"
    sm = StreamingMarkdown()
    sm.append("# Title\n\nFirst")
    assert sm.render().frozen == ""  # final only once the next block's first line is complete
    sm.append(" paragraph.\n\n- a")
    first = sm.render()
    assert first.frozen == "<h1>Title</h1>\n"  # "- a" is still being typed
    assert sm.render() == Frame("", first.tail)  # nothing new: nothing re-sent
    sm.append("\n- b\n\nLast")
    second = sm.render()
    assert second.frozen == "<p>First paragraph.</p>\n"  # the list waits for "Last\n"
    sm.append(" paragraph.\n")
    end = sm.finish()
    assert end == Frame("<ul>\n<li>a</li>\n<li>b</li>\n</ul>\n<p>Last paragraph.</p>\n", "")
    pieces = [first.frozen, second.frozen, end.frozen]
    assert "".join(pieces) == render_markdown(text)
    assert sm.text == text


def test_a_block_waits_for_the_first_line_of_the_next_one() -> None:
    sm = StreamingMarkdown()
    sm.append("Intro paragraph.\n\nNext")
    assert sm.render().frozen == ""  # "Next" may still become a setext underline's text
    sm.append(" line\n")
    assert sm.render().frozen == "<p>Intro paragraph.</p>\n"


def test_a_table_after_a_paragraph_waits_for_its_delimiter_row() -> None:
    sm = StreamingMarkdown()
    sm.append("text\n| a | b |\n|---|---")
    assert sm.render().frozen == ""  # "|---|---|---" would make it all one paragraph
    sm.append("|---|\nx\n")
    assert sm.finish().frozen == render_markdown(sm.text)
    assert "<table>" not in render_markdown(sm.text)


def test_finish_after_finish_and_append_after_finish() -> None:
    sm = StreamingMarkdown()
    sm.append("hi")
    assert sm.finish() == Frame("<p>hi</p>\n", "")
    assert sm.finish() == Frame("", "")
    assert sm.render() == Frame("", "")
    with pytest.raises(RuntimeError):
        sm.append("more")


def test_line_endings_split_across_deltas() -> None:
    sm = StreamingMarkdown()
    frozen = []
    for delta in ["a\r", "\nb\r", "\r", "c\r"]:
        sm.append(delta)
        frozen.append(sm.render().frozen)
    frozen.append(sm.finish().frozen)
    assert sm.text == "a\nb\n\nc\n"
    assert "".join(frozen) == render_markdown("a\r\nb\r\rc\r")


# --- references ---------------------------------------------------------------------------


def test_reference_defined_before_use_needs_no_replace() -> None:
    text = "[docs]: https://docs.example\n\nRead [the docs][docs] now.\n\nMore text.\n"
    result = stream(text, random.Random(2), p_render=1.0, max_delta=3)
    assert not result.final.replace
    assert result.html == render_markdown(text)
    assert 'href="https://docs.example"' in result.html


def test_reference_defined_after_use_replaces_everything_at_the_end() -> None:
    text = "Read [the docs][docs] now.\n\nMore text.\n\n[docs]: https://docs.example\n"
    result = stream(text, random.Random(2), p_render=1.0, max_delta=3)
    assert result.final.replace and result.final.tail == ""
    assert result.final.frozen == render_markdown(text)
    assert 'href="https://docs.example"' in result.final.frozen


def test_unused_late_reference_needs_no_replace() -> None:
    text = "Plain text.\n\nMore text.\n\n[unused]: https://x.example\n"
    result = stream(text, random.Random(2), p_render=1.0, max_delta=3)
    assert not result.final.replace and result.html == render_markdown(text)


# --- the tail is repaired for display -----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Some **bold te", "Some bold te"),
        ("Some *ital", "Some ital"),
        ("Some _ital", "Some ital"),
        ("Some ~~stri", "Some stri"),
        ("Use `code sp", "Use code sp"),
        ("Use ``code ` sp", "Use code ` sp"),
        ("**Note:", "Note:"),
        ("**bold** and **", "bold and"),
        ("See [the docs](https://exa", "See the docs"),
        ("See [the docs", "See"),
        ("See [the docs]", "See"),
        ("Pic ![alt](https://exa", "Pic"),
        ("Go <https://exa", "Go"),
        ("where $x^", "where"),
        ("where \\(x^", "where"),
        ("It costs $5 and $10 per", "It costs $5 and $10 per"),
        ("It costs $5", "It costs"),
        ("snake_ca", "snake_ca"),
        ("- ", ""),
        ("1.", ""),
        ("#", ""),
        (">", ""),
        ("para\n-", "para"),
        ("``", ""),
        ("```pyth", ""),
        ("| a | b |\n", ""),
        ("| a | b |\n|---|--", ""),
        ("a | b\n--|-", ""),
        ("| a | b |\n|---|---|\n| 1 | 2", "a b"),
        ("[ref]: https://exa", ""),
        ("$$\n\\frac{a}{b}", "\\frac{a}{b}"),
        ("\\[\nx^2", "x^2"),
        ("- [ ", ""),
    ],
)
def test_tail_shows_no_markup_that_would_vanish(text: str, shown: str) -> None:
    assert visible_text(tail_after(text)) == shown


def test_unclosed_fence_renders_as_code_to_the_end() -> None:
    tail = tail_after("Intro\n\n```python\nprint(1)\nx = [")
    assert '<div class="cnb-code" data-lang="python">' in tail
    assert visible_text(tail).endswith("python print(1) x = [")


def test_closing_fence_being_typed_is_not_shown_as_code() -> None:
    sm = StreamingMarkdown()
    sm.append("```python\nprint(1)\n")
    sm.render()  # enters the open-fence fast path
    sm.append("``")
    assert visible_text(sm.render().tail) == "python print(1)"


def test_repair_closes_openers_in_order() -> None:
    assert repair_inline("**a *b") == "**a *b***"
    assert repair_inline("a `code") == "a `code`"
    assert repair_inline("**see `x") == "**see `x`**"
    assert repair_inline("2*3") == "2*3"  # intraword: left literal
    assert repair_inline("[t](https://x") == "t"


def test_an_unclosed_bracket_holds_back_only_a_bounded_run() -> None:
    # "[" may still become a link, so a short run after it waits for "](" ...
    assert visible_text(tail_after("The interval [2, 5) is open")) == "The interval"
    # ... but not for ever: the rest of the paragraph shows once the run is long.
    rest = " and 5 is not in it, because the bracket on the right is a parenthesis." * 4
    shown = visible_text(tail_after("The interval [2, 5) is open" + rest))
    assert shown == ("The interval [2, 5) is open" + rest).strip()
    # the same bound for "[text][" (a reference link whose label never closes)
    shown = visible_text(tail_after("Pairs [a][b" + rest))
    assert shown.startswith("Pairs [a][b and 5 is not in it")


def test_a_long_line_starting_with_a_bracket_is_not_held_as_a_reference() -> None:
    line = "[2, 5) is the interval we need, and it goes on" + " and on" * 40
    assert visible_text(tail_after(line)).endswith("and on")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Some **bold te", "<p>Some <strong>bold te</strong></p>\n"),
        ("Use `code sp", "<p>Use <code>code sp</code></p>\n"),
        ("See [the docs](https://exa", "<p>See the docs</p>\n"),
        ("Some **bold** and **", "<p>Some <strong>bold</strong> and **</p>\n"),
        ("It costs $", "<p>It costs $</p>\n"),
        ("See [the docs", "<p>See [the docs</p>\n"),
        ("# Head **line", "<h1>Head <strong>line</strong></h1>\n"),
        ("| a | b |\n", "<p>| a | b |</p>\n"),
    ],
)
def test_a_cut_off_answer_ends_with_the_live_repair(text: str, shown: str) -> None:
    sm = StreamingMarkdown()
    sm.append(text)
    sm.render()
    assert sm.finish(cut=True).frozen == shown


def test_a_cut_off_answer_keeps_its_frozen_blocks_and_repairs_only_the_tail() -> None:
    text = "Para **one** done.\n\nPara **two"
    sm = StreamingMarkdown()
    frames = []
    for ch in text:
        sm.append(ch)
        frames.append(sm.render())
    final = sm.finish(cut=True)
    html = "".join(f.frozen for f in frames) + final.frozen
    assert html == "<p>Para <strong>one</strong> done.</p>\n<p>Para <strong>two</strong></p>\n"


def test_a_complete_answer_ends_exactly_as_the_one_shot_render() -> None:
    for text in ("Some **bold te", "See [the docs", "| a | b |\n"):
        sm = StreamingMarkdown()
        sm.append(text)
        sm.render()
        assert sm.finish().frozen == render_markdown(text)


def test_pending_display_math_is_shown_as_plain_tex() -> None:
    assert '<pre class="cnb-math-pending">x^2</pre>' in tail_after("$$\nx^2")


@pytest.mark.parametrize(
    "text",
    [
        "Some **bold** text, `code`, a [link](https://example.com) and $x^2$.\n",
        "| a | b |\n|---|---|\n| `x` | **y** |\n| 1 | 2 |\n\nDone.\n",
        "1. **Step** one\n   - sub *item*\n2. Step two\n\n```bash\necho hi\n```\n",
        "> **Note:** quoted `code`\n> more\n\nAfter.\n",
        "Intro:\n- a\n- b\n\n## Heading\n\nIt costs $5 and $10.\n",
        "Display:\n\n$$\n\\sum_i x_i\n$$\n\nand \\(y\\).\n",
    ],
)
def test_no_frame_shows_text_that_later_vanishes(text: str) -> None:
    meter = FlickerMeter(render_markdown(text))
    for _, frame in paint_every_char(text):
        assert not meter.frame(frame.frozen, frame.tail), frame.tail


def test_flicker_on_a_realistic_answer_is_under_one_percent() -> None:
    text = llm_markdown(50_000, seed=7)
    meter = FlickerMeter(render_markdown(text))
    sm = StreamingMarkdown()
    for i in range(0, len(text), 4):
        sm.append(text[i : i + 4])
        if i % 20 == 0:
            frame = sm.render()
            meter.frame(frame.frozen, frame.tail)
    assert meter.frames > 2000
    assert meter.rate <= 0.01


# --- cost: O(n) over the whole answer, measured in characters parsed (not time) ----------


def _parsed_per_char(text: str) -> float:
    """Characters markdown-it parsed per character of ``text``, painting every 5 deltas."""
    md = create_markdown()
    parse = md.parse
    parsed = 0

    def counting_parse(src: str, env: dict[str, Any] | None = None) -> list[Token]:
        nonlocal parsed
        parsed += len(src)
        return parse(src, env)

    md.parse = counting_parse  # type: ignore[method-assign]
    sm = StreamingMarkdown(md)
    for i in range(0, len(text), 4):
        sm.append(text[i : i + 4])
        if i % 20 == 0:
            sm.render()
    sm.finish()
    return parsed / len(text)


@pytest.mark.parametrize(
    "text",
    [
        "| Name | Value |\n|---|---|\n"
        + "".join(f"| `p{i}` | **v{i}** [l](https://x.example/{i}) |\n" for i in range(300)),
        "".join(f"{i}. **Item {i}** with `code` and *emphasis*\n" for i in range(1, 300)),
        "".join(f"- item {i}\n  - sub *{i}*\n\n" for i in range(200)),
        "```python\n" + "".join(f"x_{i} = compute({i})  # note\n" for i in range(600)) + "```\n",
    ],
    ids=["table", "ordered-list", "loose-nested-list", "code-fence"],
)
def test_long_open_blocks_are_not_reparsed_on_every_paint(text: str) -> None:
    # A full re-parse per paint would parse ~len(text)/40 times each character here.
    assert _parsed_per_char(text) < 12


def test_long_open_blocks_still_end_exact_and_show_their_rows() -> None:
    table = "| a | b |\n|---|---|\n" + "".join(f"| {i} | *{i}* |\n" for i in range(50))
    sm = StreamingMarkdown()
    meter = FlickerMeter(render_markdown(table + "\nEnd.\n"))
    for i in range(0, len(table), 3):
        sm.append(table[i : i + 3])
        frame = sm.render()
        assert not meter.frame(frame.frozen, frame.tail)
    assert visible_text(sm.render().tail).endswith("48 48 49 49")
    sm.append("\nEnd.\n")
    assert sm.finish().frozen == render_markdown(table + "\nEnd.\n")  # nothing froze before


# --- the flicker metric -------------------------------------------------------------------


def test_visible_text_is_what_a_reader_sees() -> None:
    html = (
        '<p>a &amp; <strong>b</strong>\n <span class="cnb-math mathjax_process">\\(x^2\\)</span>'
        '</p>\n<div class="cnb-math-display mathjax_process">\\[y\\]</div>'
    )
    assert visible_text(html) == "a & b x^2 y"


def test_flicker_meter_counts_frames_that_are_not_a_prefix() -> None:
    meter = FlickerMeter("<p>Hello world</p>")
    assert not meter.frame("", "<p>Hel</p>")
    assert meter.frame("", "<p>**Hel</p>")
    assert not meter.frame("<p>Hello</p>\n", "<p>wor</p>")
    assert meter.frames == 3 and meter.flickers == 1
