"""Prompt caching offline, as the API accounts for it: breakpoints, reads, writes, TTLs.

Over real HTTP with the real SDK (streamed and not), plus the cache's clock-driven
lifetime with an injected clock (no sleeping for five minutes).
"""

from __future__ import annotations

from typing import Any

import anthropic
import pytest
from sdk_facts import MODEL, OTHER_MODEL

from claude_nb.offline.prompt_cache import PromptCache, min_cacheable_tokens
from claude_nb.offline.tokens import estimate_input_tokens

# ~6,000 tokens: above every model's minimum cacheable length
BIG = "You are a careful data analyst. Answer briefly and cite the column you used. " * 300
EPHEMERAL = {"type": "ephemeral"}


def system(text: str = BIG, **control: Any) -> list[dict[str, Any]]:
    return [{"type": "text", "text": text, "cache_control": {**EPHEMERAL, **control}}]


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def usage_of(message: Any) -> tuple[int, int, int]:
    u = message.usage
    return u.input_tokens, u.cache_creation_input_tokens, u.cache_read_input_tokens


def test_a_cached_system_prompt_is_written_then_read(offline_client: anthropic.Anthropic) -> None:
    body = {"model": MODEL, "max_tokens": 500, "system": system(), "messages": [user("Hi")]}
    total = offline_client.messages.count_tokens(
        model=MODEL, system=body["system"], messages=body["messages"]
    ).input_tokens
    with offline_client.messages.stream(**body) as stream:
        events = list(stream)
        first = stream.get_final_message()
    start_usage = events[0].message.usage
    written = start_usage.cache_creation_input_tokens
    assert written > min_cacheable_tokens(MODEL)
    assert start_usage.cache_creation.ephemeral_5m_input_tokens == written
    assert start_usage.cache_creation.ephemeral_1h_input_tokens == 0
    assert usage_of(first) == (total - written, written, 0)
    second = offline_client.messages.create(**body)
    assert usage_of(second) == (total - written, 0, written)
    # a different question after the same system prompt still reads it
    third = offline_client.messages.create(**{**body, "messages": [user("What is a z-score?")]})
    assert third.usage.cache_read_input_tokens == written


def test_a_chat_reads_the_previous_turn_and_writes_only_the_new_part(
    offline_client: anthropic.Anthropic,
) -> None:
    def turn(history: list[dict[str, Any]]) -> anthropic.types.Message:
        last = history[-1]
        marked = {
            "role": "user",
            "content": [{"type": "text", "text": last["content"], "cache_control": EPHEMERAL}],
        }
        return offline_client.messages.create(
            model=MODEL, max_tokens=500, system=system(), messages=[*history[:-1], marked]
        )

    history = [user("How do I find outliers? " + "Context line. " * 50)]
    one = turn(history)
    history += [
        {"role": "assistant", "content": one.content[0].text},
        user("And with skewed data?"),
    ]
    two = turn(history)
    written_one = one.usage.cache_creation_input_tokens
    assert one.usage.cache_read_input_tokens == 0 and written_one > 0
    assert two.usage.cache_read_input_tokens == written_one, "turn 1's prefix found by lookback"
    assert two.usage.cache_creation_input_tokens > 0, "the new assistant + user part is written"
    assert two.usage.input_tokens < 10
    assert sum(usage_of(two)) == estimate_input_tokens({"system": system(), "messages": history})


def test_below_the_minimum_length_nothing_is_cached(offline_client: anthropic.Anthropic) -> None:
    short = system("Be brief.")
    for _ in range(2):
        message = offline_client.messages.create(
            model=MODEL, max_tokens=100, system=short, messages=[user("Hi")]
        )
        assert message.usage.cache_creation_input_tokens == 0
        assert message.usage.cache_read_input_tokens == 0


def test_caches_are_per_model_and_per_content(offline_client: anthropic.Anthropic) -> None:
    body = {"max_tokens": 100, "system": system(), "messages": [user("Hi")]}
    assert offline_client.messages.create(model=MODEL, **body).usage.cache_creation_input_tokens
    other = offline_client.messages.create(model=OTHER_MODEL, **body)
    assert other.usage.cache_read_input_tokens == 0 and other.usage.cache_creation_input_tokens
    changed = offline_client.messages.create(
        model=MODEL, **{**body, "system": system(BIG + " One more rule.")}
    )
    assert changed.usage.cache_read_input_tokens == 0


def test_tools_and_top_level_cache_control(offline_client: anthropic.Anthropic) -> None:
    tool = {
        "name": "lookup",
        "description": BIG,
        "input_schema": {"type": "object", "properties": {}},
        "cache_control": EPHEMERAL,
    }
    body = {"model": MODEL, "max_tokens": 100, "tools": [tool], "tool_choice": {"type": "none"}}
    first = offline_client.messages.create(**body, messages=[user("Hi")])
    second = offline_client.messages.create(**body, messages=[user("Hello")])
    assert first.usage.cache_creation_input_tokens == second.usage.cache_read_input_tokens > 0
    # top-level cache_control marks the last block: the whole prompt
    auto = {"model": MODEL, "max_tokens": 100, "system": BIG, "cache_control": EPHEMERAL}
    long_question = [{"role": "user", "content": [{"type": "text", "text": "Why? " * 10}]}]
    a = offline_client.messages.create(**auto, messages=long_question)
    b = offline_client.messages.create(**auto, messages=long_question)
    assert a.usage.cache_creation_input_tokens == b.usage.cache_read_input_tokens
    assert b.usage.input_tokens <= 4


def test_one_hour_entries_and_their_split(offline_client: anthropic.Anthropic) -> None:
    blocks = [
        {"type": "text", "text": BIG, "cache_control": {"type": "ephemeral", "ttl": "1h"}},
        {"type": "text", "text": BIG + " part two", "cache_control": EPHEMERAL},
    ]
    message = offline_client.messages.create(
        model=MODEL, max_tokens=100, system=blocks, messages=[user("Hi")]
    )
    assert message.usage.cache_creation.ephemeral_1h_input_tokens > 0
    assert message.usage.cache_creation.ephemeral_5m_input_tokens > 0
    assert message.usage.cache_creation_input_tokens == (
        message.usage.cache_creation.ephemeral_1h_input_tokens
        + message.usage.cache_creation.ephemeral_5m_input_tokens
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {
                "system": [
                    {"type": "text", "text": f"s{i}", "cache_control": EPHEMERAL} for i in range(5)
                ]
            },
            "A maximum of 4 blocks with cache_control may be provided. Found 5.",
        ),
        (
            {
                "system": [
                    {"type": "text", "text": "a", "cache_control": EPHEMERAL},
                    {
                        "type": "text",
                        "text": "b",
                        "cache_control": {"type": "ephemeral", "ttl": "1h"},
                    },
                ]
            },
            "a cache_control block with ttl '1h' cannot come after one with ttl '5m'",
        ),
        (
            {
                "system": [
                    {
                        "type": "text",
                        "text": "a",
                        "cache_control": {"type": "ephemeral", "ttl": "2h"},
                    }
                ]
            },
            "system.cache_control.ttl: Input should be '5m' or '1h'",
        ),
    ],
)
def test_invalid_breakpoints_are_refused_like_the_api(
    kwargs: dict[str, Any], message: str, offline_client: anthropic.Anthropic
) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        offline_client.messages.create(model=MODEL, max_tokens=10, messages=[user("Hi")], **kwargs)
    assert info.value.body["error"]["message"].startswith(message)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def body_with(ttl: str | None = None) -> dict[str, Any]:
    control = {"type": "ephemeral", **({"ttl": ttl} if ttl else {})}
    return {
        "model": MODEL,
        "system": [{"type": "text", "text": BIG, "cache_control": control}],
        "messages": [user("Hi")],
    }


def test_entries_live_five_minutes_from_their_last_use() -> None:
    clock = Clock()
    cache = PromptCache(clock=clock)
    written = cache.account(body_with()).cache_creation_input_tokens
    clock.now += 299
    assert cache.account(body_with()).cache_read_input_tokens == written  # refreshes it
    clock.now += 299
    assert cache.account(body_with()).cache_read_input_tokens == written
    clock.now += 301
    again = cache.account(body_with())
    assert (again.cache_read_input_tokens, again.cache_creation_input_tokens) == (0, written)


def test_one_hour_entries_outlive_five_minutes() -> None:
    clock = Clock()
    cache = PromptCache(clock=clock)
    usage = cache.account(body_with("1h"))
    assert usage.ephemeral_1h_input_tokens > 0 and usage.ephemeral_5m_input_tokens == 0
    clock.now += 50 * 60
    assert cache.account(body_with("1h")).cache_read_input_tokens == usage.ephemeral_1h_input_tokens
    clock.now += 61 * 60
    assert cache.account(body_with("1h")).cache_read_input_tokens == 0
    cache.clear()
    assert len(cache) == 0


def test_minimum_cacheable_length_by_model() -> None:
    assert min_cacheable_tokens("claude-sonnet-4-5") == 1024
    assert min_cacheable_tokens("claude-sonnet-4-6") == 2048
    assert min_cacheable_tokens("claude-opus-4-1") == 1024
    assert min_cacheable_tokens("claude-opus-4-5-20251101") == 4096
    assert min_cacheable_tokens("claude-haiku-4-5") == 4096
    assert min_cacheable_tokens("claude-3-5-haiku-latest") == 4096  # unknown shape: strictest
    assert min_cacheable_tokens("my-local-model") == 4096
