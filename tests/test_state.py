"""The state step on its own: events in, message and layout out — no server, kernel or widget.

Every shipped transcript is replayed through ``apply_event`` and the ``Layout``, as the
plain dicts a transcript holds and as the SDK event objects a stream yields; the message
must be exactly what the SDK's own accumulator builds from the same events, and the
layout must hold the message's text.
"""

from __future__ import annotations

import re
import typing
from functools import reduce
from typing import Any

import pytest
from anthropic._models import construct_type
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import RawMessageStreamEvent
from sdk_facts import MODEL

from claude_nb import offline
from claude_nb.errors import MalformedStreamError
from claude_nb.render.segments import Layout, MarkdownRun
from claude_nb.stream.state import (
    Change,
    ChangeKind,
    Outcome,
    RunState,
    apply_event,
    begin_turn,
    finish,
)

TRANSCRIPTS = offline.transcript_names()
CITE_MARKS = re.compile(" [⁰¹²³⁴⁵⁶⁷⁸⁹˒]+")


def sdk_event(data: dict[str, Any]) -> Any:
    """What the SDK's stream yields for one SSE ``data`` (its own loose construction)."""
    return construct_type(type_=RawMessageStreamEvent, value=data)


def wire_events(name: str) -> list[dict[str, Any]]:
    """A transcript's events as the SDK's stream would yield them: pings dropped, and
    nothing after an ``error`` event (the SDK raises there)."""
    events = []
    for data in offline.load_transcript(name).dicts():
        if data["type"] == "error":
            break
        if data["type"] != "ping":
            events.append(data)
    return events


def replay(events: list[Any]) -> tuple[RunState, Layout, list[Change]]:
    state = RunState(requested_model=MODEL)
    layout = Layout(state)
    changes = [begin_turn(state)]
    layout.apply(changes[0])
    for event in events:
        change = apply_event(state, event)
        if change is not None:
            layout.apply(change)
            changes.append(change)
    outcome = Outcome.COMPLETE if state.turn.complete else Outcome.ERROR
    changes.append(finish(state, outcome))
    layout.apply(changes[-1])
    return state, layout, changes


def sdk_accumulation(events: list[dict[str, Any]]) -> Any:
    """The SDK's own accumulation of the same events, as ``MessageStream`` does it."""
    bufs: dict[int, bytes] = {}
    return reduce(
        lambda snap, e: accumulate_event(event=sdk_event(e), current_snapshot=snap, json_bufs=bufs),
        events,
        None,
    )


def text_blocks(message: Any) -> str:
    return "".join(b.text for b in message.content if b.type == "text")


@pytest.mark.parametrize("form", ["dicts", "sdk objects"])
@pytest.mark.parametrize("name", TRANSCRIPTS)
def test_every_transcript_replays_to_the_sdks_own_message(name, form):
    events = wire_events(name)
    given = events if form == "dicts" else [sdk_event(e) for e in events]
    state, layout, changes = replay(given)
    expected = sdk_accumulation(events)
    message = state.turn.message
    assert message is not None
    assert message.to_dict(warnings=False) == expected.to_dict(warnings=False)
    assert state.messages == [message]
    assert state.model == expected.model
    # the layout holds the message's text (citation marks aside), in its markdown runs
    shown = "".join(s.md.text for s in layout.segments if isinstance(s, MarkdownRun))
    assert CITE_MARKS.sub("", shown) == text_blocks(message).replace("\r\n", "\n")
    # every change is one the layout consumes (its dispatch ends in assert_never)
    assert {c.kind for c in changes} <= set(typing.get_args(ChangeKind))


def test_a_complete_stream_ends_complete_with_the_apis_counts():
    events = wire_events("thinking")
    state, _, _ = replay(events)
    final = sdk_accumulation(events)
    assert state.turn.complete and state.outcome is Outcome.COMPLETE
    assert not state.output_estimated
    assert state.usage()["output_tokens"] == final.usage.output_tokens
    kinds = {b.type for b in state.turn.blocks}
    assert kinds == {"thinking", "text"}
    assert state.turn.blocks[0].chars == len(final.content[0].thinking)


def test_a_cut_stream_estimates_its_output_from_what_streamed():
    events = wire_events("markdown")
    cut = events[: len(events) // 2]
    state, _, _ = replay(cut)
    assert not state.turn.complete and state.output_estimated
    chars = len(text_blocks(state.turn.message))
    assert state.usage()["output_tokens"] == round(chars / 4) > 1
    assert state.streamed_tokens_estimate() == state.usage()["output_tokens"]


def test_the_model_shown_is_the_one_that_answered():
    events = wire_events("markdown")
    events[0] = {**events[0], "message": {**events[0]["message"], "model": "local-llama-3"}}
    state = RunState(requested_model=MODEL)
    begin_turn(state)
    assert state.model == MODEL  # before message_start: what was asked for
    apply_event(state, events[0])
    assert state.model == "local-llama-3"


def test_unknown_events_are_recorded_not_fatal():
    events = wire_events("markdown")
    odd = {"type": "future_event", "detail": {"x": 1}}
    state, _, changes = replay([*events[:3], odd, *events[3:]])
    assert state.turn.complete
    assert state.turn.unknown_events == [odd]
    assert "future_event" in [e.type for e in state.timeline]
    assert all(c.payload != odd for c in changes)


def test_message_stream_helper_events_are_skipped():
    state = RunState()
    begin_turn(state)
    for helper in ("text", "thinking", "signature", "input_json", "citation"):
        assert apply_event(state, {"type": helper, "snapshot": "x"}) is None
    assert apply_event(state, {"type": "ping"}) is None
    assert len(state.timeline) == 0


# UTF-16 halves ---------------------------------------------------------------------------


def start_events() -> list[dict[str, Any]]:
    return wire_events("markdown")[:2]  # message_start, content_block_start (text)


def text_delta(text: str, index: int = 0) -> dict[str, Any]:
    return {
        "type": "content_block_delta",
        "index": index,
        "delta": {"type": "text_delta", "text": text},
    }


def test_halves_split_over_deltas_are_paired_and_lone_ones_replaced():
    state, layout, changes = replay(
        [
            *start_events(),
            text_delta("Hello \ud83d"),  # a lone high half: the next delta has no low one
            text_delta("X \ud83d"),  # an emoji sent as two escapes in two deltas
            text_delta("\ude00 Y"),
            text_delta(" \ude00 end \ud83d"),  # a lone low half; a high half at the very end
            {"type": "content_block_stop", "index": 0},
        ]
    )
    text = state.turn.message.content[0].text
    assert text == "Hello \ufffdX 😀 Y \ufffd end \ufffd"
    text.encode("utf-8")  # valid: no surrogate left
    (run,) = [s for s in layout.segments if isinstance(s, MarkdownRun)]
    assert run.md.text == text
    pieces = [c.payload[1] for c in changes if c.kind == "delta"]
    assert pieces == ["Hello ", "\ufffdX ", "😀 Y", " \ufffd end "]
    assert state.turn.blocks[0].chars == len(text)


def test_halves_in_a_block_start_are_made_valid():
    events = start_events()
    events[1] = {**events[1], "content_block": {"type": "text", "text": "a\ud83db"}}
    state, _, _ = replay(events)
    assert state.turn.message.content[0].text == "a\ufffdb"


# Malformed streams -------------------------------------------------------------------------


def tool_start(index: int = 1) -> dict[str, Any]:
    return {
        "type": "content_block_start",
        "index": index,
        "content_block": {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}},
    }


@pytest.mark.parametrize(
    ("events", "named"),
    [
        ([text_delta("hi", index=3)], "content_block_delta (text_delta) for block 3"),
        ([tool_start(), text_delta("hi", index=1)], "block 1 is a tool_use block"),
        ([{"type": "message_delta", "delta": {"stop_reason": "end_turn"}}], "message_delta"),
        ([tool_start(index=5)], "content_block_start for block 5"),
        ([{"type": "content_block_stop", "index": 7}], "content_block_stop for block 7"),
    ],
    ids=["delta-for-a-block-never-started", "text-delta-to-a-tool", "no-usage", "gap", "stop"],
)
def test_a_malformed_event_is_named_and_what_came_before_stays(events, named):
    state = RunState()
    begin_turn(state)
    for event in [*start_events(), text_delta("kept")]:
        apply_event(state, event)
    with pytest.raises(MalformedStreamError) as err:
        for event in events:
            apply_event(state, event)
    assert named in str(err.value)
    assert err.value.error.kind == "malformed_stream"
    assert "malformed stream" in err.value.error.line()
    assert state.turn.message.content[0].text == "kept"


def test_an_event_before_message_start_is_malformed():
    state = RunState()
    begin_turn(state)
    with pytest.raises(MalformedStreamError, match="content_block_start"):
        apply_event(state, start_events()[1])
