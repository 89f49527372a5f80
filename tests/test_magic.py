"""The %%claude magic in a real IPython shell, against the offline server over real HTTP."""

from __future__ import annotations

import base64

import pytest
from sdk_facts import MODEL, OTHER_MODEL, THIRD_MODEL

SECRET = "sk-ant-api03-SECRET-never-show-me-0123456789"


def magics(sh):
    return sh.find_magic("claude").__self__


def run(shell, source, cell_id=None):
    return shell.run_cell(source, store_history=False, cell_id=cell_id)


def last_body(server):
    posts = [r for r in server.requests if r.path == "/v1/messages"]
    return posts[-1].body


def test_a_cell_streams_and_binds_the_result(shell, server, capsys):
    r = run(shell, "%%claude\nHow do I find outliers?")
    assert r.success and r.result is None  # no giant repr under the view
    out = capsys.readouterr().out
    ns = shell.user_ns
    assert ns["_claude"].status == "complete"
    assert ns["_claude_message"] is ns["_claude"].message
    assert ns["_claude_usage"] is ns["_claude"].message.usage
    assert ns["_claude"].text.splitlines()[0] in out
    assert "[OFFLINE]" in out
    assert last_body(server)["messages"] == [
        {"role": "user", "content": "How do I find outliers?\n"}
    ]


def test_line_form(shell, server):
    assert run(shell, "%claude What is 2 + 2?").success
    assert last_body(server)["messages"][0]["content"] == "What is 2 + 2?"


def test_every_request_option_reaches_the_api(shell, server):
    shell.user_ns["persona"] = "You are terse."
    src = (
        f"%%claude -m {OTHER_MODEL} --max-tokens 9000 --stop END --stop STOP -s persona"
        " --effort high --thinking 2048 --fast --param temperature=0.2 --param 'tags=[\"a\"]'\nq"
    )
    assert run(shell, src).success
    body = last_body(server)
    assert body["model"] == OTHER_MODEL and body["max_tokens"] == 9000
    assert body["stop_sequences"] == ["END", "STOP"]
    assert body["system"] == "You are terse."
    assert body["output_config"] == {"effort": "high"}
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["speed"] == "fast"
    assert body["temperature"] == 0.2 and body["tags"] == ["a"]
    assert body["stream"] is True
    assert run(shell, "%%claude --system 'Be brief.' --thinking adaptive\nq").success
    body = last_body(server)
    assert body["system"] == "Be brief." and body["thinking"] == {"type": "adaptive"}


def test_config_defaults_apply(shell, server):
    run(shell, "%config Claude.max_tokens = 1234")
    run(shell, f"%config Claude.model = {THIRD_MODEL!r}")
    try:
        run(shell, "%%claude\nq")
        body = last_body(server)
        assert body["max_tokens"] == 1234 and body["model"] == THIRD_MODEL
    finally:
        run(shell, "%config Claude.max_tokens = 4096")
        run(shell, f"%config Claude.model = {MODEL!r}")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("%%claude --bogus\nq", "unrecognized arguments: --bogus"),
        ("%%claude --max-tokens 0\nq", "--max-tokens 0: must be between 1"),
        ("%%claude --effort extreme\nq", "invalid choice: 'extreme'"),
        ("%%claude --thinking 100\nq", "at least 1024"),
        ("%%claude --tools no_such_fn\nq", "no function named 'no_such_fn'"),
        ("%%claude --param oops\nq", "expected KEY=VALUE"),
        ("%%claude --image /no/such.png\nq", "no such file"),
        ("%%claude --new\nq", "--new needs --chat"),
        ("%%claude\n   ", "the prompt is empty"),
        ("%%claude\nSummarise {report}", "'report' is not defined"),
    ],
)
def test_bad_input_is_one_line_and_nothing_is_sent(shell, server, capsys, source, message):
    before = len(server.requests)
    r = run(shell, source)
    assert not r.success
    err = capsys.readouterr()
    text = err.out + err.err
    assert message in text
    assert "Traceback" not in text
    assert len(server.requests) == before


def test_step_with_python_tools_is_refused_before_anything_is_sent(shell, server, capsys):
    def lookup(region: str) -> str:
        """Look a region up."""
        return region

    shell.user_ns["lookup"] = lookup
    before = len(server.requests)
    r = run(shell, "%%claude --step --tools lookup\nq")
    assert not r.success
    text = "".join(capsys.readouterr())
    assert "--step plays one response and cannot run your tools" in text
    assert "Traceback" not in text
    assert len(server.requests) == before


def test_prompt_variables_code_and_json(shell, server):
    shell.user_ns["n"] = 3
    src = '%%claude\nGive {n} tips. Reply as {"tips": [...]} and keep `{literal}` and {{braces}}.'
    assert run(shell, src).success
    sent = last_body(server)["messages"][0]["content"]
    assert sent == 'Give 3 tips. Reply as {"tips": [...]} and keep `{literal}` and {braces}.\n'
    assert run(shell, "%%claude --no-interp\nkeep {undefined_name}").success
    assert last_body(server)["messages"][0]["content"] == "keep {undefined_name}\n"


def test_dataframe_variables_become_tables(shell, server):
    import pandas as pd

    shell.user_ns["df"] = pd.DataFrame({"city": ["Oslo", "Lima"], "sales": [3, 4]})
    assert run(shell, "%%claude\nData:\n{df}").success
    assert "| 0 | Oslo | 3 |" in last_body(server)["messages"][0]["content"]


def test_bindings_after_max_tokens(shell, server):
    assert run(shell, "%%claude --replay max_tokens -o cut\nq").success
    cut = shell.user_ns["cut"]
    assert cut is shell.user_ns["_claude"]
    assert cut.stop_reason == "max_tokens" and cut.status == "complete" and cut.text


def test_bindings_after_an_error_event(shell, server, capsys):
    r = run(shell, "%%claude --replay error_midstream\nq")
    assert not r.success
    out = capsys.readouterr()
    assert "overloaded_error" in out.out + out.err and "Traceback" not in out.out + out.err
    res = shell.user_ns["_claude"]
    assert res.status == "error" and res.text.startswith("Sure!")
    assert shell.user_ns["_claude_message"].content[0].text == res.text


def test_http_errors_after_retries(shell, server, capsys):
    server.faults = "status=429;retry_after=0.01;times=10"
    try:
        r = run(shell, "%%claude\nq")
    finally:
        server.faults = None
    assert not r.success
    text = "".join(capsys.readouterr())
    assert "Rate limited (429) after 2 retries" in text
    assert shell.user_ns["_claude"].status == "error"
    assert len([x for x in server.requests if x.path == "/v1/messages"]) == 3


def test_interrupt_stops_at_once_and_keeps_the_partial_answer(
    shell, server, capsys, interrupt_after
):
    server.speed = 1
    interrupt_after(1.0)
    r = run(shell, "%%claude --replay long\nq")
    assert not r.success and isinstance(r.error_in_exec, KeyboardInterrupt)
    res = shell.user_ns["_claude"]
    assert res.interrupted and res.text
    assert len(res.text) < 20_000  # stopped early, not after the whole answer
    text = "".join(capsys.readouterr())
    assert "Interrupted" in text and "Traceback" not in text
    assert server.wait_idle(5)
    assert server.requests[-1].outcome == "client_disconnected"
    server.speed = 0
    assert run(shell, "%%claude\nstill alive?").success  # the shell stays usable


def test_chat_keeps_turns_and_rerun_replaces(shell, server):
    m = magics(shell)
    run(shell, "%%claude --chat t --new --replay thinking\nfirst question", cell_id="cell-A")
    run(shell, "%%claude --chat t\nsecond question", cell_id="cell-B")
    body = last_body(server)
    roles = [msg["role"] for msg in body["messages"]]
    assert roles == ["user", "assistant", "user"]
    # thinking blocks go back unchanged, signature included
    first_reply = body["messages"][1]["content"]
    assert first_reply[0]["type"] == "thinking" and first_reply[0]["signature"]
    run(
        shell, "%%claude --chat t\nsecond question, edited", cell_id="cell-B"
    )  # the same cell, re-run
    chat = m.chats["t"]
    assert len(chat) == 2
    assert chat.turns[1].user["content"] == "second question, edited\n"
    assert [msg["role"] for msg in last_body(server)["messages"]] == ["user", "assistant", "user"]
    assert run(shell, "%claude history t").success
    assert run(shell, "%claude reset t").success
    assert len(chat) == 0


def test_dry_run_sends_nothing_but_counts_tokens(shell, server, capsys):
    r = run(shell, "%%claude --dry-run --system hi\nHello there")
    assert r.success
    out = capsys.readouterr().out
    assert "input tokens:" in out and "nothing was sent" in out and '"system": "hi"' in out
    assert [x.path for x in server.requests] == ["/v1/messages/count_tokens"]


def test_images_and_pdfs(shell, server):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    fig, ax = plt.subplots()
    ax.plot([1, 2, 3])
    shell.user_ns.update(fig=fig, pic=Image.new("RGB", (4, 4)), pdf=b"%PDF-1.4 tiny")
    assert run(shell, "%%claude --image fig --image pic --file pdf\nWhat is this?").success
    content = last_body(server)["messages"][0]["content"]
    assert [b["type"] for b in content] == ["image", "image", "document", "text"]
    assert content[0]["source"]["media_type"] == "image/png"
    assert base64.b64decode(content[0]["source"]["data"]).startswith(b"\x89PNG")
    assert content[2]["source"]["media_type"] == "application/pdf"
    plt.close(fig)


def test_quiet_and_plain(shell, server, capsys):
    assert run(shell, "%%claude --quiet\nq").success
    assert capsys.readouterr().out == ""
    assert shell.user_ns["_claude"].complete


def test_usage_table(shell, server, capsys):
    run(shell, "%%claude\nq")
    assert run(shell, "%claude usage").success
    out = capsys.readouterr().out
    assert "est. cost" in out and MODEL in out


def test_no_api_key_is_one_clear_line(shell, server, monkeypatch, capsys):
    for var in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    run(shell, "%claude online")
    try:
        before = len(server.requests)
        r = run(shell, "%%claude\nq")
        text = "".join(capsys.readouterr())
        assert not r.success
        assert "No API key" in text and "ANTHROPIC_API_KEY" in text and "%claude offline" in text
        assert "Traceback" not in text
        assert len(server.requests) == before
    finally:
        run(shell, "%claude offline --speed 0")


def test_the_key_never_appears_in_any_output(shell, server, monkeypatch, capsys):
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    run(shell, "%claude online")
    try:
        assert run(shell, "%%claude --chat k\nhello").success
        server.faults = "status=401"
        run(shell, "%%claude\nhello")
        server.faults = None
        assert run(shell, "%%claude --dry-run\nhello").success
    finally:
        run(shell, "%claude offline --speed 0")
    res = shell.user_ns["_claude"]
    texts = [
        "".join(capsys.readouterr()),
        repr(res),
        str(res._repr_mimebundle_()),
        repr(magics(shell).chats),
        repr(magics(shell).ledger),
        str(shell.user_ns.get("_claude_request")),
        repr([r.headers for r in server.requests]),
    ]
    for text in texts:
        assert SECRET not in text
    # ...while the server really did receive it
    assert any(
        "REDACTED" in str(r.headers) or "redacted" in str(r.headers).lower()
        for r in server.requests
    )


def test_tools_run_only_when_registered(shell, server):
    shell.run_cell(
        "from typing import Literal\n"
        "def total_sales(region: Literal['north', 'south']) -> float:\n"
        "    '''Total sales of a region.\n\n    Args:\n        region: the region\n    '''\n"
        "    return {'north': 10.5, 'south': 3.0}[region]\n",
        store_history=False,
    )
    assert run(shell, "%%claude --tools total_sales\nNorth sales?").success
    res = shell.user_ns["_claude"]
    (call,) = res.tool_calls
    assert (
        call.name == "total_sales" and call.input == {"region": "north"} and call.result == "10.5"
    )
    assert len(res.messages) == 2 and res.text
    tools = last_body(server)["tools"]
    assert tools[0]["name"] == "total_sales"
    assert tools[0]["input_schema"]["properties"]["region"]["enum"] == ["north", "south"]


def test_an_internal_error_still_closes_binds_and_says_so(shell, server, capsys, monkeypatch):
    import claude_nb.notebook.runner

    def boom(*args, **kwargs):
        raise KeyError("bug")

    monkeypatch.setattr(claude_nb.notebook.runner, "apply_event", boom)
    r = run(shell, "%%claude\nq")
    assert not r.success
    text = "".join(capsys.readouterr())
    assert "claude_nb failed: KeyError" in text and "Traceback" not in text
    assert shell.user_ns["_claude"].status == "error"
    assert shell.user_ns["_claude"].error.kind == "internal_error"
