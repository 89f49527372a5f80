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
        # every option is checked before anything is sent
        ("%%claude --out 1bad\nq", "--out 1bad: not a variable name"),
        ("%%claude --out class\nq", "--out class: not a variable name"),
        ("%%claude --out get_ipython\nq", "IPython or claude_nb already uses that name"),
        ("%%claude --out _claude\nq", "IPython or claude_nb already uses that name"),
        ("%%claude --out _3\nq", "IPython or claude_nb already uses that name"),
        ("%%claude --out print\nq", "would hide Python's built-in print"),
        ("%%claude --out json_module\nq", "json_module already holds a module"),
        ("%%claude --record /no/such/folder/x.sse\nq", "the folder /no/such/folder does not exist"),
        ("%%claude --record .\nq", "--record .: that is a folder"),
        ("%%claude --record x.sse --dry-run\nq", "nothing is sent, so there is nothing to record"),
        (
            "%%claude --param model=other\nq",
            "--param model: set it with its own option (-m/--model)",
        ),
        ("%%claude --param max_tokens=5\nq", "its own option (--max-tokens)"),
        ("%%claude --param stream=false\nq", "--param stream"),
        ('%%claude --param \'output_config={"effort": "low"}\'\nq', "(--effort)"),
        ("%%claude --param output_config=3\nq", "expected a JSON object"),
        ("%%claude --speed abc\nq", "--speed abc: expected a number, 0 or more"),
        ("%%claude --speed -1\nq", "--speed -1: expected a number, 0 or more"),
        ("%%claude --speed nan\nq", "--speed nan: expected a number"),
        ("%%claude --timeout 0\nq", "--timeout 0: must be a positive number of seconds"),
        ("%%claude --timeout soon\nq", "--timeout soon: must be a positive number"),
        ("%%claude --deadline -3\nq", "--deadline -3: must be a positive number of seconds"),
        ("%%claude --deadline inf\nq", "--deadline inf: must be a positive number"),
        ("%%claude --max-turns 0\nq", "--max-turns 0: must be at least 1"),
        ("%%claude --replay no_such_transcript\nq", "unknown transcript 'no_such_transcript'"),
        ("%%claude --replay /no/such.sse\nq", "transcript file not found"),
        ("%%claude --fault bogus=1\nq", "--fault bogus=1:"),
        ("%%claude --quiet --plain\nq", "--quiet and --plain: choose one"),
        ("%%claude --stop ' '\nq", "--stop: a stop sequence needs a character"),
        ("%%claude -m 'two words'\nq", "a model id is one word"),
        ("%%claude --chat t --new --out print\nq", "would hide Python's built-in print"),
    ],
)
def test_bad_input_is_one_line_and_nothing_is_sent(shell, server, capsys, source, message):
    import json

    shell.user_ns["json_module"] = json
    before, calls = len(server.requests), len(magics(shell).ledger)
    chats = {name: len(chat) for name, chat in magics(shell).chats.items()}
    r = run(shell, source)
    assert not r.success
    err = capsys.readouterr()
    text = err.out + err.err
    assert message in text
    assert "Traceback" not in text
    assert len(server.requests) == before
    assert len(magics(shell).ledger) == calls  # no run, so no row
    assert {name: len(chat) for name, chat in magics(shell).chats.items()} == chats


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


def test_help_reads_in_sections(shell):
    doc = shell.find_magic("claude").__doc__
    sections = ["Request:", "Tools:", "Conversation and results:", "Time limits:", "Teaching:"]
    assert all(s in doc for s in sections)
    assert doc.index("Request:") < doc.index("--max-tokens N  ") < doc.index("Tools:")
    assert "--deadline SECONDS" in doc and "%claude usage" in doc  # subcommands listed at the end


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("%claude offline --speed abc", "--speed abc: expected a number, 0 or more"),
        ("%claude offline --speed -2", "--speed -2: expected a number, 0 or more"),
        ("%claude offline fast", "usage: %claude offline [--speed X]"),
        ("%claude usage of pandas", "%claude usage takes no arguments"),
        ("%claude reset a b", "usage: %claude reset [NAME]"),
        ("%claude history nobody", "no chat named 'nobody'"),
    ],
)
def test_subcommand_misuse_is_one_line(shell, server, capsys, line, message):
    r = run(shell, line)
    assert not r.success
    text = "".join(capsys.readouterr())
    assert message in text and "Traceback" not in text
    assert magics(shell).offline and server.running  # still offline, same server


def test_offline_subcommand_sets_the_pace_and_says_where(shell, server, capsys):
    import claude_nb

    assert run(shell, "%claude offline --speed=0.5").success
    assert server.speed == 0.5
    assert run(shell, "%claude offline --speed 0").success
    assert server.speed == 0
    out = capsys.readouterr().out
    assert server.url in out and "claude_nb.offline_url()" in out
    assert claude_nb.offline_url() == server.url  # the public way to reach it


def test_offline_only_options_are_refused_online(shell, server, capsys, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    run(shell, "%claude online")
    try:
        before = len(server.requests)
        r = run(shell, "%%claude --speed 2\nq")
        text = "".join(capsys.readouterr())
        assert not r.success and "--speed only applies to the offline server" in text
        assert len(server.requests) == before
    finally:
        run(shell, "%claude offline --speed 0")


def test_param_fields_without_an_option_go_through_and_output_config_merges(shell, server):
    src = (
        "%%claude --effort low --param top_k=5"
        ' --param \'output_config={"format": {"type": "json_schema", "schema": {"type": "object"}}}\''
        "\nq"
    )
    r = run(shell, src)
    body = last_body(server)
    assert body["top_k"] == 5
    assert body["output_config"]["effort"] == "low"
    assert body["output_config"]["format"]["type"] == "json_schema"
    assert r.success


def test_the_model_sent_is_the_model_shown(shell, server):
    """--param model=X used to send X while the header, _claude and the ledger said -m."""
    before = len(server.requests)
    r = run(shell, f"%%claude -m {OTHER_MODEL} --param model={THIRD_MODEL}\nq")
    assert not r.success and len(server.requests) == before
    assert run(shell, f"%%claude -m {OTHER_MODEL}\nq").success
    assert last_body(server)["model"] == OTHER_MODEL == shell.user_ns["_claude"].model
    assert magics(shell).ledger.calls[-1].model == OTHER_MODEL


def test_deadline_is_checked_and_handed_to_the_run(shell, server, monkeypatch):
    import claude_nb.notebook.magic as magic_module

    seen = []

    class Spy(magic_module.Run):
        def __init__(self, **kwargs):
            seen.append(kwargs.get("deadline"))
            super().__init__(**kwargs)

    monkeypatch.setattr(magic_module, "Run", Spy)
    assert run(shell, "%%claude --deadline 90\nq").success
    run(shell, "%config Claude.deadline = 30")
    try:
        assert run(shell, "%%claude\nq").success
        assert run(shell, "%%claude --deadline none\nq").success
        run(shell, "%config Claude.deadline = -1")
        assert not run(shell, "%%claude\nq").success  # a bad default is caught too
    finally:
        run(shell, "%config Claude.deadline = None")
    assert run(shell, "%%claude\nq").success
    assert seen == [90.0, 30.0, None, None]


def test_no_key_still_binds_a_failed_result(shell, server, monkeypatch, capsys):
    """A run that could not start is bound too: `_claude` never holds the previous run.
    (The key is read afresh: a client made while it was set is not reused once it is gone.)"""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    run(shell, "%claude online")
    try:
        assert run(shell, "%%claude\nan earlier question").success
        earlier = shell.user_ns["_claude"]
        for var in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_PROFILE"):
            monkeypatch.delenv(var, raising=False)
        before = len(server.requests)
        r = run(shell, "%%claude -o mine\nq")
        assert len(server.requests) == before
    finally:
        run(shell, "%claude offline --speed 0")
    assert not r.success
    res = shell.user_ns["_claude"]
    assert res is not earlier and res is shell.user_ns["mine"]
    assert res.status == "error" and res.failed
    assert "No API key" in res.error.line() and "%claude offline" in res.error.line()
    assert shell.user_ns["_claude_message"] is None
    text = "".join(capsys.readouterr())
    assert text.count("No API key") == 1 and "Traceback" not in text


def test_rerunning_the_cell_that_started_a_chat_keeps_the_later_turns(shell, server):
    m = magics(shell)
    run(shell, "%%claude --chat later --new\nfirst", cell_id="A")
    run(shell, "%%claude --chat later\nsecond", cell_id="B")
    run(shell, "%%claude --chat later\nthird", cell_id="C")
    assert run(shell, "%%claude --chat later --new\nfirst, edited", cell_id="A").success
    chat = m.chats["later"]
    assert [t.cell for t in chat.turns] == ["A", "B", "C"]
    assert chat.turns[0].user["content"] == "first, edited\n"
    assert last_body(server)["messages"] == [{"role": "user", "content": "first, edited\n"}]
    run(shell, "%%claude --chat later\nthird again", cell_id="C")  # sees A (edited) and B
    assert [msg["role"] for msg in last_body(server)["messages"]] == ["user", "assistant"] * 2 + [
        "user"
    ]
    # another cell with --new does start afresh
    assert run(shell, "%%claude --chat later --new\nstart over", cell_id="D").success
    assert [t.cell for t in chat.turns] == ["D"]


def test_usage_ledger_shows_itself_and_escapes_every_cell(shell, server):
    from claude_nb.notebook.ledger import Call, Ledger

    assert "no calls yet" in repr(Ledger()) and "no calls yet" in Ledger()._repr_html_()
    assert run(shell, "%%claude\nq").success
    ledger = magics(shell).ledger
    call = ledger.calls[-1]
    assert call.model == MODEL and call.status == "complete" and call.offline
    assert call.output_tokens > 0 and call.cost is None
    hostile = Ledger()
    hostile.calls.append(
        Call(
            when="<b>12:00</b>",
            model="<img src=x onerror=alert(1)>\x1b]52;c;AAAA\x07",
            status="<script>alert(1)</script>",
            input_tokens=10,
            output_tokens=5,
            cache_read_input_tokens=0,
            cache_creation_input_tokens=0,
            seconds=1.5,
            cost=0.001,
            offline=False,
        )
    )
    html_out = hostile._repr_html_()
    assert "<img" not in html_out and "<script" not in html_out and "<b>12" not in html_out
    assert "&lt;img src=x onerror=alert(1)&gt;" in html_out
    plain = repr(hostile)
    assert "\x1b" not in plain and "\x07" not in plain
    assert "0.0010" in plain and "total est. cost $0.0010" in plain
