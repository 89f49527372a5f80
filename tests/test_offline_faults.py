"""Fault injection: spec parsing, and failures reaching the real SDK like the real API's."""

from __future__ import annotations

import threading
import time
from typing import Any

import anthropic
import httpx2
import pytest
from sdk_facts import MODEL

from claude_nb import offline
from claude_nb.offline.faults import FaultSpec, parse_faults

HI = [{"role": "user", "content": "Hello!"}]


def client_for(srv: offline.OfflineServer, **kwargs: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=srv.url, api_key="test-key", **kwargs)


# --------------------------------------------------------------------------- grammar


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("status=429;retry_after=1;times=2", FaultSpec(status=429, retry_after=1.0, times=2)),
        (" status = 529 ; ", FaultSpec(status=529)),
        (
            "error_after=5;error_type=api_error;message=boom",
            FaultSpec(error_after=5, error_type="api_error", message="boom"),
        ),
        ("drop_after=3", FaultSpec(drop_after=3)),
        ("stall_after=0;stall=2.5;times=1", FaultSpec(stall_after=0, stall=2.5, times=1)),
        ("retry-after=0.5;status=500", FaultSpec(status=500, retry_after=0.5)),
        ("off_schema=missing;times=1", FaultSpec(off_schema="missing", times=1)),
        ("status=500;match=ticket 7", FaultSpec(status=500, match="ticket 7")),
    ],
)
def test_parse_valid_specs(spec: str, expected: FaultSpec) -> None:
    parsed = parse_faults(spec)
    assert parsed == expected
    assert parse_faults(str(parsed)) == parsed


def test_no_fault_spellings() -> None:
    assert parse_faults(None) is None
    assert parse_faults("") is None
    assert parse_faults(" none ") is None
    spec = FaultSpec(status=500)
    assert parse_faults(spec) is spec


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("status=abc", "status must be an integer"),
        ("status=200", "status must be an HTTP error code"),
        ("sttaus=429", "unknown key 'sttaus'"),
        ("status", "expected key=value"),
        ("times=2", "need exactly one of"),
        ("status=429;drop_after=2", "need exactly one of"),
        ("drop_after=2;retry_after=1", "retry_after cannot be used with drop_after="),
        ("error_after=1;error_type=bogus", "unknown error_type 'bogus'"),
        ("status=429;times=0", "times must be >= 1"),
        ("stall_after=1;stall=-1", "stall must be >= 0"),
        ("status=429;status=500", "status given twice"),
        ("off_schema=sometimes", "off_schema must be one of missing, type, json"),
        ("off_schema=type;retry_after=1", "retry_after cannot be used with off_schema="),
    ],
)
def test_parse_errors_are_clear(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_faults(spec)


def test_bad_server_faults_raise_at_assignment() -> None:
    with pytest.raises(ValueError):
        offline.start(speed=0, faults="status=nope")
    with offline.start(speed=0) as srv, pytest.raises(ValueError, match="unknown key"):
        srv.faults = "bogus=1"


def test_fault_error_body_and_headers() -> None:
    spec = FaultSpec(status=429, retry_after=1.5)
    assert spec.error_body("req_1")["error"]["type"] == "rate_limit_error"
    assert spec.retry_headers() == {"retry-after": "2", "retry-after-ms": "1500"}
    assert FaultSpec(status=529).resolved_message == "Overloaded"
    assert FaultSpec(status=500).resolved_error_type == "api_error"
    assert FaultSpec(error_after=1).resolved_error_type == "overloaded_error"


# --------------------------------------------------------------------------- HTTP errors


def test_429_then_success_after_sdk_retries() -> None:
    with (
        offline.start(speed=0, faults="status=429;retry_after=0.01;times=2") as srv,
        client_for(srv, max_retries=2) as client,
    ):
        with client.messages.stream(model=MODEL, max_tokens=2000, messages=HI) as stream:
            assert stream.get_final_message().stop_reason == "end_turn"
        assert srv.wait_idle(2)
        records = srv.requests
    assert [r.status for r in records] == [429, 429, 200]
    assert [r.outcome for r in records] == ["http_error", "http_error", "complete"]
    assert [r.headers["x-stainless-retry-count"] for r in records] == ["0", "1", "2"]
    assert records[0].fault == "status=429;retry_after=0.01;times=2" and records[2].fault is None


def test_529_beyond_retries_raises_overloaded() -> None:
    with (
        offline.start(speed=0, faults="status=529;retry_after=0.01") as srv,
        client_for(srv, max_retries=1) as client,
    ):
        with pytest.raises(anthropic.OverloadedError) as info:
            client.messages.create(model=MODEL, max_tokens=100, messages=HI)
        assert srv.wait_idle(2)
        assert len(srv.requests) == 2
    err = info.value
    assert (err.status_code, err.type, err.api_message) == (529, "overloaded_error", "Overloaded")
    assert err.request_id is not None and err.request_id.startswith("req_011")


def test_500_raw_response_shape() -> None:
    with (
        offline.start(speed=0, faults="status=500") as srv,
        httpx2.Client(base_url=srv.url) as http,
    ):
        r = http.post(
            "/v1/messages",
            json={"model": MODEL, "max_tokens": 5, "messages": HI},
            headers={"x-api-key": "k"},
        )
    assert r.status_code == 500
    assert r.headers["x-should-retry"] == "true"
    body = r.json()
    assert body["type"] == "error" and body["error"] == {
        "type": "api_error",
        "message": "Internal server error",
    }
    assert body["request_id"] == r.headers["request-id"]


def test_header_fault_per_request_and_none_override() -> None:
    with (
        offline.start(speed=0, faults="status=529") as srv,
        client_for(srv, max_retries=0) as client,
    ):
        ok = client.messages.create(
            model=MODEL, max_tokens=2000, messages=HI, extra_headers={"x-claude-nb-fault": "none"}
        )
        assert ok.stop_reason == "end_turn"
        with pytest.raises(anthropic.RateLimitError):
            client.messages.create(
                model=MODEL,
                max_tokens=100,
                messages=HI,
                extra_headers={"x-claude-nb-fault": "status=429;times=1"},
            )
        # times=1 for that header spec is used up: the same header now succeeds
        again = client.messages.create(
            model=MODEL,
            max_tokens=2000,
            messages=HI,
            extra_headers={"x-claude-nb-fault": "status=429;times=1"},
        )
        assert again.stop_reason == "end_turn"
        with pytest.raises(anthropic.BadRequestError, match="x-claude-nb-fault"):
            client.messages.create(
                model=MODEL,
                max_tokens=100,
                messages=HI,
                extra_headers={"x-claude-nb-fault": "nonsense"},
            )
        srv.faults = None
        assert (
            client.messages.create(model=MODEL, max_tokens=2000, messages=HI).stop_reason
            == "end_turn"
        )


def test_reassigning_faults_resets_times() -> None:
    with offline.start(speed=0) as srv, client_for(srv, max_retries=0) as client:
        for _ in range(2):
            srv.faults = "status=500;times=1"
            with pytest.raises(anthropic.InternalServerError):
                client.messages.create(model=MODEL, max_tokens=100, messages=HI)
            assert (
                client.messages.create(model=MODEL, max_tokens=2000, messages=HI).stop_reason
                == "end_turn"
            )


# --------------------------------------------------------------------------- mid-stream faults


def test_error_after_raises_api_status_error_and_keeps_partial() -> None:
    with (
        offline.start(speed=0, faults="error_after=6", transcript="markdown") as srv,
        client_for(srv, max_retries=0) as client,
    ):
        with client.messages.stream(model=MODEL, max_tokens=2000, messages=HI) as stream:
            with pytest.raises(anthropic.APIStatusError) as info:
                for _ in stream:
                    pass
            partial = stream.current_message_snapshot.content[0].text
        assert srv.wait_idle(2)
        record = srv.requests[-1]
    assert info.value.type == "overloaded_error" and info.value.status_code == 200
    assert partial and offline.load_transcript("markdown").text().startswith(partial)
    assert (record.outcome, record.events_sent) == ("error_event", 7)


def test_error_after_non_streaming_is_an_http_error() -> None:
    with (
        offline.start(speed=0, faults="error_after=3;error_type=api_error") as srv,
        client_for(srv, max_retries=0) as client,
        pytest.raises(anthropic.InternalServerError) as info,
    ):
        client.messages.create(model=MODEL, max_tokens=100, messages=HI)
    assert info.value.type == "api_error"


def test_drop_after_raises_remote_protocol_error() -> None:
    with (
        offline.start(speed=0, faults="drop_after=8") as srv,
        client_for(srv, max_retries=0) as client,
    ):
        with client.messages.stream(model=MODEL, max_tokens=2000, messages=HI) as stream:
            with pytest.raises(httpx2.RemoteProtocolError):
                for _ in stream:
                    pass
            assert stream.current_message_snapshot.stop_reason is None
        assert srv.wait_idle(2)
        record = srv.requests[-1]
    assert (record.outcome, record.events_sent) == ("dropped", 8)


def test_stall_after_times_out_the_client_and_is_recorded() -> None:
    with (
        offline.start(speed=0, faults="stall_after=5") as srv,
        client_for(srv, max_retries=0, timeout=1.0) as client,
    ):
        start = time.monotonic()
        with (
            client.messages.stream(model=MODEL, max_tokens=2000, messages=HI) as stream,
            pytest.raises(httpx2.ReadTimeout),
        ):
            for _ in stream:
                pass
        assert 0.9 <= time.monotonic() - start < 3.0
        assert srv.wait_idle(2), "the server noticed the client leaving during the stall"
        record = srv.requests[-1]
    assert (record.outcome, record.stalled, record.events_sent) == ("client_disconnected", True, 5)


def test_finite_stall_resumes_the_stream() -> None:
    with (
        offline.start(speed=0, faults="stall_after=3;stall=0.4") as srv,
        client_for(srv, max_retries=0) as client,
    ):
        start = time.monotonic()
        message = client.messages.create(model=MODEL, max_tokens=2000, messages=HI, stream=False)
        assert message.stop_reason == "end_turn"
        with client.messages.stream(model=MODEL, max_tokens=2000, messages=HI) as stream:
            assert stream.get_final_message().stop_reason == "end_turn"
        assert time.monotonic() - start >= 0.8
        assert srv.wait_idle(2)
        assert [(r.outcome, r.stalled) for r in srv.requests] == [
            ("complete", True),
            ("complete", True),
        ]


def test_stop_ends_a_stall_promptly() -> None:
    baseline = threading.active_count()
    srv = offline.start(speed=0, faults="stall_after=2")
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with (
                client_for(srv, max_retries=0) as client,
                client.messages.stream(model=MODEL, max_tokens=2000, messages=HI) as stream,
            ):
                for _ in stream:
                    pass
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    deadline = time.monotonic() + 5
    while not (srv.requests and srv.requests[-1].stalled) and time.monotonic() < deadline:
        time.sleep(0.02)
    t0 = time.monotonic()
    srv.stop()
    assert time.monotonic() - t0 < 2.0
    thread.join(5)
    assert srv.requests[-1].outcome == "stalled"
    assert errors and isinstance(errors[0], httpx2.TransportError)
    assert threading.active_count() == baseline


def test_drop_non_streaming_is_a_connection_error() -> None:
    with (
        offline.start(speed=0, faults="drop_after=0") as srv,
        client_for(srv, max_retries=0) as client,
    ):
        with pytest.raises(anthropic.APIConnectionError):
            client.messages.create(model=MODEL, max_tokens=100, messages=HI)
        assert srv.wait_idle(2)
        assert srv.requests[-1].outcome == "dropped"


def test_match_limits_a_fault_to_the_requests_that_mention_it() -> None:
    with (
        offline.start(speed=0, faults="status=500;match=ticket 7;times=5") as srv,
        client_for(srv, max_retries=0) as client,
    ):
        ok = client.messages.create(
            model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "ticket 8"}]
        )
        with pytest.raises(anthropic.InternalServerError):
            client.messages.create(
                model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "Ticket 7?"}]
            )
        assert srv.wait_idle(2)
        records = srv.requests
    assert "ticket 8" in ok.content[0].text
    assert [(r.status, r.fault) for r in records] == [
        (200, None),
        (500, "status=500;times=5;match=ticket 7"),
    ]
