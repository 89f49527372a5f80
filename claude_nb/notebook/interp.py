"""``{expr}`` in a prompt, filled from the notebook's namespace — without breaking on braces.

Prompts are full of code and JSON. So:
- nothing inside fenced code blocks or inline code spans is touched (where code is,
  markdown-it says: :func:`claude_nb.render.scan.code_ranges`, the scanner the saved
  markdown uses too);
- ``{{`` and ``}}`` stand for literal braces;
- a brace group is a variable only if its content is a Python expression that reads a
  name (``{df}``, ``{df.shape}``, ``{rows[0]}``, ``{len(df)}``, ``{price:.2f}``,
  ``{x!r}``); ``{"a": 1}``, ``{x: y for ...}``, ``{}`` and ``{1, 2}`` stay as written;
- a variable that is undefined or raises is one clear error, before anything is sent.

DataFrames and Series become markdown tables (long ones truncated, with a note), set
off by blank lines so a table in mid-sentence does not swallow the rest of it.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from claude_nb.errors import PromptError
from claude_nb.render.scan import code_ranges

FORMAT_SPEC = re.compile(r"^(.?[<>=^])?[+\- ]?z?#?0?\d*[,_]?(\.\d+)?[bcdeEfFgGnosxX%]?$")
MAX_ROWS = 40
MAX_COLS = 20
MAX_CELL = 200


class _Prompt:
    """The interpolated prompt as it is built; tables get a blank line on each side."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.after_block = False

    def add(self, text: str) -> None:
        if not text:
            return
        if self.after_block:
            text = text.lstrip(" \t")
            if not text:
                return
            self.after_block = False
            if not text.startswith("\n\n"):
                text = ("\n" if text.startswith("\n") else "\n\n") + text
        self.parts.append(text)

    def block(self, text: str) -> None:
        """A table: on its own, with blank lines around it."""
        before = "".join(self.parts).rstrip(" \t")
        if before and not before.endswith("\n\n"):
            before += "\n" if before.endswith("\n") else "\n\n"
        self.parts = [before, text]
        self.after_block = True

    def text(self) -> str:
        return "".join(self.parts)


def interpolate(prompt: str, namespace: dict[str, Any]) -> str:
    """The prompt with every ``{expr}`` outside code replaced by its value."""
    text, code = code_ranges(prompt)
    out = _Prompt()
    pos = 0
    for start, end in code:
        if start < pos:
            continue
        _prose(text[pos:start], namespace, out)
        out.add(text[start:end])
        pos = end
    _prose(text[pos:], namespace, out)
    return out.text()


def _prose(text: str, namespace: dict[str, Any], out: _Prompt) -> None:
    """Interpolate text outside code."""
    i, n = 0, len(text)
    run = 0  # start of the literal text not yet added
    while i < n:
        c = text[i]
        if c == "{":
            if text.startswith("{{", i):
                out.add(text[run:i] + "{")
                i = run = i + 2
                continue
            end = _matching_brace(text, i)
            if end is None:
                i += 1
                continue
            value = _field(text[i + 1 : end], namespace)
            if value is not None:
                out.add(text[run:i])
                if isinstance(value, _Table):
                    out.block(value)
                else:
                    out.add(value)
                run = end + 1
            i = end + 1
            continue
        if c == "}" and text.startswith("}}", i):
            out.add(text[run:i] + "}")
            i = run = i + 2
            continue
        i += 1
    out.add(text[run:])


class _Table(str):
    """A value that reads as a markdown table (a block of its own in the prompt)."""


def _matching_brace(s: str, start: int) -> int | None:
    """Index of the brace closing the one at ``start`` (nested braces and strings allowed)."""
    depth = 0
    quote: str | None = None
    i = start
    while i < len(s):
        c = s[i]
        if quote:
            if c == "\\":
                i += 2
                continue
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
        elif c == "\n":
            return None
        i += 1
    return None


def _split_field(inner: str) -> tuple[str, str | None, str]:
    """``expr!conv:spec`` -> (expr, conv, spec), splitting only at top level."""
    depth = 0
    quote: str | None = None
    for i, c in enumerate(inner):
        if quote:
            if c == quote:
                quote = None
            continue
        if c in "'\"":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif (
            depth == 0
            and c == "!"
            and inner[i + 1 : i + 2] in ("r", "s", "a")
            and inner[i + 2 : i + 3] in ("", ":")
        ):
            return inner[:i], inner[i + 1], inner[i + 3 :]
        elif depth == 0 and c == ":":
            return inner[:i], None, inner[i + 1 :]
    return inner, None, ""


def _field(inner: str, namespace: dict[str, Any]) -> str | None:
    """The text for ``{inner}``, or None when it is not a variable reference at all."""
    expr, conv, spec = _split_field(inner)
    source = expr.strip()
    if not source or (spec and not FORMAT_SPEC.match(spec)):
        return None
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError:
        return None
    if not _is_reference(tree.body):
        return None
    try:
        value = eval(compile(tree, "<prompt>", "eval"), namespace)  # the user's own notebook
    except NameError as exc:
        name = getattr(exc, "name", None) or source
        raise PromptError(
            f"{{{source}}} in the prompt: name {name!r} is not defined. Define it first,"
            f" write {{{{{source}}}}} for literal braces, or use --no-interp."
        ) from None
    except Exception as exc:
        raise PromptError(
            f"{{{source}}} in the prompt raised {type(exc).__name__}: {exc}."
            f" Fix the expression, write {{{{{source}}}}} for literal braces, or use --no-interp."
        ) from None
    if conv == "r":
        value = repr(value)
    elif conv == "a":
        value = ascii(value)
    if spec:
        try:
            return format(value, spec)
        except (TypeError, ValueError) as exc:
            raise PromptError(f"{{{inner}}} in the prompt: bad format spec ({exc}).") from None
    return to_prompt_text(value)


def _is_reference(node: ast.AST) -> bool:
    """An expression that reads at least one name and is not a literal display."""
    if isinstance(
        node, (ast.Dict, ast.Set, ast.Tuple, ast.List, ast.DictComp, ast.SetComp, ast.Lambda)
    ):
        return False
    return any(isinstance(n, ast.Name) for n in ast.walk(node))


def to_prompt_text(value: Any) -> str:
    """How a value reads in a prompt: tables for pandas objects, ``str`` for the rest."""
    kind = type(value).__name__
    module = type(value).__module__
    if module.startswith("pandas") and kind in ("DataFrame", "Series"):
        return _Table(dataframe_markdown(value.to_frame() if kind == "Series" else value))
    return str(value)


def dataframe_markdown(df: Any, max_rows: int = MAX_ROWS, max_cols: int = MAX_COLS) -> str:
    """A markdown table of a DataFrame, head and tail of long ones, with a note on what was cut."""
    rows, cols = df.shape
    note = []
    if cols > max_cols:
        df = df.iloc[:, :max_cols]
        note.append(f"{cols - max_cols} more columns not shown")
    if rows > max_rows:
        half = max_rows // 2
        shown = [*range(half), *range(rows - half, rows)]
        body = df.iloc[shown]
        note.insert(0, f"{rows - max_rows} of {rows} rows not shown")
    else:
        body = df
        half = -1

    def cell(v: Any) -> str:
        text = str(v).replace("|", "\\|").replace("\n", " ")
        return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"

    index_name = df.index.name or ""
    header = [str(index_name)] + [cell(c) for c in body.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for i, (idx, row) in enumerate(body.iterrows()):
        if i == half:
            lines.append("| … |" + " … |" * len(body.columns))
        lines.append("| " + " | ".join([cell(idx)] + [cell(v) for v in row.tolist()]) + " |")
    table = "\n".join(lines)
    if note:
        table += f"\n\n({'; '.join(note)}; shape {rows} x {cols})"
    return table
