"""Python functions as tools: the loop, failures of every kind, and what is kept afterwards."""

from __future__ import annotations

import time
from typing import Literal

import claude_nb
from claude_nb.notebook.tools import REGISTRY, to_tool_content


def run(shell, source):
    return shell.run_cell(source, store_history=False)


def posts(server):
    return [r.body for r in server.requests if r.path == "/v1/messages"]


def define(shell, **fns):
    shell.user_ns.update(fns)


def sales_total(region: Literal["north", "south"]) -> float:
    """Total sales of a region.

    Args:
        region: which region
    """
    return {"north": 10.5, "south": 3.0}[region]


def sales_count(region: Literal["north", "south"]) -> int:
    """Number of sales in a region."""
    return {"north": 4, "south": 2}[region]


def test_two_parallel_calls_run_and_both_results_go_back(shell, server):
    define(shell, sales_total=sales_total, sales_count=sales_count)
    assert run(shell, "%%claude --tools sales_total,sales_count --chat tools --new\nNorth?").success
    r = shell.user_ns["_claude"]
    assert [(c.name, c.input, c.result) for c in r.tool_calls] == [
        ("sales_total", {"region": "north"}, "10.5"),
        ("sales_count", {"region": "north"}, "4"),
    ]
    first, second = posts(server)
    assert len(first["tools"]) == 2
    results = second["messages"][-1]["content"]
    assert [b["type"] for b in results] == ["tool_result", "tool_result"]
    assert [b["content"] for b in results] == ["10.5", "4"]
    assert r.status == "complete" and len(r.messages) == 2 and "10.5" in r.text
    # the whole exchange is in the conversation, so the next cell can go on
    chat = shell.find_magic("claude").__self__.chats["tools"]
    roles = [m["role"] for m in chat.messages()]
    assert roles == ["user", "assistant", "user", "assistant"]
    assert run(shell, "%%claude --chat tools\nAnd south?").success
    assert [m["role"] for m in posts(server)[-1]["messages"]] == [
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
    ]


def test_a_tool_that_raises_sends_an_error_result_and_the_loop_goes_on(shell, server):
    def flaky(region: str) -> str:
        """Always fails."""
        raise RuntimeError("database is down")

    define(shell, flaky=flaky)
    assert run(shell, "%%claude --tools flaky\nTry it").success
    r = shell.user_ns["_claude"]
    (call,) = r.tool_calls
    assert (
        call.is_error and call.result == "RuntimeError: database is down" and call.status == "error"
    )
    result_block = posts(server)[1]["messages"][-1]["content"][0]
    assert result_block["is_error"] is True
    assert r.status == "complete" and "failed" in r.text
    html_out = r._repr_mimebundle_()["text/html"]
    assert "database is down" in html_out and "#dc2626" in html_out  # shown in red


def test_invalid_input_and_an_invented_tool_name(shell, server):
    def get_weather(city: str, days: int, unit: Literal["c", "f"]) -> str:
        """Weather forecast."""
        raise AssertionError("must not run with invalid input")

    define(shell, get_weather=get_weather, get_time=lambda: "12:00")  # get_time is NOT registered
    assert run(shell, "%%claude --tools get_weather --replay tool_use\nWeather?").success
    r = shell.user_ns["_claude"]
    calls = r.tool_calls
    assert [c.name for c in calls] == ["get_weather", "get_weather", "get_time"]
    assert all(c.is_error for c in calls)
    assert "Invalid input for get_weather: unit:" in calls[0].result
    assert calls[2].result.startswith("Unknown tool 'get_time'")  # never looked up in the namespace
    assert calls[2].status == "unknown"


def test_results_that_are_not_json_are_converted_and_said_so(shell, server):
    import pandas as pd

    def table(region: str) -> object:
        """A small table."""
        return pd.DataFrame({"month": ["jan", "feb"], "sales": [1, 2]})

    def weird(region: str) -> object:
        """An object."""
        return object()

    define(shell, table=table, weird=weird)
    assert run(shell, "%%claude --tools table,weird\nShow me").success
    calls = shell.user_ns["_claude"].tool_calls
    assert calls[0].result.startswith("|  | month | sales |")
    assert calls[1].result.startswith("<object object at")
    html_out = shell.user_ns["_claude"]._repr_mimebundle_()["text/html"]
    assert "DataFrame converted to a markdown table" in html_out
    assert "not JSON-serialisable: sent as str()" in html_out
    assert to_tool_content({"a": [1, 2]}) == ('{"a": [1, 2]}', "")


def test_max_turns_reached(shell, server):
    define(shell, sales_total=sales_total)
    r = run(shell, "%%claude --tools sales_total --max-turns 1\nNorth?")
    assert r.success
    res = shell.user_ns["_claude"]
    assert res.status == "max_turns"
    assert len(posts(server)) == 1 and res.tool_calls[0].result == "10.5"
    assert "maximum number of tool turns" in res._repr_mimebundle_()["text/plain"]


def test_interrupt_while_a_tool_runs(shell, server, interrupt_after):
    def slow(region: str) -> str:
        """Takes a while."""
        time.sleep(30)
        return "done"

    define(shell, slow=slow)
    interrupt_after(0.5)
    started = time.monotonic()
    r = run(shell, "%%claude --tools slow --chat slowchat --new\nGo")
    assert time.monotonic() - started < 10
    assert not r.success and isinstance(r.error_in_exec, KeyboardInterrupt)
    res = shell.user_ns["_claude"]
    assert res.interrupted
    (call,) = res.tool_calls
    assert call.is_error and call.result == "Interrupted by the user."
    assert "Interrupted" in res._repr_mimebundle_()["text/plain"]
    # the conversation stays valid: the dangling tool call is not kept
    chat = shell.find_magic("claude").__self__.chats["slowchat"]
    assert [m["role"] for m in chat.messages()] == ["user", "assistant"]
    assert all(b["type"] != "tool_use" for b in chat.messages()[1]["content"])


def test_confirm_asks_and_a_declined_call_is_an_error_result(shell, server, monkeypatch):
    define(shell, sales_total=sales_total, sales_count=sales_count)
    answers = iter(["y", "n"])
    asked = []

    def fake_input(prompt):
        asked.append(prompt)
        return next(answers)

    monkeypatch.setattr("builtins.input", fake_input)
    assert run(shell, "%%claude --tools sales_total,sales_count --confirm\nNorth?").success
    calls = shell.user_ns["_claude"].tool_calls
    assert 'sales_total({"region": "north"})' in asked[0]
    assert calls[0].result == "10.5" and not calls[0].is_error
    assert calls[1].is_error and calls[1].result == "The user declined to run this tool call."


def test_decorated_tools_and_all(shell, server):
    REGISTRY.clear()

    @claude_nb.tool
    def mean_of(column: str) -> float:
        """Mean of a column.

        Args:
            column: the column name
        """
        return 2.5

    assert mean_of("x") == 2.5  # still a plain function
    spec = REGISTRY["mean_of"].to_dict()
    assert spec["description"] == "Mean of a column."
    assert spec["input_schema"]["properties"]["column"]["description"] == "the column name"
    assert run(shell, "%%claude --tools all\nMean?").success
    assert shell.user_ns["_claude"].tool_calls[0].result == "2.5"
    assert run(shell, "%claude tools").success
    REGISTRY.clear()


def test_web_search_with_citations_and_pause_turn(shell, server):
    assert run(shell, "%%claude --web-search\npandas 3?").success
    r = shell.user_ns["_claude"]
    assert r.tool_calls[0].server and r.tool_calls[0].name == "web_search"
    assert posts(server)[-1]["tools"][0]["type"].startswith("web_search_")
    cited = [b for b in r.message.content if getattr(b, "citations", None)]
    assert cited and cited[0].citations[0].url.startswith("https://")
    assert run(shell, "%%claude --web-search --replay pause_turn\nlong research").success
    r = shell.user_ns["_claude"]
    assert len(r.messages) == 2 and r.messages[0].stop_reason == "pause_turn"
    assert r.stop_reason == "end_turn"
    second = posts(server)[-1]["messages"]
    assert second[-1]["role"] == "assistant"  # the paused turn was sent back as is
    history = r.to_messages()
    assert [m["role"] for m in history] == ["assistant"]  # paused turn + continuation = one turn


def test_a_tool_that_exits_is_an_error_result_like_any_other(shell, server):
    """SystemExit (any BaseException but KeyboardInterrupt) used to escape the magic."""

    def leave(region: str) -> str:
        """Calls sys.exit."""
        raise SystemExit(3)

    define(shell, leave=leave)
    r = run(shell, "%%claude --tools leave --chat exits --new\nGo")
    assert r.success
    res = shell.user_ns["_claude"]
    (call,) = res.tool_calls
    assert call.is_error and call.result == "SystemExit: 3" and call.status == "error"
    assert res.status == "complete" and len(res.messages) == 2  # the loop went on
    assert posts(server)[-1]["messages"][-1]["content"][0]["is_error"] is True
    chat = shell.find_magic("claude").__self__.chats["exits"]
    assert [m["role"] for m in chat.messages()] == ["user", "assistant", "user", "assistant"]


def test_what_a_tool_raises_is_not_called_invalid_input(shell, server):
    """Only the SDK's own argument check is 'invalid input'; a ValueError (or a pydantic
    error) the function raises is shown as `Type: message`."""
    import pydantic

    class Point(pydantic.BaseModel):
        x: int

    def parse_it(region: str) -> str:
        """Raises ValueError."""
        raise ValueError("boom")

    def model_it(region: str) -> str:
        """Validates a model of its own, which fails."""
        return str(Point(x=region))

    define(shell, parse_it=parse_it, model_it=model_it)
    assert run(shell, "%%claude --tools parse_it,model_it\nGo").success
    first, second = shell.user_ns["_claude"].tool_calls
    assert first.result == "ValueError: boom"
    assert second.result.startswith("ValidationError: 1 validation error for Point")
    assert not any("Invalid input" in c.result for c in (first, second))
