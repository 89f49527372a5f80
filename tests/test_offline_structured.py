"""Structured outputs offline: ``output_config.format`` answers are JSON that fits the schema.

Real SDK over real HTTP: ``messages.parse(output_format=Model)``, ``messages.stream(
output_format=Model)`` and raw ``output_config={"format": {"type": "json_schema", ...}}``,
plus the ``off_schema`` fault that makes an answer not fit (for testing error rows).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Literal

import anthropic
import pydantic
import pytest
from sdk_facts import MODEL

from claude_nb import offline


class Customer(pydantic.BaseModel):
    name: str
    email: str | None = None


class Ticket(pydantic.BaseModel):
    summary: str
    sentiment: Literal["positive", "neutral", "negative"]
    priority: int = pydantic.Field(ge=1, le=5)
    tags: list[str]
    customer: Customer
    due: dt.date


def question(i: int, name: str, mood: str) -> str:
    return f"Summarise ticket {i} from {name}: the dashboard is {mood}, priority {i % 5 + 1}, due 2025-04-{i:02d}"


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def test_parse_returns_a_typed_object_built_from_the_question(
    offline_server: offline.OfflineServer, offline_client: anthropic.Anthropic
) -> None:
    message = offline_client.messages.parse(
        model=MODEL,
        max_tokens=1000,
        messages=user(question(3, "Ann", "negative")),
        output_format=Ticket,
    )
    ticket = message.parsed_output
    assert isinstance(ticket, Ticket)
    assert "ticket 3 from Ann" in ticket.summary
    assert (ticket.sentiment, ticket.priority, ticket.due) == ("negative", 4, dt.date(2025, 4, 3))
    assert ticket.tags and all(isinstance(t, str) and t for t in ticket.tags)
    assert message.stop_reason == "end_turn" and [b.type for b in message.content] == ["text"]
    sent = offline_server.requests[-1].body["output_config"]["format"]
    assert sent["type"] == "json_schema" and sent["schema"]["additionalProperties"] is False


def test_streamed_structured_output_arrives_in_pieces_and_parses(
    offline_client: anthropic.Anthropic,
) -> None:
    with offline_client.messages.stream(
        model=MODEL,
        max_tokens=1000,
        messages=user(question(7, "Bob", "fine")),
        output_format=Ticket,
    ) as stream:
        pieces = [e.delta.text for e in stream if e.type == "content_block_delta"]
        message = stream.get_final_message()
    assert len(pieces) > 5
    assert json.loads("".join(pieces)) == message.parsed_output.model_dump(mode="json")
    assert message.parsed_output.priority == 3 and "Bob" in message.parsed_output.summary


def test_each_row_gets_its_own_structured_answer(offline_client: anthropic.Anthropic) -> None:
    rows = [
        (i, name, mood)
        for i, (name, mood) in enumerate(
            [("Ann", "positive"), ("Bob", "negative"), ("Chen", "neutral"), ("Dana", "negative")],
            10,
        )
    ]
    tickets = [
        offline_client.messages.parse(
            model=MODEL, max_tokens=1000, messages=user(question(*row)), output_format=Ticket
        ).parsed_output
        for row in rows
    ]
    for (i, name, mood), ticket in zip(rows, tickets, strict=True):
        assert ticket is not None
        assert f"ticket {i} from {name}" in ticket.summary
        assert ticket.sentiment == mood
        assert ticket.priority == i % 5 + 1
    again = offline_client.messages.parse(
        model=MODEL, max_tokens=1000, messages=user(question(*rows[0])), output_format=Ticket
    ).parsed_output
    assert again == tickets[0], "same request, same answer"


def test_a_raw_json_schema_and_thinking(offline_client: anthropic.Anthropic) -> None:
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer"},
            "unit": {"enum": ["celsius", "fahrenheit"]},
            "ok": {"type": "boolean"},
        },
        "required": ["city", "days", "unit", "ok"],
        "additionalProperties": False,
    }
    message = offline_client.messages.create(
        model=MODEL,
        max_tokens=3000,
        messages=user("Weather in Oslo for 4 days in fahrenheit?"),
        output_config={"format": {"type": "json_schema", "schema": schema}},
        thinking={"type": "enabled", "budget_tokens": 1024},
    )
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert json.loads(message.content[1].text) == {
        "city": "Oslo",
        "days": 4,
        "unit": "fahrenheit",
        "ok": True,
    }


@pytest.mark.parametrize(
    ("how", "error"),
    [("missing", "Field required"), ("type", "Input should be"), ("json", "EOF while parsing")],
)
def test_off_schema_fault_gives_an_answer_that_does_not_fit(
    how: str, error: str, offline_client: anthropic.Anthropic
) -> None:
    with pytest.raises(pydantic.ValidationError, match=error):
        offline_client.messages.parse(
            model=MODEL,
            max_tokens=1000,
            messages=user(question(1, "Ann", "fine")),
            output_format=Ticket,
            extra_headers={"x-claude-nb-fault": f"off_schema={how}"},
        )


def test_off_schema_with_match_breaks_only_the_rows_that_mention_it() -> None:
    with (
        offline.start(speed=0, faults="off_schema=missing;match=from Bob") as srv,
        anthropic.Anthropic(base_url=srv.url, api_key="k", max_retries=0) as client,
    ):
        results = {}
        for row in [(1, "Ann", "fine"), (2, "Bob", "fine"), (3, "Chen", "fine")]:
            try:
                client.messages.parse(
                    model=MODEL,
                    max_tokens=1000,
                    messages=user(question(*row)),
                    output_format=Ticket,
                )
                results[row[1]] = "ok"
            except pydantic.ValidationError:
                results[row[1]] = "error"
        # a plain (not structured) request mentioning Bob is not affected, nor counted
        plain = client.messages.create(
            model=MODEL, max_tokens=1000, messages=user("Hello from Bob")
        )
        assert srv.wait_idle(2)
        faults = [r.fault for r in srv.requests]
    assert results == {"Ann": "ok", "Bob": "error", "Chen": "ok"}
    assert "from Bob" in plain.content[0].text
    assert faults == [None, "off_schema=missing;match=from Bob", None, None]


@pytest.mark.parametrize(
    ("output_config", "message"),
    [
        (
            {"format": {"type": "json_object"}},
            "output_config.format.type: Input should be 'json_schema'",
        ),
        ({"format": {"type": "json_schema"}}, "output_config.format.schema: Field required"),
        ("yes", "output_config: Input should be a valid dictionary"),
    ],
)
def test_bad_output_config_is_a_400(
    output_config: Any, message: str, offline_client: anthropic.Anthropic
) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        offline_client.messages.create(
            model=MODEL, max_tokens=100, messages=user("hi"), output_config=output_config
        )
    assert info.value.body["error"]["message"].startswith(message)


def test_max_tokens_cuts_structured_output_too(offline_client: anthropic.Anthropic) -> None:
    message = offline_client.messages.create(
        model=MODEL,
        max_tokens=5,
        messages=user(question(1, "Ann", "fine")),
        output_config={"format": {"type": "json_schema", "schema": Ticket.model_json_schema()}},
    )
    assert message.stop_reason == "max_tokens"
    with pytest.raises(json.JSONDecodeError):
        json.loads(message.content[0].text)
