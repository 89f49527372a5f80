"""The offline backend over real HTTP with the real anthropic SDK (no mocks)."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest
from sdk_facts import MODEL, OTHER_MODEL, SDK_MODELS

from claude_nb import cli, offline
from claude_nb.offline.builder import TranscriptBuilder
from claude_nb.offline.tokens import estimate_input_tokens

HI = [{"role": "user", "content": "Hi there, please help me with my data."}]
MARKDOWN = {"x-claude-nb-transcript": "markdown"}


def fold(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Expected final message from raw transcript events, independently of the SDK."""
    blocks: list[dict[str, Any]] = []
    partial: dict[int, str] = {}
    result: dict[str, Any] = {
        "stop_reason": None,
        "stop_sequence": None,
        "output_tokens": None,
        "error": None,
    }
    for e in events:
        kind = e["type"]
        if kind == "content_block_start":
            blocks.append(json.loads(json.dumps(e["content_block"])))
        elif kind == "content_block_delta":
            block, delta = blocks[e["index"]], e["delta"]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            elif delta["type"] == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif delta["type"] == "signature_delta":
                block["signature"] = delta["signature"]
            elif delta["type"] == "input_json_delta":
                partial[e["index"]] = partial.get(e["index"], "") + delta["partial_json"]
            elif delta["type"] == "citations_delta":
                block.setdefault("citations", []).append(delta["citation"])
        elif kind == "message_delta":
            result["stop_reason"] = e["delta"]["stop_reason"]
            result["stop_sequence"] = e["delta"]["stop_sequence"]
            result["output_tokens"] = e["usage"]["output_tokens"]
        elif kind == "error":
            result["error"] = e["error"]
    for index, text in partial.items():
        blocks[index]["input"] = json.loads(text) if text else {}
    result["content"] = blocks
    return result


def assert_matches(message: Any, expected: dict[str, Any]) -> None:
    assert [b.type for b in message.content] == [b["type"] for b in expected["content"]]
    for got, want in zip(message.content, expected["content"], strict=False):
        if want["type"] == "text":
            assert got.text == want["text"]
            assert len(got.citations or []) == len(want.get("citations") or [])
            for c_got, c_want in zip(
                got.citations or [], want.get("citations") or [], strict=False
            ):
                assert (c_got.url, c_got.cited_text) == (c_want["url"], c_want["cited_text"])
        elif want["type"] == "thinking":
            assert (got.thinking, got.signature) == (want["thinking"], want["signature"])
        elif want["type"] == "redacted_thinking":
            assert got.data == want["data"]
        elif want["type"] in ("tool_use", "server_tool_use"):
            assert (got.id, got.name, got.input) == (want["id"], want["name"], want["input"])
        elif want["type"] == "web_search_tool_result":
            assert [r.url for r in got.content] == [r["url"] for r in want["content"]]
            assert got.tool_use_id == want["tool_use_id"]
        else:
            dumped = got.to_dict() if hasattr(got, "to_dict") else dict(got)
            assert dumped == want
    assert message.stop_reason == expected["stop_reason"]
    assert message.stop_sequence == expected["stop_sequence"]
    assert message.usage.output_tokens == expected["output_tokens"]


# --------------------------------------------------------------------------- every transcript


@pytest.mark.parametrize("name", offline.transcript_names())
def test_every_transcript_streams_through_the_sdk(
    name: str, offline_server: offline.OfflineServer, offline_client: anthropic.Anthropic
) -> None:
    transcript = offline.load_transcript(name)
    expected = fold(transcript.dicts())
    request = {"model": MODEL, "max_tokens": 64000, "messages": HI}
    with offline_client.messages.stream(
        **request, extra_headers={"x-claude-nb-transcript": name}
    ) as stream:
        if expected["error"] is not None:
            with pytest.raises(anthropic.APIStatusError) as info:
                for _ in stream:
                    pass
            assert info.value.type == expected["error"]["type"] == "overloaded_error"
            snapshot = stream.current_message_snapshot
            assert snapshot.content[0].text == expected["content"][0]["text"]
            assert snapshot.stop_reason is None
            return
        kinds = [event.type for event in stream]
        message = stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert_matches(message, expected)
    assert message.model == MODEL
    assert message.usage.input_tokens == estimate_input_tokens(request)
    assert (
        re.fullmatch(r"msg_01\w{22}", message.id)
        and message.id != transcript.dicts()[0]["message"]["id"]
    )
    assert offline_server.wait_idle(2)
    record = offline_server.requests[-1]
    assert (record.transcript, record.selection, record.outcome, record.status) == (
        name,
        "header",
        "complete",
        200,
    )
    assert record.events_sent == len(transcript.events)


def test_unknown_block_types_reach_the_sdk_loosely_typed(
    offline_client: anthropic.Anthropic,
) -> None:
    with offline_client.messages.stream(
        model=MODEL,
        max_tokens=1000,
        messages=HI,
        extra_headers={"x-claude-nb-transcript": "unknown_block"},
    ) as stream:
        deltas = [
            e.delta
            for e in stream
            if e.type == "content_block_delta" and e.delta.type == "future_delta"
        ]
        message = stream.get_final_message()
    widget = message.content[1]
    assert widget.type == "future_widget" and widget.title == "Sales dashboard"
    assert [d.payload for d in deltas] == ['{"chart": "bar",', ' "series": [3, 1, 4]}']


# --------------------------------------------------------------------------- other endpoints


def test_non_streaming_create_returns_the_accumulated_message(
    offline_client: anthropic.Anthropic,
) -> None:
    for name in ("markdown", "tool_use", "web_search"):
        message = offline_client.messages.create(
            model=MODEL,
            max_tokens=4000,
            messages=HI,
            extra_headers={"x-claude-nb-transcript": name},
        )
        assert_matches(message, fold(offline.load_transcript(name).dicts()))
    with pytest.raises(anthropic.APIStatusError) as info:
        offline_client.messages.create(
            model=MODEL,
            max_tokens=4000,
            messages=HI,
            extra_headers={"x-claude-nb-transcript": "error_midstream"},
        )
    assert info.value.status_code == 529 and info.value.type == "overloaded_error"


def test_keep_alive_reuses_the_connection(
    offline_server: offline.OfflineServer, offline_client: anthropic.Anthropic
) -> None:
    for _ in range(3):
        offline_client.messages.create(model=MODEL, max_tokens=2000, messages=HI)
    clients = {r.client for r in offline_server.requests}
    assert len(clients) == 1


def test_count_tokens_and_models(offline_client: anthropic.Anthropic) -> None:
    body = {"model": MODEL, "messages": HI, "system": "You are terse."}
    count = offline_client.messages.count_tokens(**body)
    assert count.input_tokens == estimate_input_tokens(body)
    ids = [m.id for m in offline_client.models.list(limit=5)]
    assert ids == list(SDK_MODELS)  # the server lists exactly what the installed SDK does
    page = offline_client.models.list(limit=5)
    assert (
        page.has_more
        and len(page.data) == 5
        and page.first_id == page.data[0].id
        and page.last_id == page.data[-1].id
    )
    model = offline_client.models.retrieve(OTHER_MODEL)
    assert model.type == "model" and model.id == OTHER_MODEL
    assert model.display_name.startswith("Claude ") and "-" not in model.display_name
    with pytest.raises(anthropic.NotFoundError):
        offline_client.models.retrieve("gpt-nope")


# --------------------------------------------------------------------------- selection


WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer", "default": 2},
        },
        "required": ["city", "unit"],
    },
}
CLOCK = {
    "name": "get_time",
    "description": "Current time",
    "input_schema": {"type": "object", "properties": {}},
}


def final(client: anthropic.Anthropic, **kwargs: Any) -> anthropic.types.Message:
    with client.messages.stream(
        **{"model": MODEL, "max_tokens": 4000, "messages": HI, **kwargs}
    ) as stream:
        return stream.get_final_message()


def test_client_tools_get_a_generated_tool_use_turn_then_a_followup(
    offline_client: anthropic.Anthropic,
) -> None:
    asked = [
        {"role": "user", "content": "What's the weather in Lyon, in fahrenheit, and the time?"}
    ]
    message = final(offline_client, tools=[WEATHER, CLOCK], messages=asked)
    assert message.stop_reason == "tool_use"
    assert [b.type for b in message.content] == ["text", "tool_use", "tool_use"]
    calls = message.content[1:]
    assert [(c.name, c.input) for c in calls] == [
        ("get_weather", {"city": "Lyon", "unit": "fahrenheit", "days": 2}),
        ("get_time", {}),
    ]
    assert all(re.fullmatch(r"toolu_01\w{22}", c.id) for c in calls)
    results = [
        {
            "type": "tool_result",
            "tool_use_id": calls[0].id,
            "content": [{"type": "text", "text": "Sunny,\n 21 °C"}],
        },
        {
            "type": "tool_result",
            "tool_use_id": calls[1].id,
            "content": "clock unavailable",
            "is_error": True,
        },
    ]
    history = [
        *asked,
        {"role": "assistant", "content": [b.to_dict() for b in message.content]},
        {"role": "user", "content": results},
    ]
    answer = final(offline_client, tools=[WEATHER, CLOCK], messages=history)
    assert answer.stop_reason == "end_turn"
    text = answer.content[0].text
    assert "Here is what I found" in text and "Sunny, 21 °C" in text
    assert (
        "get_weather" in text
        and "The `get_time` tool failed" in text
        and "clock unavailable" in text
    )


def test_generated_tool_input_streams_in_mid_token_pieces(
    offline_client: anthropic.Anthropic,
) -> None:
    with offline_client.messages.stream(
        model=MODEL, max_tokens=500, messages=HI, tools=[WEATHER]
    ) as stream:
        partials = [e.partial_json for e in stream if e.type == "input_json"]
        message = stream.get_final_message()
    assert len([b for b in message.content if b.type == "tool_use"]) == 1
    assert partials[0] == "" and len(partials) > 3
    assert json.loads("".join(partials)) == message.content[1].input


@anthropic.beta_tool
def get_weather(city: str, unit: str = "celsius") -> str:
    """Get the weather for a city.

    Args:
        city: The city name.
        unit: celsius or fahrenheit.
    """
    return f"Sunny in {city}, 21 degrees {unit}"


@pytest.mark.parametrize("thread", [True, False])
def test_sdk_tool_runner_loop(
    thread: bool, offline_server: offline.OfflineServer, offline_client: anthropic.Anthropic
) -> None:
    runner = offline_client.beta.messages.tool_runner(
        model=MODEL,
        max_tokens=1000,
        messages=[{"role": "user", "content": "What's the weather in Paris?"}],
        tools=[get_weather],
        stream=True,
        **({} if thread else {"thread": False}),
    )
    stops = []
    for stream in runner:
        stops.append(stream.get_final_message().stop_reason)
    assert stops == ["tool_use", "end_turn"]
    assert offline_server.wait_idle(2)
    first, second = offline_server.requests
    assert first.body["tools"][0]["name"] == "get_weather"
    if thread:  # server-held history: the second request only sends the tool result
        assert second.body["thread"]["type"] == "continue" and len(second.body["messages"]) == 1
    else:
        assert len(second.body["messages"]) == 3
    assert second.transcript == "generated:tool_followup"


def test_unknown_thread_is_not_found(offline_client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError, match="msg_01nope"):
        offline_client.messages.create(
            model=MODEL,
            max_tokens=100,
            messages=HI,
            extra_body={"thread": {"type": "continue", "previous_message_id": "msg_01nope"}},
        )


@pytest.mark.parametrize(
    ("kwargs", "asked", "expected"),
    [
        ({}, "Any outliers in this column?", "markdown"),
        (
            {"thinking": {"type": "enabled", "budget_tokens": 1024}},
            "Mean or median here?",
            "thinking",
        ),
        (
            {"tools": [{"type": "web_search_20250305", "name": "web_search"}]},
            "News?",
            "web_search",
        ),
    ],
)
def test_selection_by_request(
    kwargs: dict[str, Any],
    asked: str,
    expected: str,
    offline_server: offline.OfflineServer,
    offline_client: anthropic.Anthropic,
) -> None:
    messages = [{"role": "user", "content": asked}]
    message = final(offline_client, model=OTHER_MODEL, messages=messages, **kwargs)
    assert offline_server.wait_idle(2)
    assert offline_server.requests[-1].transcript == expected
    assert message.model == OTHER_MODEL
    # the recorded answer, with one first line saying so and quoting the question
    recorded = fold(offline.load_transcript(expected).dicts())
    first_text = next(b for b in recorded["content"] if b["type"] == "text")
    note = f"> Offline answer, recorded for questions about **{offline.load_transcript(expected).meta['topic']}** · you asked: “{asked}”\n\n"
    first_text["text"] = note + first_text["text"]
    recorded["output_tokens"] = message.usage.output_tokens
    assert_matches(message, recorded)
    assert message.usage.output_tokens == -(
        -(offline.load_transcript(expected).content_chars() + len(note)) // 4
    )


def test_input_tokens_grow_with_the_prompt(offline_client: anthropic.Anthropic) -> None:
    short = final(offline_client).usage.input_tokens
    long = final(
        offline_client, messages=[{"role": "user", "content": "word " * 2000}]
    ).usage.input_tokens
    image = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
    }
    with_image = final(
        offline_client,
        messages=[{"role": "user", "content": [image, {"type": "text", "text": "hi"}]}],
    )
    assert 5 < short < 40
    assert 2400 < long < 2600
    assert with_image.usage.input_tokens >= 1500


def test_max_tokens_cuts_the_answer(offline_client: anthropic.Anthropic) -> None:
    message = final(offline_client, max_tokens=30, extra_headers=MARKDOWN)
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 30
    full = offline.load_transcript("markdown").text()
    assert len(message.content[0].text) == 120 and full.startswith(message.content[0].text)


def test_stop_sequences_cut_before_the_match(offline_client: anthropic.Anthropic) -> None:
    message = final(offline_client, stop_sequences=["## 2."], extra_headers=MARKDOWN)
    text = message.content[0].text
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "## 2.")
    assert "## 2." not in text and text.endswith("\n\n")
    assert offline.load_transcript("markdown").text().startswith(text + "## 2.")


def test_stop_sequence_straddling_two_deltas() -> None:
    transcript = (
        TranscriptBuilder()
        .text("Alpha STOP beta", chunks=["Alpha S", "TO", "P beta"])
        .stop()
        .build("straddle")
    )
    with (
        offline.start(speed=0, transcript=transcript) as srv,
        anthropic.Anthropic(base_url=srv.url, api_key="k") as client,
        client.messages.stream(
            model=MODEL, max_tokens=100, messages=HI, stop_sequences=["STOP"]
        ) as stream,
    ):
        texts = [e.text for e in stream if e.type == "text"]
        message = stream.get_final_message()
    assert "".join(texts) == message.content[0].text == "Alpha "
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "STOP")


# --------------------------------------------------------------------------- validation and HTTP errors


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_tokens": anthropic.omit}, "max_tokens: Field required"),
        ({"max_tokens": 0}, "max_tokens: Input should be greater than or equal to 1"),
        ({"messages": []}, "messages: at least one message is required"),
        (
            {"messages": [{"role": "assistant", "content": "hi"}]},
            'messages: first message must use the "user" role',
        ),
        (
            {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]},
            'messages: roles must alternate between "user" and "assistant", but found multiple "user" roles in a row',
        ),
        (
            {"messages": [{"role": "system", "content": "a"}]},
            "messages.0.role: Input should be 'user' or 'assistant'",
        ),
        (
            {"messages": [{"role": "user", "content": 5}]},
            "messages.0.content: Input should be a valid list",
        ),
        (
            {"messages": [{"role": "user", "content": [{"text": "x"}]}]},
            "messages.0.content.0.type: Field required",
        ),
        (
            {"max_tokens": 2000, "thinking": {"type": "enabled", "budget_tokens": 4000}},
            "`max_tokens` must be greater than `thinking.budget_tokens`",
        ),
        (
            {"thinking": {"type": "enabled", "budget_tokens": 100}},
            "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
        ),
    ],
)
def test_validation_errors_reach_the_sdk(
    kwargs: dict[str, Any], message: str, offline_client: anthropic.Anthropic
) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        offline_client.messages.create(
            **{"model": MODEL, "max_tokens": 100, "messages": HI, **kwargs}
        )
    assert info.value.type == "invalid_request_error"
    assert info.value.api_message is not None and info.value.api_message.startswith(message)
    assert info.value.body["request_id"].startswith("req_011")


def test_raw_http_errors(offline_server: offline.OfflineServer) -> None:
    body = {"model": MODEL, "max_tokens": 10, "messages": HI}
    with httpx2.Client(base_url=offline_server.url) as http:
        r = http.post("/v1/messages", json=body)
        assert r.status_code == 401
        assert r.json()["error"] == {"type": "authentication_error", "message": "invalid x-api-key"}
        assert r.headers["request-id"].startswith("req_011")
        ok = http.post("/v1/messages", json=body, headers={"authorization": "Bearer secret-token"})
        assert ok.status_code == 200 and ok.json()["type"] == "message"
        r = http.get("/v1/nope", headers={"x-api-key": "k"})
        assert (r.status_code, r.json()["error"]["type"]) == (404, "not_found_error")
        r = http.get("/v1/messages", headers={"x-api-key": "k"})
        assert (r.status_code, r.headers["allow"]) == (405, "POST")
        r = http.post("/v1/messages", content=b"{not json", headers={"x-api-key": "k"})
        assert r.status_code == 400
        assert r.json()["error"]["message"].startswith("The request body is not valid JSON: ")
        r = http.post(
            "/v1/messages", json=body, headers={"x-api-key": "k", "x-claude-nb-transcript": "nope"}
        )
        assert r.status_code == 400 and "unknown transcript 'nope'" in r.json()["error"]["message"]
        r = http.post("/v1/messages?beta=true", json=body, headers={"x-api-key": "k"})
        assert r.status_code == 200
    assert offline_server.wait_idle(2)
    records = offline_server.requests
    assert all(r.headers.get("authorization") in (None, "[redacted]") for r in records)
    assert [r.status for r in records] == [401, 200, 404, 405, 400, 400, 200]
    assert records[1].body == body


def test_request_log_never_contains_the_key(
    caplog: pytest.LogCaptureFixture, offline_server: offline.OfflineServer
) -> None:
    with (
        caplog.at_level(logging.INFO, logger="claude_nb.offline"),
        anthropic.Anthropic(base_url=offline_server.url, api_key="sk-ant-secret-123") as client,
    ):
        client.messages.create(model=MODEL, max_tokens=2000, messages=HI)
        offline_server.wait_idle(2)
    assert "POST /v1/messages 200 complete transcript=generated:generic" in caplog.text
    assert "sk-ant-secret-123" not in caplog.text
    assert "sk-ant-secret-123" not in repr(offline_server.requests)


# --------------------------------------------------------------------------- pacing


def first_text_delay(client: anthropic.Anthropic, **kwargs: Any) -> float:
    start = time.monotonic()
    with client.messages.stream(model=MODEL, max_tokens=1000, messages=HI, **kwargs) as stream:
        for event in stream:
            if event.type == "text":
                return time.monotonic() - start
    raise AssertionError("no text")


def test_ttft_delays_the_first_token() -> None:
    small = TranscriptBuilder().text("Hello there!", chunk=4).stop().build("small")
    with (
        offline.start(speed=1, ttft=0.3, tokens_per_second=500, transcript=small) as srv,
        anthropic.Anthropic(base_url=srv.url, api_key="k") as client,
    ):
        assert first_text_delay(client) >= 0.25
        srv.speed = 0
        assert first_text_delay(client) < 0.2


def test_tokens_per_second_paces_deltas() -> None:
    transcript = TranscriptBuilder().text("abcdefgh" * 10, chunk=8).stop().build("paced")
    with (
        offline.start(speed=1, ttft=0, tokens_per_second=100, transcript=transcript) as srv,
        anthropic.Anthropic(base_url=srv.url, api_key="k") as client,
    ):
        start = time.monotonic()
        with client.messages.stream(model=MODEL, max_tokens=1000, messages=HI) as stream:
            stream.get_final_message()
        elapsed = time.monotonic() - start
    assert 0.17 <= elapsed < 1.0  # 10 deltas x 2 tokens at 100 tokens/s = 0.2 s


def test_recorded_timing_is_replayed(tmp_path: Path) -> None:
    events = (
        TranscriptBuilder()
        .text("one two three", chunks=["one", " two", " three"])
        .stop()
        .build()
        .events
    )
    times = {4: 0.4, 5: 0.6}  # the 2nd and 3rd text deltas
    text = "".join(
        (f": t={times[i]}\n" if i in times else "") + e.wire() for i, e in enumerate(events)
    )
    path = tmp_path / "recorded.sse"
    path.write_text(text, encoding="utf-8")
    assert offline.load_transcript(str(path)).has_timing
    with (
        offline.start(speed=1, ttft=5.0, tokens_per_second=1) as srv,
        anthropic.Anthropic(base_url=srv.url, api_key="k") as client,
    ):
        headers = {"x-claude-nb-transcript": str(path)}
        for speed, low, high in ((1.0, 0.55, 1.2), (2.0, 0.27, 0.5)):
            srv.speed = speed
            start = time.monotonic()
            arrivals = []
            with client.messages.stream(
                model=MODEL, max_tokens=100, messages=HI, extra_headers=headers
            ) as stream:
                for event in stream:
                    if event.type == "text":
                        arrivals.append(time.monotonic() - start)
            assert arrivals[0] < 0.3, "no ttft: the recording has none"
            assert low <= arrivals[-1] < high


def test_speed_zero_streams_long_fast(
    offline_server: offline.OfflineServer, offline_client: anthropic.Anthropic
) -> None:
    start = time.monotonic()
    with offline_client.messages.stream(
        model=MODEL, max_tokens=64000, messages=HI, extra_headers={"x-claude-nb-transcript": "long"}
    ) as stream:
        text = stream.get_final_message().content[0].text
    assert len(text.encode()) >= 60_000
    assert time.monotonic() - start < 3.0


def test_speed_zero_serves_200kb_quickly() -> None:
    transcript = offline.text_transcript(
        ("All work and no play makes a dull model. " * 5000)[:200_000], chunk_chars=4
    )
    body = {"model": MODEL, "max_tokens": 100_000, "messages": HI, "stream": True}
    with (
        offline.start(speed=0, transcript=transcript) as srv,
        httpx2.Client(base_url=srv.url) as http,
    ):
        with http.stream("POST", "/v1/messages", json=body, headers={"x-api-key": "k"}) as response:
            size = sum(len(chunk) for chunk in response.iter_raw())
        srv.wait_idle(5)
        record = srv.requests[-1]
    assert size > 5_000_000
    assert record.events_sent == len(transcript.events) > 50_000
    assert record.duration is not None and record.duration < 2.0


# --------------------------------------------------------------------------- disconnects, concurrency, stop


def test_client_closing_early_is_noticed(caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level(logging.INFO, logger="claude_nb.offline"),
        offline.start(speed=1, ttft=0.05, tokens_per_second=40) as srv,
        anthropic.Anthropic(base_url=srv.url, api_key="k") as client,
    ):
        with client.messages.stream(model=MODEL, max_tokens=2000, messages=HI) as stream:
            for event in stream:
                if event.type == "text":
                    break
        closed = time.monotonic()
        assert srv.wait_idle(3)
        record = srv.requests[-1]
        assert record.outcome == "client_disconnected"
        assert record.ended is not None and record.ended - closed < 1.0
        assert 0 < record.events_sent < len(offline.load_transcript("markdown").events)
    assert "client disconnected" in caplog.text


def test_concurrent_streams_all_complete_and_stop_cleans_up() -> None:
    baseline = threading.active_count()
    srv = offline.start(speed=1, ttft=0.05, tokens_per_second=3000)
    results: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with (
                anthropic.Anthropic(base_url=srv.url, api_key="k") as client,
                client.messages.stream(model=MODEL, max_tokens=2000, messages=HI) as stream,
            ):
                results.append(stream.get_final_message().content[0].text)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert len(results) == 8 and len(set(results)) == 1, "same request, same answer"
    assert results[0].startswith("> Offline answer: no recorded answer matches this question")
    assert srv.wait_idle(5)
    assert [r.outcome for r in srv.requests] == ["complete"] * 8
    port = srv.port
    srv.stop()
    assert threading.active_count() == baseline
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_stop_closes_idle_keep_alive_connections() -> None:
    baseline = threading.active_count()
    srv = offline.start(speed=0)
    client = anthropic.Anthropic(base_url=srv.url, api_key="k", max_retries=0)
    try:
        client.messages.create(model=MODEL, max_tokens=2000, messages=HI)
        assert threading.active_count() > baseline  # the pooled connection's handler thread waits
        t0 = time.monotonic()
        srv.stop()
        assert time.monotonic() - t0 < 2.0
        assert threading.active_count() == baseline
        with pytest.raises(anthropic.APIConnectionError):
            client.messages.create(model=MODEL, max_tokens=2000, messages=HI)
    finally:
        client.close()


def test_stop_interrupts_streams_in_flight() -> None:
    baseline = threading.active_count()
    srv = offline.start(speed=1, ttft=0.05, tokens_per_second=20)
    errors: list[BaseException] = []
    started = threading.Event()

    def worker() -> None:
        try:
            with (
                anthropic.Anthropic(base_url=srv.url, api_key="k", max_retries=0) as client,
                client.messages.stream(model=MODEL, max_tokens=2000, messages=HI) as stream,
            ):
                for _ in stream:
                    started.set()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    assert started.wait(5)
    t0 = time.monotonic()
    srv.stop()
    assert time.monotonic() - t0 < 2.0
    thread.join(5)
    assert errors and isinstance(errors[0], (httpx2.TransportError, anthropic.APIError))
    assert srv.requests[-1].outcome == "server_stopped"
    assert threading.active_count() == baseline


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def cli_server() -> Iterator[tuple[subprocess.Popen[str], str, str]]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "claude_nb.cli", "serve", "--port", "0", "--speed", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        banner = ""
        while "Ctrl-C" not in banner and proc.poll() is None:
            banner += proc.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+)", banner)
        assert match, f"no URL in {banner!r}"
        yield proc, match.group(1), banner
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery differs on Windows")
def test_cli_serve_streams_and_exits_cleanly(
    cli_server: tuple[subprocess.Popen[str], str, str],
) -> None:
    proc, url, banner = cli_server
    with (
        anthropic.Anthropic(base_url=url, api_key="k") as client,
        client.messages.stream(model=MODEL, max_tokens=2000, messages=HI) as stream,
    ):
        assert stream.get_final_message().stop_reason == "end_turn"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert f"export ANTHROPIC_BASE_URL={url}" in banner
    assert "stopped" in out
    assert "POST /v1/messages 200 complete" in err


def test_cli_transcripts_and_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["transcripts", "--rules"]) == 0
    out = capsys.readouterr().out
    for name in ("markdown", "tool_use", "error_midstream", "long"):
        assert re.search(rf"^{name}\s+\S", out, re.MULTILINE)
    assert "x-claude-nb-transcript" in out
    assert cli.main([]) == 2
    assert cli.main(["serve", "--port", "0", "--fault", "status=abc"]) == 2
    assert "status must be an integer" in capsys.readouterr().err


def test_cli_serve_takes_rate_limits_and_a_batch_folder(tmp_path: Path) -> None:
    """`claude-nb serve` in its own process: the server a restarted kernel can reach."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "claude_nb.cli",
            "serve",
            "--port",
            "0",
            "--speed",
            "0",
            "--rate-limit",
            "rpm=2",
            "--batch-seconds",
            "0",
            "--batch-dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        banner = ""
        while "Ctrl-C" not in banner and proc.poll() is None:
            banner += proc.stdout.readline()
        url = re.search(r"(http://127\.0\.0\.1:\d+)", banner).group(1)  # type: ignore[union-attr]
        with anthropic.Anthropic(base_url=url, api_key="k", max_retries=0) as client:
            for _ in range(2):
                client.messages.create(model=MODEL, max_tokens=100, messages=HI)
            with pytest.raises(anthropic.RateLimitError):
                client.messages.create(model=MODEL, max_tokens=100, messages=HI)
            batch = client.messages.batches.create(
                requests=[
                    {"custom_id": "a", "params": {"model": MODEL, "max_tokens": 50, "messages": HI}}
                ]
            )
            for _ in range(100):
                if client.messages.batches.retrieve(batch.id).processing_status == "ended":
                    break
                time.sleep(0.05)
            (result,) = client.messages.batches.results(batch.id)
    finally:
        proc.kill()
        proc.wait()
    assert result.custom_id == "a" and result.result.type == "succeeded"
    assert (tmp_path / f"{batch.id}.results.jsonl").exists()


def test_offline_shows_users_only_what_they_need() -> None:
    assert dir(offline) == sorted(offline.__all__)
    assert all(getattr(offline, name) is not None for name in offline.__all__)
    from claude_nb.offline import batches, faults, prompt_cache, rate_limits  # still importable

    assert batches.MAX_REQUESTS == 100_000 and faults.parse_faults("none") is None
    assert prompt_cache.min_cacheable_tokens(MODEL) >= 1024
    assert rate_limits.parse_rate_limits("rpm=1") is not None
