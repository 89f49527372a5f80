"""Offline answers follow the question: topics, honest generic answers, tool inputs.

Real SDK over real HTTP to the offline server (no mocks). Before this, every plain
prompt got the same outliers answer and tool inputs were placeholders.
"""

from __future__ import annotations

import concurrent.futures
from typing import Any

import anthropic
import pytest
from sdk_facts import MODEL

from claude_nb import offline


def ask(client: anthropic.Anthropic, text: str, **kwargs: Any) -> anthropic.types.Message:
    with client.messages.stream(
        model=MODEL, max_tokens=4000, messages=[{"role": "user", "content": text}], **kwargs
    ) as stream:
        return stream.get_final_message()


def texts(message: anthropic.types.Message) -> str:
    return "".join(b.text for b in message.content if b.type == "text")


@pytest.mark.parametrize(
    ("question", "transcript", "heading"),
    [
        ("How do I find outliers in a sales table?", "markdown", "# Finding outliers"),
        ("Which chart shows revenue per month best?", "charts", "# Reading and making charts"),
        ("How do I aggregate revenue per region?", "groupby", "# Summarising a table by group"),
        ("My churn model has 0.91 AUC. What should I check?", "model_checks", "# Checking"),
        ("How do I handle missing values and duplicates?", "cleaning", "# Cleaning"),
    ],
)
def test_a_question_gets_the_recorded_answer_on_its_topic_and_says_so(
    question: str,
    transcript: str,
    heading: str,
    offline_server: offline.OfflineServer,
    offline_client: anthropic.Anthropic,
) -> None:
    text = texts(ask(offline_client, question))
    first, _, rest = text.partition("\n\n")
    assert first.startswith("> Offline answer, recorded for questions about **")
    assert f"you asked: “{question}”" in first
    assert rest.startswith(heading)
    assert rest == offline.load_transcript(transcript).text()
    assert offline_server.wait_idle(2)
    assert offline_server.requests[-1].selection == f"topic {transcript}"


def test_a_question_no_recording_covers_gets_an_honest_answer_that_quotes_it(
    offline_client: anthropic.Anthropic,
) -> None:
    question = "Explain gradient boosting in detail."
    text = texts(ask(offline_client, question))
    assert text.startswith("> Offline answer: no recorded answer matches this question")
    assert f"“{question}”" in text
    assert "ANTHROPIC_API_KEY" in text and "%claude online" in text
    for topic in ("finding outliers", "cleaning a messy dataset"):
        assert topic in text  # lists what it can answer


def test_thirty_rows_each_get_their_own_answer_deterministically(
    offline_server: offline.OfflineServer,
) -> None:
    """What a DataFrame run needs: each row's answer shows that row's prompt, whatever
    order the concurrent requests complete in, and a repeat gives the same answer."""
    names = ["Ann", "Bob", "Chen", "Dana", "Eve", "Femi"]
    prompts = [
        f"Summarise ticket {i} from {names[i % 6]} in one line: "
        + ("the printer jams " * (i % 4 + 1)).strip()
        for i in range(30)
    ]

    def run(prompt: str) -> tuple[str, list[str]]:
        with (
            anthropic.Anthropic(base_url=offline_server.url, api_key="k", max_retries=0) as c,
            c.messages.stream(
                model=MODEL, max_tokens=500, messages=[{"role": "user", "content": prompt}]
            ) as stream,
        ):
            deltas = [e.delta.text for e in stream if e.type == "content_block_delta"]
            return stream.get_final_message().content[0].text, deltas

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        first = list(pool.map(run, prompts))
        again = list(pool.map(run, prompts))
    for i, (prompt, (text, _)) in enumerate(zip(prompts, first, strict=True)):
        assert f"ticket {i} from {names[i % 6]}" in text
        assert prompt in text
    assert len({text for text, _ in first}) == 30
    assert first == again, "same request, same answer, split into the same deltas"


def test_long_prompts_keep_their_distinct_end_in_the_quote(
    offline_client: anthropic.Anthropic,
) -> None:
    body = "lorem ipsum " * 60
    a = texts(ask(offline_client, f"Summarise: {body} -- row A-17"))
    b = texts(ask(offline_client, f"Summarise: {body} -- row B-42"))
    assert "row A-17" in a and "row B-42" in b and " … " in a


def test_thinking_requests_get_a_thinking_block_then_the_answer(
    offline_client: anthropic.Anthropic,
) -> None:
    question = "How do I plot a histogram of prices?"
    message = ask(offline_client, question, thinking={"type": "enabled", "budget_tokens": 2000})
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert question in message.content[0].thinking and message.content[0].signature
    assert message.content[1].text.endswith(offline.load_transcript("charts").text())
    # the recorded thinking answer, asked without thinking, keeps only its text
    plain = ask(offline_client, "Mean or median for income?")
    assert [b.type for b in plain.content] == ["text"]
    assert plain.content[0].text.endswith(offline.load_transcript("thinking").text())


def test_non_streaming_answers_match_streamed_ones(offline_client: anthropic.Anthropic) -> None:
    question = "Any outliers in the revenue column?"
    created = offline_client.messages.create(
        model=MODEL, max_tokens=4000, messages=[{"role": "user", "content": question}]
    )
    assert texts(created) == texts(ask(offline_client, question))


REGIONS = {
    "name": "total_revenue",
    "description": "Total revenue of one region",
    "input_schema": {
        "type": "object",
        "properties": {"region": {"type": "string", "enum": ["north", "south", "east", "west"]}},
        "required": ["region"],
    },
}
LOOKUP = {
    "name": "lookup",
    "description": "Look something up",
    "input_schema": {
        "type": "object",
        "properties": {"store": {"type": "string"}, "months": {"type": "integer"}},
        "required": ["store", "months"],
    },
}


@pytest.mark.parametrize(
    ("question", "tool", "expected"),
    [
        ("How is the south region doing?", REGIONS, {"region": "south"}),
        ("West?", REGIONS, {"region": "west"}),
        (
            "How did the Lyon store do over the last 6 months?",
            LOOKUP,
            {"store": "Lyon", "months": 6},
        ),
        ('Check "Gare du Nord" for 3 months', LOOKUP, {"store": "Gare du Nord", "months": 3}),
    ],
)
def test_tool_inputs_are_filled_from_the_question(
    question: str,
    tool: dict[str, Any],
    expected: dict[str, Any],
    offline_client: anthropic.Anthropic,
) -> None:
    message = ask(offline_client, question, tools=[tool])
    (call,) = [b for b in message.content if b.type == "tool_use"]
    assert call.input == expected
    again = ask(offline_client, question, tools=[tool])
    assert [b.input for b in again.content if b.type == "tool_use"] == [expected]


def test_explicit_transcripts_are_served_as_recorded(offline_client: anthropic.Anthropic) -> None:
    """--replay and the transcript header stay byte-for-byte: no note is added."""
    message = ask(
        offline_client,
        "anything at all",
        extra_headers={"x-claude-nb-transcript": "markdown"},
    )
    assert texts(message) == offline.load_transcript("markdown").text()
