"""The request the magic builds matches what the pinned SDK accepts: a drift alarm."""

import inspect
import typing

import anthropic
import pytest
from anthropic.resources.messages import Messages
from anthropic.types import OutputConfigParam
from sdk_facts import MODEL, SDK_MODELS

from claude_nb.errors import UsageError
from claude_nb.notebook.request import Options, build_request, parse_params
from claude_nb.sdk import EFFORTS, MODELS, default_model


def full_options() -> Options:
    return Options(
        model=MODEL,
        max_tokens=8000,
        system="be brief",
        stop=["END"],
        effort="high",
        thinking="4000",
        fast=True,
        params={"temperature": 0.2},
        tools=[{"name": "f", "description": "d", "input_schema": {"type": "object"}}],
        web_search=True,
        web_fetch=True,
        headers={"x-claude-nb-transcript": "markdown"},
    )


def test_every_key_is_a_parameter_of_messages_stream():
    req = build_request(full_options(), [{"role": "user", "content": "hi"}])
    params = inspect.signature(Messages.stream).parameters
    assert set(req) <= set(params)
    # the knobs the SDK dropped must never be sent as keyword arguments
    assert not {"temperature", "top_p", "top_k"} & set(req)
    assert req["extra_body"] == {"temperature": 0.2}


def test_option_values_come_from_the_sdk_types():
    effort = typing.get_type_hints(OutputConfigParam)["effort"]
    assert set(EFFORTS) == {a for arg in typing.get_args(effort) for a in typing.get_args(arg)}
    speed = inspect.signature(Messages.stream).parameters["speed"].annotation
    assert "fast" in str(speed)
    req = build_request(full_options(), [{"role": "user", "content": "hi"}])
    assert req["output_config"] == {"effort": "high"}
    assert req["speed"] == "fast"
    assert req["thinking"] == {"type": "enabled", "budget_tokens": 4000}
    assert {t.get("type") for t in req["tools"]} >= {"web_search_20260318", "web_fetch_20260318"}


def test_the_request_is_accepted_by_the_sdk_without_sending():
    # Build the HTTP request the SDK would send, through its own code path.
    client = anthropic.Anthropic(api_key="k", base_url="http://127.0.0.1:9")
    req = build_request(full_options(), [{"role": "user", "content": "hi"}])
    manager = client.messages.stream(**req)
    assert manager is not None  # the signature accepted every keyword


def test_default_model_is_in_the_sdk_list():
    assert set(MODELS) == {m for m in SDK_MODELS if m.startswith("claude-")}
    assert default_model() in MODELS
    assert default_model().startswith("claude-sonnet-")


@pytest.mark.parametrize(
    ("value", "message"),
    [("500", "at least 1024"), ("9000", "below --max-tokens"), ("lots", "adaptive, off")],
)
def test_bad_thinking_values(value, message):
    opts = Options(model="m", max_tokens=8000, thinking=value)
    with pytest.raises(UsageError, match=message):
        build_request(opts, [])


def test_adaptive_and_off_thinking():
    assert build_request(Options(model="m", max_tokens=10, thinking="adaptive"), [])[
        "thinking"
    ] == {"type": "adaptive"}
    assert "thinking" not in build_request(Options(model="m", max_tokens=10, thinking="off"), [])


def test_params_parse_json_values_and_reject_garbage():
    assert parse_params(["a=1", "b=[1, 2]", "c=hello", 'd={"x": true}']) == {
        "a": 1,
        "b": [1, 2],
        "c": "hello",
        "d": {"x": True},
    }
    with pytest.raises(UsageError, match="KEY=VALUE"):
        parse_params(["novalue"])
