"""Prompt variables: filled from the namespace, never breaking code, JSON or braces."""

import pandas as pd
import pytest

from claude_nb.errors import PromptError
from claude_nb.notebook.interp import interpolate
from claude_nb.render.markdown import render_markdown


def test_names_attributes_calls_and_format_specs_are_filled():
    ns = {"x": 3, "price": 2.5, "rows": [10, 20], "name": "Ada"}
    text = "{name} has {x} items at {price:.2f} each; first {rows[0]}, n={len(rows)}, {name!r}"
    assert interpolate(text, ns) == "Ada has 3 items at 2.50 each; first 10, n=2, 'Ada'"


@pytest.mark.parametrize(
    "text",
    [
        'Return {"a": 1, "b": [1, 2]} as JSON',
        "a dict comprehension {k: v for k, v in pairs}",
        "empty braces {} stay",
        "a set {1, 2, 3}",
        "a tuple-like {a, b}",
        "a literal {True}",
        "unbalanced { brace",
    ],
)
def test_braces_that_are_not_variables_stay_as_written(text):
    assert interpolate(text, {}) == text


def test_code_spans_and_fences_are_untouched():
    text = "Use `{undefined}` here\n```python\nd = {x: 1}\nprint(f'{y}')\n```\nand {v}"
    assert interpolate(text, {"v": 7}) == text.replace("{v}", "7")


def test_double_braces_escape():
    assert interpolate("{{x}} and {x}", {"x": 1}) == "{x} and 1"


def test_undefined_name_is_one_clear_error_before_sending():
    with pytest.raises(PromptError) as exc:
        interpolate("Summarise {report}", {})
    message = str(exc.value)
    assert "'report' is not defined" in message
    assert "{{report}}" in message and "--no-interp" in message


def test_expression_that_raises_names_it():
    with pytest.raises(PromptError, match=r"\{rows\[5\]\} in the prompt raised IndexError"):
        interpolate("{rows[5]}", {"rows": []})


def test_dataframes_become_markdown_tables_truncated_with_a_note():
    df = pd.DataFrame({"city": [f"c{i}" for i in range(100)], "sales": range(100)})
    text = interpolate("{df}", {"df": df})
    lines = text.splitlines()
    assert lines[0] == "|  | city | sales |"
    assert lines[1] == "|---|---|---|"
    assert "| 0 | c0 | 0 |" in lines and "| 99 | c99 | 99 |" in lines
    assert "60 of 100 rows not shown" in text
    assert "| 50 | c50 | 50 |" not in lines


def test_series_become_tables_and_pipes_are_escaped():
    s = pd.Series(["a|b", "c"], name="v")
    assert "a\\|b" in interpolate("{s}", {"s": s})


def test_a_table_in_mid_sentence_is_set_off_by_blank_lines():
    df = pd.DataFrame({"sales": [1, 2]})
    text = interpolate("Look at {df} and tell me what you see.", {"df": df})
    assert text.startswith("Look at\n\n|  | sales |\n")
    assert text.endswith("| 1 | 2 |\n\nand tell me what you see.")
    # rendered, the sentence's end is a paragraph of its own, not the table's last row
    html = render_markdown(text)
    assert "<p>and tell me what you see.</p>" in html
    assert "tell me" not in html[html.index("<table>") : html.index("</table>")]


def test_code_is_where_markdown_says_it_is():
    ns = {"v": 7}
    # "```x`" is not a fence (a backtick fence's info string has no backtick): prose
    assert interpolate("```x`\n{v}", ns) == "```x`\n7"
    # a line "```python" inside a fence does not close it
    text = "```\n{v}\n```python\n{v}\n```\n{v}"
    assert interpolate(text, ns) == "```\n{v}\n```python\n{v}\n```\n7"
    # a code span may run over a line break, and hold single backticks in a double one
    assert interpolate("`a\n{v}` and `` ` {v} `` and {v}", ns) == "`a\n{v}` and `` ` {v} `` and 7"


def test_xml_tags_around_a_fence_do_not_hide_it():
    text = "<instructions>\nUse {v} here:\n```python\nd = {x: 1}\n```\n</instructions>"
    assert interpolate(text, {"v": 7}) == text.replace("{v}", "7")
