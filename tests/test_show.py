"""Any SDK stream rendered by claude_nb.show(): every transcript, every way a stream ends."""

from __future__ import annotations

import html.parser
import io
import re
import threading

import anthropic
import httpx2
import pytest
from markdown_it import MarkdownIt
from sdk_facts import MODEL

import claude_nb
from claude_nb import offline
from claude_nb.notebook.runner import Run
from claude_nb.render.visible import visible_text
from claude_nb.views.terminal import TerminalView

TRANSCRIPTS = offline.transcript_names()


def stream(client, name, **extra):
    return client.messages.stream(
        model=MODEL,
        max_tokens=32000,
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"x-claude-nb-transcript": name, **extra.pop("headers", {})},
        **extra,
    )


class Tags(html.parser.HTMLParser):
    """Every tag and attribute of an HTML fragment, to assert what can (not) run."""

    def __init__(self, text):
        super().__init__()
        self.tags, self.attrs = [], []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend((tag, k, v or "") for k, v in attrs)


@pytest.mark.parametrize("name", TRANSCRIPTS)
def test_every_transcript_renders_to_a_static_bundle(offline_client, name):
    with stream(offline_client, name) as s:
        result = claude_nb.show(s, view="quiet")
    bundle = result._repr_mimebundle_()
    assert set(bundle) == {"text/html", "text/markdown", "text/plain"}
    assert bundle["text/html"].startswith('<div class="cnb cnb-static mathjax_ignore"')
    assert result.message is not None
    if name == "error_midstream":
        assert result.status == "error" and result.error.kind == "overloaded_error"
        assert "mid-answer" in bundle["text/html"]
    else:
        assert result.status == "complete", result.error
        assert result.stop_reason == result.message.stop_reason
    # the answer's own text is all there in the plain view (citation marks aside)
    plain = re.sub(" [⁰¹²³⁴⁵⁶⁷⁸⁹˒]+", "", bundle["text/plain"])
    for line in result.text.splitlines():
        if line.strip():
            assert line in plain
    tags = Tags(bundle["text/html"])
    assert not {"script", "iframe", "svg", "style", "img", "object", "embed"} & set(tags.tags)
    assert not [a for a in tags.attrs if a[1].startswith("on")]


@pytest.mark.parametrize("name", ["thinking", "tool_use", "web_search"])
def test_a_raw_stream_and_a_message_stream_give_the_same_message(offline_client, name):
    """The state step accumulates the message itself: from a raw stream (accumulated once)
    or from a MessageStream (its synthesised events skipped, its own snapshot untouched)."""
    with stream(offline_client, name) as s:
        from_helper = claude_nb.show(s, view="quiet")
        sdk_final = s.get_final_message()
    raw = offline_client.messages.create(
        model=MODEL,
        max_tokens=32000,
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"x-claude-nb-transcript": name},
        stream=True,
    )
    with raw:
        from_raw = claude_nb.show(raw, view="quiet")
    assert from_helper.complete and from_raw.complete

    def same(message):  # every request gets its own id
        return {k: v for k, v in message.to_dict().items() if k != "id"}

    assert from_helper.message.to_dict() == sdk_final.to_dict()
    assert same(from_raw.message) == same(sdk_final)
    assert from_raw.text == from_helper.text and from_raw.thinking == from_helper.thinking
    assert from_raw.tool_calls == from_helper.tool_calls


def test_result_fields_for_a_thinking_answer(offline_client):
    with stream(offline_client, "thinking") as s:
        r = claude_nb.show(s, view="quiet")
    final = r.message
    assert r.thinking and r.thinking == final.content[0].thinking
    assert r.text == final.content[1].text
    assert r.usage is final.usage and r.usage.output_tokens > 0
    assert r.ttft is not None and r.duration >= r.ttft
    assert r.complete and not r.interrupted and not r.failed
    html_out = r._repr_mimebundle_()["text/html"]
    assert "cnb-thinking" in html_out and "Thought for" in html_out
    df = r.events_df()
    counts = df["delta_type"].value_counts().to_dict()
    assert (
        counts["thinking_delta"] > 1 and counts["text_delta"] > 1 and counts["signature_delta"] == 1
    )
    assert list(df["t"]) == sorted(df["t"])


def test_tool_calls_web_search_and_citations(offline_client):
    with stream(offline_client, "web_search") as s:
        r = claude_nb.show(s, view="quiet")
    (call,) = r.tool_calls
    assert call.server and call.name == "web_search" and call.input["query"]
    assert isinstance(call.result, list) and call.result[0].url.startswith("https://")
    out = r._repr_mimebundle_()
    assert "Sources" in out["text/html"] and "¹" in out["text/html"]
    assert 'href="https://pandas.pydata.org' in out["text/html"]
    assert "**Sources**" in out["text/markdown"]


def test_parallel_tool_calls_and_raw_json_kept(offline_client):
    with stream(offline_client, "tool_use") as s:
        r = claude_nb.show(s, view="quiet")
    names = [c.name for c in r.tool_calls]
    assert names == ["get_weather", "get_weather", "get_time"]
    assert r.tool_calls[2].input == {}
    assert r.tool_calls[0].input["city"] == "São Paulo"
    assert r.stop_reason == "tool_use"
    assert "stopped to use a tool" in r._repr_mimebundle_()["text/plain"]


def test_unknown_blocks_get_a_generic_panel(offline_client):
    with stream(offline_client, "unknown_block") as s:
        r = claude_nb.show(s, view="quiet")
    out = r._repr_mimebundle_()["text/html"]
    assert "cnb-generic" in out and "future_widget" in out


@pytest.mark.parametrize(
    ("name", "words"),
    [("max_tokens", "cut off: the answer hit max_tokens"), ("refusal", "declined to answer")],
)
def test_stop_reasons_are_called_out(offline_client, name, words):
    with stream(offline_client, name) as s:
        r = claude_nb.show(s, view="quiet")
    assert words in r._repr_mimebundle_()["text/plain"]


def test_xss_payloads_are_inert_in_every_representation(offline_client):
    with stream(offline_client, "xss") as s:
        r = claude_nb.show(s, view="quiet")
    bundle = r._repr_mimebundle_()
    assert "window.__cnb_xss" in r.text  # the payloads really were in the answer
    tags = Tags(bundle["text/html"])
    assert not {"script", "iframe", "svg", "img"} & set(tags.tags)
    hrefs = [v for t, k, v in tags.attrs if k == "href"]
    assert all(h.startswith(("https://", "http://", "mailto:", "#")) for h in hrefs), hrefs
    # a markdown renderer that lets raw HTML through (as live text/markdown outputs do)
    rendered = MarkdownIt("commonmark", {"html": True}).render(bundle["text/markdown"])
    md_tags = Tags(rendered)
    assert not {"script", "iframe", "svg", "img"} & set(md_tags.tags)
    assert not [a for a in md_tags.attrs if a[1].startswith("on") or "javascript:" in a[2].lower()]


def drop_or_stall(offline_server, spec, **client_kw):
    client = anthropic.Anthropic(
        base_url=offline_server.url, api_key="k", max_retries=0, **client_kw
    )
    try:
        with stream(client, "markdown", headers={"x-claude-nb-fault": spec}) as s:
            return claude_nb.show(s, view="quiet")
    finally:
        client.close()


def test_the_static_copy_of_a_cut_off_answer_shows_no_half_typed_markup(offline_client):
    # 34 events of the markdown transcript end inside "so **insp": an error cuts it there.
    fault = {"x-claude-nb-fault": "error_after=34"}
    with stream(offline_client, "markdown", headers=fault) as s:
        r = claude_nb.show(s, view="quiet")
    assert r.status == "error" and r.text.endswith("so **insp")
    html = r._repr_mimebundle_()["text/html"]
    assert "so <strong>insp</strong></p>" in html
    assert "**" not in visible_text(html)


def test_a_dropped_connection_keeps_the_partial_answer(offline_server):
    r = drop_or_stall(offline_server, "drop_after=30")
    assert r.status == "error" and r.error.kind == "connection_dropped"
    assert r.text and r.message.stop_reason is None


def test_a_stalled_stream_times_out_with_a_clear_line(offline_server):
    r = drop_or_stall(offline_server, "stall_after=20", timeout=httpx2.Timeout(0.5))
    assert r.status == "error" and r.error.kind == "timeout"
    assert "timed out" in r.error.line()
    assert r.text
    offline_server.wait_idle(5)
    assert offline_server.requests[-1].outcome in ("client_disconnected", "stalled")


def test_an_interrupt_keeps_the_partial_answer_and_closes_the_connection(offline_server):
    """A KeyboardInterrupt raised from inside the stream (as the kernel's stop button does)."""
    offline_server.speed = 1
    client = anthropic.Anthropic(base_url=offline_server.url, api_key="k", max_retries=0)
    run = Run(view="quiet")
    seen = 0

    def interrupting(events):
        nonlocal seen
        for e in events:
            seen += 1
            if seen == 25:
                raise KeyboardInterrupt
            yield e

    with stream(client, "long") as s:
        run.stream_turn(lambda: _Wrap(s, interrupting(s)))
    r = run.close()
    assert r.interrupted and r.text and r.message is not None
    assert offline_server.wait_idle(5)
    assert offline_server.requests[-1].outcome == "client_disconnected"
    client.close()


class _Wrap:
    def __init__(self, s, it):
        self.s, self.it = s, it

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.s.close()

    def __iter__(self):
        return self.it


def test_retries_are_announced_and_counted(offline_server):
    from claude_nb.notebook.runner import response_hook

    client = anthropic.Anthropic(
        base_url=offline_server.url,
        api_key="k",
        max_retries=2,
        http_client=anthropic.DefaultHttpxClient(event_hooks={"response": [response_hook]}),
    )
    run = Run(view="quiet", max_retries=2)
    notices = []
    original = run.http_response

    def spy(response):
        original(response)
        notices.append(run.state.notice)

    run.http_response = spy
    fault = {"x-claude-nb-fault": "status=529;retry_after=0.01;times=5"}
    ok = run.stream_turn(lambda: stream(client, "markdown", headers=fault))
    r = run.close()
    assert not ok and r.failed
    assert "529 overloaded: retrying in 0.01 s (retry 1 of 2)" in notices
    assert r.error.message == "Claude is overloaded (529) after 2 retries."
    client.close()


def test_terminal_view_streams_the_same_content(offline_client):
    out = io.StringIO()
    run = Run(view="quiet")
    run.view = TerminalView(run.state, run.layout, out=out, color=False)
    with stream(offline_client, "web_search") as s:
        run.show_stream(s)
    r = run.close()
    text = out.getvalue()
    assert r.text.splitlines()[-1] in text
    assert "🔧 web_search(" in text and "Sources:" in text and "tokens: in" in text


def test_no_threads_left_behind(offline_client):
    def ours():
        return [t for t in threading.enumerate() if not t.name.startswith("claude-nb-offline")]

    before = ours()
    for name in ("markdown", "thinking", "tool_use"):
        with stream(offline_client, name) as s:
            claude_nb.show(s, view="quiet")
    assert ours() == before
