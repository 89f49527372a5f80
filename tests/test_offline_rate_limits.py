"""Rate limits offline: the API's ``anthropic-ratelimit-*`` headers, 429 + ``retry-after``.

The buckets' arithmetic with injected clocks (deterministic, no sleeping), then the real
SDK over real HTTP: headers on every answer, 429s past the limit, the SDK's retries
absorbing a storm, per-request limits through a header, and the CLI flag.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
from typing import Any

import anthropic
import pytest
from sdk_facts import MODEL

from claude_nb import cli, offline
from claude_nb.offline.rate_limits import RateLimiter, RateLimits, parse_rate_limits
from claude_nb.offline.validate import APIError

HI = [{"role": "user", "content": "Hello"}]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def limiter(spec: str) -> tuple[RateLimiter, Clock]:
    clock = Clock()
    return RateLimiter(RateLimits.parse(spec), clock=clock, wall=lambda: 1_700_000_000.0), clock


def test_requests_per_minute_refill_continuously() -> None:
    rl, clock = limiter("rpm=2")
    first = rl.admit(10, 100)
    assert first.headers["anthropic-ratelimit-requests-limit"] == "2"
    assert first.headers["anthropic-ratelimit-requests-remaining"] == "1"
    rl.admit(10, 100)
    with pytest.raises(APIError) as info:
        rl.admit(10, 100)
    err = info.value
    assert (err.status, err.error_type) == (429, "rate_limit_error")
    assert err.headers["retry-after"] == "30" and err.headers["retry-after-ms"] == "30000"
    assert err.headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert "rate limit of 2 requests per minute" in err.message
    clock.now += 29.9
    with pytest.raises(APIError):
        rl.admit(10, 100)
    clock.now += 0.1
    assert rl.admit(10, 100).headers["anthropic-ratelimit-requests-remaining"] == "0"


def test_reset_is_when_the_bucket_is_full_again_in_rfc3339() -> None:
    rl, _ = limiter("rpm=60")
    headers = rl.admit(1, 1).headers
    reset = dt.datetime.strptime(
        headers["anthropic-ratelimit-requests-reset"], "%Y-%m-%dT%H:%M:%SZ"
    )
    assert reset.replace(tzinfo=dt.timezone.utc).timestamp() == 1_700_000_001  # one request = 1 s


def test_output_tokens_are_reserved_from_max_tokens_then_settled() -> None:
    rl, _ = limiter("otpm=5000")
    first = rl.admit(10, 4000)
    assert first.reserved_output == 4000
    assert first.headers["anthropic-ratelimit-output-tokens-remaining"] == "1000"
    with pytest.raises(APIError, match="5,000 output tokens per minute"):
        rl.admit(10, 4000)  # the first is still in flight
    rl.settle(first.reserved_output, 120)  # it used only 120
    second = rl.admit(10, 4000)
    assert second.headers["anthropic-ratelimit-output-tokens-remaining"] == str(5000 - 120 - 4000)
    # the combined tokens-* headers describe the tightest token limit
    assert second.headers["anthropic-ratelimit-tokens-limit"] == "5000"


def test_input_tokens_and_the_burst_window() -> None:
    rl, clock = limiter("itpm=6000;window=1")  # 100 input tokens per second, 100 at once
    rl.admit(100, 1)
    with pytest.raises(APIError) as info:
        rl.admit(50, 1)
    assert info.value.headers["retry-after-ms"] == "500"
    assert info.value.headers["retry-after"] == "1"
    clock.now += 0.5
    assert rl.admit(50, 1).headers["anthropic-ratelimit-input-tokens-remaining"] == "0"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("rpm=abc", "rpm must be an integer"),
        ("rpm=0", "rpm must be > 0"),
        ("tpm=5", "unknown key 'tpm'"),
        ("window=2", "set at least one of"),
        ("rpm", "expected key=value"),
    ],
)
def test_spec_errors_are_clear(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_rate_limits(spec)
    assert parse_rate_limits("none") is None
    assert str(parse_rate_limits("otpm=8000;rpm=50;window=1")) == "rpm=50;otpm=8000;window=1"


# --------------------------------------------------------------------------- over HTTP


def test_answers_carry_the_headers_and_429s_come_past_the_limit() -> None:
    with (
        offline.start(speed=0, rate_limits="rpm=2;itpm=100000;otpm=20000") as srv,
        anthropic.Anthropic(base_url=srv.url, api_key="k", max_retries=0) as client,
    ):
        raw = client.messages.with_raw_response.create(model=MODEL, max_tokens=1000, messages=HI)
        headers = raw.headers
        raw.parse()
        with client.messages.stream(model=MODEL, max_tokens=1000, messages=HI) as stream:
            streamed = dict(stream.response.headers)
            stream.get_final_message()
        with pytest.raises(anthropic.RateLimitError) as info:
            client.messages.create(model=MODEL, max_tokens=1000, messages=HI)
        assert srv.wait_idle(2)
        statuses = [r.status for r in srv.requests]
    assert headers["anthropic-ratelimit-requests-limit"] == "2"
    assert headers["anthropic-ratelimit-requests-remaining"] == "1"
    assert headers["anthropic-ratelimit-input-tokens-limit"] == "100000"
    assert headers["anthropic-ratelimit-output-tokens-remaining"] == str(20000 - 1000)
    assert headers["anthropic-ratelimit-tokens-limit"] == "20000"
    assert headers["anthropic-ratelimit-requests-reset"].endswith("Z")
    assert streamed["anthropic-ratelimit-requests-remaining"] == "0"
    err = info.value
    assert err.status_code == 429 and err.type == "rate_limit_error"
    assert err.response.headers["retry-after"] == "30"
    assert err.response.headers["x-should-retry"] == "true"
    assert statuses == [200, 200, 429]


def test_the_sdk_absorbs_a_429_storm_by_honouring_retry_after() -> None:
    """30 requests, 8 at a time, against 10 requests/s with bursts of 10: some get 429,
    the SDK waits what retry-after-ms says, and every request completes."""
    with offline.start(speed=0) as srv:

        def one(i: int) -> str:
            with anthropic.Anthropic(base_url=srv.url, api_key="k", max_retries=20) as client:
                message = client.messages.create(
                    model=MODEL,
                    max_tokens=200,
                    messages=[{"role": "user", "content": f"row {i}"}],
                    extra_headers={"x-claude-nb-rate-limit": "rpm=600;window=1"},
                )
                return message.content[0].text

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(one, range(30)))
        assert srv.wait_idle(2)
        statuses = [r.status for r in srv.requests]
    assert all(f"row {i}" in a for i, a in enumerate(answers))
    assert statuses.count(200) == 30 and statuses.count(429) > 0


def test_a_header_limit_replaces_the_servers_and_none_lifts_it() -> None:
    with (
        offline.start(speed=0, rate_limits="rpm=1") as srv,
        anthropic.Anthropic(base_url=srv.url, api_key="k", max_retries=0) as client,
    ):
        client.messages.create(model=MODEL, max_tokens=100, messages=HI)
        with pytest.raises(anthropic.RateLimitError):
            client.messages.create(model=MODEL, max_tokens=100, messages=HI)
        lifted = {"x-claude-nb-rate-limit": "none"}
        for _ in range(3):
            raw = client.messages.with_raw_response.create(
                model=MODEL, max_tokens=100, messages=HI, extra_headers=lifted
            )
            assert "anthropic-ratelimit-requests-limit" not in raw.headers
        with pytest.raises(anthropic.BadRequestError, match="x-claude-nb-rate-limit"):
            client.messages.create(
                model=MODEL,
                max_tokens=100,
                messages=HI,
                extra_headers={"x-claude-nb-rate-limit": "rpm=lots"},
            )
        srv.rate_limits = "rpm=5"  # a new setting starts with full buckets
        raw = client.messages.with_raw_response.create(model=MODEL, max_tokens=100, messages=HI)
        assert raw.headers["anthropic-ratelimit-requests-remaining"] == "4"
        srv.rate_limits = None
        raw = client.messages.with_raw_response.create(model=MODEL, max_tokens=100, messages=HI)
        assert "anthropic-ratelimit-requests-limit" not in raw.headers


def test_cache_reads_do_not_count_toward_input_tokens_per_minute() -> None:
    system: list[dict[str, Any]] = [
        {"type": "text", "text": "Rules. " * 3000, "cache_control": {"type": "ephemeral"}}
    ]
    with (
        offline.start(speed=0, rate_limits="itpm=12000") as srv,
        anthropic.Anthropic(base_url=srv.url, api_key="k", max_retries=0) as client,
    ):
        first = client.messages.with_raw_response.create(
            model=MODEL, max_tokens=100, system=system, messages=HI
        )
        written = first.parse().usage.cache_creation_input_tokens
        after_first = int(first.headers["anthropic-ratelimit-input-tokens-remaining"])
        second = client.messages.with_raw_response.create(
            model=MODEL, max_tokens=100, system=system, messages=HI
        )
        usage = second.parse().usage
        after_second = int(second.headers["anthropic-ratelimit-input-tokens-remaining"])
    assert written > 4000 and usage.cache_read_input_tokens == written
    assert after_first <= 12000 - written
    assert after_first - after_second <= usage.input_tokens + 5  # only the uncached part


def test_cli_rejects_a_bad_rate_limit(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["serve", "--port", "0", "--rate-limit", "rpm=x"]) == 2
    assert "rpm must be an integer" in capsys.readouterr().err
