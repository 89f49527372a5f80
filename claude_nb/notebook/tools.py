"""Python functions as Claude tools: registration, schemas, and running a requested call.

Schemas and argument validation come from the SDK's own ``anthropic.beta_tool`` (the
signature's type hints through pydantic, parameter descriptions from the docstring).
We do not use ``client.beta.messages.tool_runner``: it runs tools inside its own loop,
where we could not show each call live, ask for confirmation, or stop cleanly on an
interrupt; :mod:`claude_nb.notebook.tool_loop` drives the classic full-history loop itself.

Only registered functions ever run. A name Claude invents gets an error result; it is
never looked up in the notebook's namespace.
"""

from __future__ import annotations

import builtins
import json
import time
from collections.abc import Callable
from typing import Any

import anthropic
import pydantic

from claude_nb.errors import UsageError
from claude_nb.notebook.interp import dataframe_markdown
from claude_nb.render.segments import truncate
from claude_nb.stream.state import ToolRun

REGISTRY: dict[str, Any] = {}  # name -> anthropic BetaFunctionTool, filled by @tool


def tool(
    func: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
) -> Any:
    """Register a function as a tool Claude may call (``--tools name`` or ``--tools all``).

    The function itself is returned unchanged, so it stays callable as before::

        @claude_nb.tool
        def mean_of(column: str) -> float:
            '''Mean of a column of the sales table.

            Args:
                column: the column name
            '''
    """

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        wrapped = as_tool(fn, name=name, description=description)
        REGISTRY[wrapped.name] = wrapped
        fn.__claude_tool__ = wrapped  # type: ignore[attr-defined]
        return fn

    return register(func) if func is not None else register


def as_tool(
    fn: Callable[..., Any], *, name: str | None = None, description: str | None = None
) -> Any:
    existing = getattr(fn, "__claude_tool__", None)
    if existing is not None and name is None and description is None:
        return existing
    try:
        return anthropic.beta_tool(fn, name=name, description=description)
    except Exception as exc:
        raise UsageError(
            f"cannot make a tool of {getattr(fn, '__name__', fn)!r}: {exc}. Give every parameter a type hint"
            " that pydantic understands (str, int, float, bool, list[...], dict, Literal...)."
        ) from None


def resolve(names: list[str], namespace: dict[str, Any]) -> dict[str, Any]:
    """The tools named on the magic line: registered ones, or functions in the namespace."""
    tools: dict[str, Any] = {}
    for name in names:
        if name in ("all", "*"):
            tools.update(REGISTRY)
            continue
        if name in REGISTRY:
            tools[name] = REGISTRY[name]
            continue
        fn = namespace.get(name)
        if fn is None:
            known = ", ".join(sorted(REGISTRY)) or "none registered"
            raise UsageError(
                f"--tools: no function named {name!r} in the notebook (registered tools: {known})."
            )
        if not callable(fn):
            raise UsageError(f"--tools: {name!r} is a {type(fn).__name__}, not a function.")
        wrapped = as_tool(fn)
        tools[wrapped.name] = wrapped
    return tools


def tool_params(tools: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``tools`` request entries (GA ``messages.stream`` wants plain dicts)."""
    return [dict(t.to_dict()) for t in tools.values()]


def run_call(
    use: Any,
    tools: dict[str, Any],
    *,
    confirm: bool = False,
    ask: Callable[[str], str] | None = None,
    on_start: Callable[[ToolRun], None] | None = None,
) -> ToolRun:
    """Run one ``tool_use`` block; every failure becomes an ``is_error`` result, never an exception.

    A ``KeyboardInterrupt`` is the exception: it propagates, so the loop can stop cleanly.
    """
    run = ToolRun(tool_use_id=use.id, name=use.name, input=use.input)
    fn = tools.get(use.name)
    if fn is None:
        known = ", ".join(sorted(tools)) or "none"
        return _fail(
            run,
            f"Unknown tool {use.name!r}: only registered tools can run (available: {known}).",
            "unknown",
        )
    if confirm:
        args = json.dumps(use.input, ensure_ascii=False, default=str)
        try:
            answer = (ask or builtins.input)(
                f"Claude wants to run {use.name}({args}). Run it? [y/N] "
            )
        except (OSError, EOFError, RuntimeError) as exc:  # no stdin (e.g. a headless run)
            return _fail(run, f"Not run: --confirm could not ask the user ({exc}).", "declined")
        if answer.strip().lower() not in ("y", "yes"):
            return _fail(run, "The user declined to run this tool call.", "declined")
    run.status = "running"
    run.started = time.perf_counter()
    if on_start is not None:
        on_start(run)
    try:
        value = fn.call(use.input)
    except KeyboardInterrupt:
        run.status = "error"
        run.is_error = True
        run.ended = time.perf_counter()
        run.content = run.display = "Interrupted by the user."
        raise
    except BaseException as exc:  # SystemExit too: whatever the function does, it is a result
        checked = _argument_check(fn, exc)
        if checked is not None:
            return _fail(
                run, f"Invalid input for {use.name}: {_validation_detail(checked)}", "error"
            )
        raised = _wrapped_error(fn, exc) or exc
        return _fail(run, f"{type(raised).__name__}: {raised}", "error")
    run.ended = time.perf_counter()
    run.content, run.note = to_tool_content(value)
    run.display = truncate(
        run.content if isinstance(run.content, str) else json.dumps(run.content, default=str)
    )
    run.status = "done"
    return run


def to_tool_content(value: Any) -> tuple[Any, str]:
    """(content for the API, a note on any conversion) for whatever a tool returned."""
    if isinstance(value, str):
        return value, ""
    kind = type(value).__name__
    if type(value).__module__.startswith("pandas") and kind in ("DataFrame", "Series"):
        frame = value.to_frame() if kind == "Series" else value
        return dataframe_markdown(frame), f"{kind} converted to a markdown table"
    if (
        isinstance(value, list)
        and value
        and all(isinstance(b, dict) and "type" in b for b in value)
    ):
        return value, ""  # already content blocks (text / image)
    try:
        return json.dumps(value, ensure_ascii=False), ""
    except (TypeError, ValueError):
        return str(value), f"{kind} is not JSON-serialisable: sent as str()"


def result_block(run: ToolRun) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "tool_result",
        "tool_use_id": run.tool_use_id,
        "content": run.content,
    }
    if run.is_error:
        block["is_error"] = True
    return block


def _fail(run: ToolRun, message: str, status: str) -> ToolRun:
    run.status = status
    run.is_error = True
    run.content = run.display = message
    if run.started is not None:
        run.ended = time.perf_counter()
    return run


def _wrapped_error(fn: Any, exc: BaseException) -> pydantic.ValidationError | None:
    """The pydantic error inside ``BetaFunctionTool.call``'s ``ValueError`` wrapper, if any."""
    cause = exc.__cause__
    if (
        type(exc) is ValueError
        and str(exc) == f"Invalid arguments for function {fn.name}"
        and isinstance(cause, pydantic.ValidationError)
    ):
        return cause
    return None


def _argument_check(fn: Any, exc: BaseException) -> pydantic.ValidationError | None:
    """The SDK's own argument check, if that is what failed (the function never ran).

    The SDK wraps every pydantic error in one ``ValueError``, its argument check's and one
    the function raised itself (a model of its own failing); pydantic titles an argument
    failure with the function's (qualified) name, a model's with the model's.
    """
    wrapped = _wrapped_error(fn, exc)
    names = (getattr(fn.func, "__qualname__", None), getattr(fn.func, "__name__", None))
    return wrapped if wrapped is not None and wrapped.title in names else None


def _validation_detail(exc: pydantic.ValidationError) -> str:
    parts = []
    for e in exc.errors():
        loc = ".".join(str(x) for x in e.get("loc", ())) or "input"
        parts.append(f"{loc}: {e.get('msg')}")
    return "; ".join(parts) or str(exc)
