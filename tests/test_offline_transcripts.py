"""Shipped transcripts, the .sse format, TranscriptBuilder, selection and cutting (no HTTP)."""

from __future__ import annotations

import itertools
import json
import re
import time
from pathlib import Path

import pytest

from claude_nb import offline
from claude_nb.offline.builder import TranscriptBuilder, text_transcript
from claude_nb.offline.format import TranscriptError, load_transcript, parse_sse
from claude_nb.offline.replay import StreamPlan
from claude_nb.offline.replay import replay as render
from claude_nb.offline.schema_values import Question, fill_object
from claude_nb.offline.selection import match_topic, select_transcript
from claude_nb.offline.tokens import estimate_input_tokens, estimate_output_tokens

REQUIRED = {
    "markdown",
    "thinking",
    "redacted_thinking",
    "tool_use",
    "tool_use_empty",
    "tool_followup",
    "web_search",
    "pause_turn",
    "pause_turn_continue",
    "max_tokens",
    "refusal",
    "stop_sequence",
    "error_midstream",
    "xss",
    "unknown_block",
    "code_execution",
    "long",
    "groupby",
    "charts",
    "model_checks",
    "cleaning",
}
TRANSCRIPT_DIR = Path(offline.__file__).parent / "transcripts"


def user(text: str = "hi") -> dict:
    return {"role": "user", "content": text}


def text_deltas(name: str) -> list[str]:
    return [
        e.data["delta"]["text"]
        for e in load_transcript(name).events
        if e.event == "content_block_delta" and e.data["delta"]["type"] == "text_delta"
    ]


# --------------------------------------------------------------------------- shipped files


def test_required_transcripts_are_shipped() -> None:
    assert set(offline.transcript_names()) >= REQUIRED


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_transcript_is_well_formed(name: str) -> None:
    raw = (TRANSCRIPT_DIR / f"{name}.sse").read_text(encoding="utf-8")
    assert raw.endswith("}\n\n"), "every file ends with the terminating blank line"
    t = load_transcript(name)
    assert t.description
    events = t.dicts()
    assert events[0]["type"] == "message_start"
    assert re.fullmatch(r"msg_01[1-9A-Za-z]{22}", events[0]["message"]["id"])
    open_blocks: set[int] = set()
    for e in events:
        if e["type"] == "content_block_start":
            assert e["index"] not in open_blocks
            open_blocks.add(e["index"])
            block = e["content_block"]
            if block["type"] == "tool_use":
                assert re.fullmatch(r"toolu_01\w{22}", block["id"])
            if block["type"] == "server_tool_use":
                assert re.fullmatch(r"srvtoolu_01\w{22}", block["id"])
        elif e["type"] in ("content_block_delta", "content_block_stop"):
            assert e["index"] in open_blocks
            if e["type"] == "content_block_stop":
                open_blocks.remove(e["index"])
    starts = [i for i, e in enumerate(events) if e["type"] == "content_block_start"]
    if starts:
        assert events[starts[0] + 1]["type"] == "ping", (
            "ping right after the first block start, like the API"
        )
    if name == "error_midstream":
        assert events[-1]["type"] == "error"
        assert events[-1]["error"] == {"type": "overloaded_error", "message": "Overloaded"}
        assert all(e["type"] != "message_stop" for e in events)
    else:
        assert not open_blocks
        assert [e["type"] for e in events[-2:]] == ["message_delta", "message_stop"]
        usage = events[-2]["usage"]
        assert usage["output_tokens"] == estimate_output_tokens(t.content_chars())


def test_transcripts_keep_wire_padding() -> None:
    raw = (TRANSCRIPT_DIR / "markdown.sse").read_text(encoding="utf-8")
    assert re.search(r'"\}\s{2,}\}\n', raw), "JSON padded with spaces before the last brace"


def test_markdown_transcript_covers_the_renderer_edge_cases() -> None:
    deltas = text_deltas("markdown")
    text = "".join(deltas)
    assert 3000 <= len(text.encode()) <= 5000
    for needle in (
        "\n# ",
        "\n## ",
        "\n- ",
        "\n1. ",
        "|---|",
        "```python",
        "```sql",
        "$x^2$",
        "\\(",
        "$$\n",
    ):
        assert needle in "\n" + text, needle
    assert "costs $5 and $10 per month" in text
    for needle in (
        "**",
        "*data-entry errors*",
        "`df.plot.hist(bins=50)`",
        "](https://",
        "\n> ",
        "café",
        "外れ値",
        "📊",
        "👩\u200d🔬",
        "1️⃣",
    ):
        assert needle in text, needle
    assert all(1 <= len(d) <= 12 for d in deltas)
    pairs = list(itertools.pairwise(deltas))
    assert any(a.endswith("👩") and b.startswith("\u200d") for a, b in pairs), "ZWJ sequence split"
    assert any(a.endswith("1️") and b.startswith("⃣") for a, b in pairs), "keycap split"
    assert any(a.endswith("*") and b.startswith("*") for a, b in pairs), "bold marker split"
    assert any(a.endswith("``") and b.startswith("`") for a, b in pairs), "fence backticks split"
    assert any(a.endswith("| ") and b.startswith("I") for a, b in pairs), "table row split"
    assert any(a.endswith("/modul") and b.startswith("e") for a, b in pairs), "URL split"


def test_long_transcript_is_big_markdown() -> None:
    text = "".join(text_deltas("long"))
    assert len(text.encode()) >= 60_000
    assert (
        text.count("\n## ") >= 20
        and "```python" in text
        and "```sql" in text
        and "$$" in text
        and "|---|" in text
    )


def test_xss_transcript_contains_every_attack() -> None:
    text = "".join(text_deltas("xss"))
    for needle in (
        '<img src=x onerror="window.__cnb_xss=1">',
        "<script>window.__cnb_xss=2</script>",
        "[click](javascript:window.__cnb_xss=3)",
        '<a href="javascript:',
        "<iframe",
        "<svg onload=",
        "](data:text/html",
    ):
        assert needle in text


def test_tool_use_transcript_splits_json_mid_token() -> None:
    t = load_transcript("tool_use")
    partials: dict[int, list[str]] = {}
    names = {}
    for e in t.dicts():
        if e["type"] == "content_block_start" and e["content_block"]["type"] == "tool_use":
            names[e["index"]] = e["content_block"]["name"]
        if e["type"] == "content_block_delta" and e["delta"]["type"] == "input_json_delta":
            partials.setdefault(e["index"], []).append(e["delta"]["partial_json"])
    assert list(names.values()) == ["get_weather", "get_weather", "get_time"]
    inputs = [json.loads("".join(p) or "{}") for p in partials.values()]
    assert inputs == [
        {"city": "São Paulo", "days": 12, "unit": "celsius"},
        {"city": "Tokyo", "days": 3, "unit": "celsius"},
        {},
    ]
    first = partials[min(partials)]
    assert '{"ci' in first and 'ys": 1' in first, "split inside a key and inside a number"
    assert partials[max(partials)] == [""], "empty input streams a single empty partial_json"


# --------------------------------------------------------------------------- format


def test_parse_sse_reads_metadata_timing_and_multiline_data() -> None:
    text = (
        ": description=hello there\n: followup=tool_followup\n\n"
        'event: message_start\ndata: {"type":"message_start",\ndata: "message":{}}\n\n'
        ": t=0.250\n"
        'event: ping\ndata: {"type": "ping"}\n\n'
    )
    meta, events = parse_sse(text)
    assert meta == {"description": "hello there", "followup": "tool_followup"}
    assert [e.event for e in events] == ["message_start", "ping"]
    assert events[0].t is None and events[1].t == 0.25
    t = offline.Transcript.from_sse(text, name="x")
    assert t.has_timing and t.followup == "tool_followup"
    again = offline.Transcript.from_sse(t.to_sse(), name="x")
    assert [e.raw for e in again.events] == [e.raw for e in t.events]
    assert [e.t for e in again.events] == [None, 0.25]


@pytest.mark.parametrize(
    "bad",
    [
        'data: {"type":"ping"}\n\n',
        "event: ping\ndata: {nope\n\n",
        'event: ping\ndata: {"type":"message_stop"}\n\n',
        ": description=only metadata\n",
    ],
)
def test_parse_sse_rejects_broken_files(bad: str) -> None:
    with pytest.raises(TranscriptError):
        parse_sse(bad)


def test_load_transcript_by_path_and_unknown_name(tmp_path: Path) -> None:
    path = tmp_path / "mine.sse"
    path.write_text(TranscriptBuilder().text("hi").stop().to_sse(), encoding="utf-8")
    assert load_transcript(str(path)).text() == "hi"
    with pytest.raises(TranscriptError, match="unknown transcript"):
        load_transcript("no_such_transcript")
    with pytest.raises(TranscriptError, match="not found"):
        load_transcript(str(tmp_path / "missing.sse"))


# --------------------------------------------------------------------------- builder


def test_builder_produces_a_complete_stream() -> None:
    b = TranscriptBuilder(model="claude-x", input_tokens=7, seed=1)
    b.thinking("hmm").text("Hello world", chunk=3).tool_use("f", {"a": 1}).server_tool_use(
        "web_search", {"query": "q"}
    )
    b.web_search_result([{"title": "T", "url": "https://e.com"}]).stop("tool_use")
    events = b.events()
    kinds = [e["content_block"]["type"] for e in events if e["type"] == "content_block_start"]
    assert kinds == ["thinking", "text", "tool_use", "server_tool_use", "web_search_tool_result"]
    texts = [
        e["delta"]["text"]
        for e in events
        if e["type"] == "content_block_delta" and e["delta"]["type"] == "text_delta"
    ]
    assert texts == ["Hel", "lo ", "wor", "ld"]
    result = next(e for e in events if e["type"] == "content_block_start" and e["index"] == 4)[
        "content_block"
    ]
    assert result["tool_use_id"] == b.last_server_tool_id
    assert events[-2]["delta"]["stop_reason"] == "tool_use" and events[-1]["type"] == "message_stop"
    assert events[0]["message"]["model"] == "claude-x"


def test_text_transcript_builds_200kb_fast() -> None:
    text = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 3600)[:200_000]
    start = time.perf_counter()
    t = text_transcript(text, chunk_chars=4)
    frames = t.frames()
    elapsed = time.perf_counter() - start
    assert t.text() == text
    assert len(frames) > 50_000
    assert elapsed < 3.0


# --------------------------------------------------------------------------- rendering


def rendered_text(t: offline.Transcript, plan: StreamPlan) -> tuple[str, list[dict]]:
    events = [e.data for e in render(t, plan)]
    text = "".join(
        e["delta"]["text"]
        for e in events
        if e["type"] == "content_block_delta" and e["delta"]["type"] == "text_delta"
    )
    return text, events


def test_render_patches_model_id_and_input_tokens() -> None:
    _, events = rendered_text(
        load_transcript("markdown"),
        StreamPlan(model="claude-x", input_tokens=123, message_id="msg_01abc"),
    )
    message = events[0]["message"]
    assert (message["model"], message["id"], message["usage"]["input_tokens"]) == (
        "claude-x",
        "msg_01abc",
        123,
    )
    assert events[-2]["usage"]["input_tokens"] == 123


def test_render_cuts_at_max_tokens() -> None:
    t = load_transcript("markdown")
    text, events = rendered_text(t, StreamPlan(max_tokens=50))
    assert len(text) == 200 and t.text().startswith(text)
    assert [e["type"] for e in events[-3:]] == [
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[-2]["delta"]["stop_reason"] == "max_tokens"
    assert events[-2]["usage"]["output_tokens"] == 50


def test_render_stop_sequence_straddling_deltas() -> None:
    t = (
        TranscriptBuilder()
        .text("Hello END world", chunks=["Hello E", "N", "D world"])
        .stop()
        .build()
    )
    text, events = rendered_text(t, StreamPlan(stop_sequences=("END",)))
    assert text == "Hello "
    assert events[-2]["delta"] | {"stop_details": None} == {
        "stop_reason": "stop_sequence",
        "stop_sequence": "END",
        "stop_details": None,
    }
    # a held-back prefix that turns out not to match is flushed, nothing is lost
    text, events = rendered_text(
        TranscriptBuilder().text("an E and EN", chunks=["an E", " and E", "N"]).stop().build(),
        StreamPlan(stop_sequences=("END",)),
    )
    assert text == "an E and EN" and events[-2]["delta"]["stop_reason"] == "end_turn"


def test_pacing_delays_follow_ttft_and_tokens_per_second() -> None:
    t = TranscriptBuilder().text("abcdefgh" * 3, chunk=8).stop().build()
    delays = [e.delay for e in render(t, StreamPlan(ttft=0.5, tokens_per_second=10))]
    assert delays[0] == 0 and delays[1] == 0.5
    deltas = [d for e, d in zip(t.events, delays, strict=False) if e.event == "content_block_delta"]
    assert deltas == [pytest.approx(0.2)] * 3


# --------------------------------------------------------------------------- estimates and selection


def test_estimate_input_tokens() -> None:
    small = estimate_input_tokens({"messages": [user("hello")]})
    big = estimate_input_tokens({"messages": [user("hello " * 400)], "system": "be brief"})
    image = estimate_input_tokens(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": "x"},
                        }
                    ],
                }
            ]
        }
    )
    assert 1 <= small < 20
    assert 590 <= big <= 640
    assert image >= 1500


def test_fill_object_without_hints_gives_defaults_and_plausible_values() -> None:
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer", "default": 5},
            "ratio": {"type": "number"},
            "verbose": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "options": {"type": "object"},
            "label": {"type": "string", "default": "primary"},
            "optional": {"type": "string"},
        },
        "required": ["city", "unit", "ratio", "verbose", "tags", "options", "label"],
    }
    value = fill_object(schema, Question("hi"))
    assert value == {
        "city": "Paris",
        "unit": value["unit"],
        "days": 5,
        "ratio": 2.5,
        "verbose": True,
        "tags": [],
        "options": {},
        "label": "primary",
    }
    assert value["unit"] in ("celsius", "fahrenheit")
    assert fill_object(schema, Question("hi")) == value, "same question, same values"


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        (
            "What's the weather in São Paulo for 4 days, in fahrenheit?",
            ("São Paulo", "fahrenheit", 4),
        ),
        ("weather in Lyon please", ("Lyon", None, 2)),
        ('Forecast for "Le Havre" in celsius', ("Le Havre", "celsius", 2)),
    ],
)
def test_tool_inputs_come_from_the_question(question: str, expected: tuple) -> None:
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer", "default": 2},
        },
        "required": ["city", "unit"],
    }
    value = fill_object(schema, Question(question))
    city, unit, days = expected
    assert value["city"] == city and value["days"] == days
    assert value["unit"] == (unit or value["unit"])


def test_schema_values_follow_names_bounds_refs_and_formats() -> None:
    region = {
        "type": "object",
        "properties": {"region": {"type": "string"}},
        "required": ["region"],
    }
    assert fill_object(region, Question("Look up the west region.")) == {"region": "west"}
    schema = {
        "$defs": {"Level": {"enum": ["low", "medium", "high"], "type": "string"}},
        "type": "object",
        "properties": {
            "summary": {"type": "string"},
            "level": {"$ref": "#/$defs/Level"},
            "score": {"type": "integer", "description": "Score\n\n{minimum: 1, maximum: 5}"},
            "due": {"type": "string", "format": "date"},
            "contact": {"type": "string", "format": "email"},
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "labels": {"type": "array", "items": {"type": "string", "enum": ["bug", "ui", "db"]}},
        },
        "required": ["summary", "level", "score", "due", "contact", "note", "labels"],
        "additionalProperties": False,
    }
    text = "Ticket 17 from ann@example.com (due 2025-03-04): a high priority db bug, score 4"
    value = fill_object(schema, Question(text), complete=True)
    assert value == {
        "summary": text,
        "level": "high",
        "score": 4,
        "due": "2025-03-04",
        "contact": "ann@example.com",
        "note": value["note"],
        "labels": ["db", "bug"],
    }
    assert isinstance(value["note"], str) and value["note"] in text
    out_of_bounds = fill_object(schema, Question("ticket 17"), complete=True)
    assert 1 <= out_of_bounds["score"] <= 5, (
        "17 is outside the bounds the SDK moved to the description"
    )


def test_topic_matching_by_keywords() -> None:
    assert match_topic("How do I find outliers in my sales?").name == "markdown"  # type: ignore[union-attr]
    assert match_topic("Mean or median for a skewed column?").name == "thinking"  # type: ignore[union-attr]
    assert match_topic("How do I plot revenue as a histogram?").name == "charts"  # type: ignore[union-attr]
    assert match_topic("Aggregate revenue per region with groupby").name == "groupby"  # type: ignore[union-attr]
    assert match_topic("Summarise ticket 17 from Ann") is None
    assert match_topic("") is None


def test_selection_rules() -> None:
    tool = {
        "name": "get_weather",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    }

    def chosen(body: dict, **kw: object) -> str:
        return select_transcript({"model": "m", "max_tokens": 9, **body}, **kw).transcript.name  # type: ignore[arg-type]

    assert chosen({"messages": [user()]}) == "generated:generic"
    assert chosen({"messages": [user("Any outliers here?")]}) == "markdown"
    median = user("Mean or median?")
    thinking = {"type": "enabled", "budget_tokens": 2000}
    assert chosen({"messages": [median], "thinking": thinking}) == "thinking"
    assert chosen({"messages": [median], "thinking": {"type": "adaptive"}}) == "thinking"
    assert chosen({"messages": [user()], "thinking": thinking}) == "generated:generic"
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    structured = {
        "messages": [median],
        "output_config": {"format": {"type": "json_schema", "schema": schema}},
    }
    assert chosen(structured) == "generated:json"
    web = {"type": "web_search_20250305", "name": "web_search"}
    assert chosen({"messages": [user()], "tools": [web]}) == "web_search"
    assert chosen({"messages": [user()], "tools": [web, tool]}) == "generated:tool_use"
    assert (
        chosen({"messages": [user()], "tools": [tool], "tool_choice": {"type": "none"}})
        == "generated:generic"
    )
    result = {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}],
    }
    call = {
        "role": "assistant",
        "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}],
    }
    assert (
        chosen({"messages": [user(), call, result], "tools": [tool]}) == "generated:tool_followup"
    )
    paused = {
        "role": "assistant",
        "content": [
            {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}
        ],
    }
    assert chosen({"messages": [user(), paused], "tools": [web]}) == "pause_turn_continue"
    assert chosen({"messages": [user()], "tools": [tool]}, header="xss") == "xss"
    assert chosen({"messages": [user()]}, default="refusal") == "refusal"
    assert chosen({"messages": [user()]}, header="xss", default="refusal") == "xss"
    assert chosen({"messages": [user(), call, result]}, default="tool_use") == "tool_followup"
    assert chosen({"messages": [user(), paused]}, header="pause_turn") == "pause_turn_continue"
    with pytest.raises(TranscriptError):
        chosen({"messages": [user()]}, header="nope")


def test_describe_selection_lists_every_rule() -> None:
    text = offline.describe_selection()
    for needle in (
        "x-claude-nb-transcript",
        "tool_result",
        "input_schema",
        "web_search_",
        "thinking",
        "keywords",
        "json_schema",
        "quoting the question",
        "pause_turn",
    ):
        assert needle in text
