"""Conversations are plain objects: ordered turns, re-runs replace, history stays valid."""

from claude_nb.notebook.chat import Chat


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
    md = chat._repr_markdown_()
    assert "Chat `c`" in md and "&lt;b>hi&lt;/b>" in md and "hello" in md


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
