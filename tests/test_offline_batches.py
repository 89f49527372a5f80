"""The Message Batches API offline, through the SDK's ``client.messages.batches``.

Real SDK over real HTTP: create, retrieve, list, results (JSONL), cancel, delete;
counts that progress over a simulated processing time; errored results for invalid
params and server faults; batches that a restarted server finds again in its folder.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest
from sdk_facts import MODEL

from claude_nb import offline


def params(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "model": MODEL,
        "max_tokens": 300,
        "messages": [{"role": "user", "content": text}],
        **extra,
    }


def rows(n: int) -> list[dict[str, Any]]:
    return [
        {"custom_id": f"row-{i}", "params": params(f"Summarise ticket {i} from customer {i * 7}")}
        for i in range(n)
    ]


def wait_ended(
    client: anthropic.Anthropic, batch_id: str, timeout: float = 30
) -> anthropic.types.messages.MessageBatch:
    deadline = time.monotonic() + timeout
    while True:
        batch = client.messages.batches.retrieve(batch_id)
        if batch.processing_status == "ended" or time.monotonic() > deadline:
            return batch
        time.sleep(0.05)


@pytest.fixture
def client() -> Iterator[anthropic.Anthropic]:
    with (
        offline.start(speed=0) as srv,
        anthropic.Anthropic(base_url=srv.url, api_key="k", max_retries=0) as c,
    ):
        yield c


def test_a_batch_round_trip_maps_results_back_by_custom_id(client: anthropic.Anthropic) -> None:
    created = client.messages.batches.create(requests=rows(30))
    assert created.type == "message_batch" and created.id.startswith("msgbatch_01")
    assert created.processing_status == "in_progress" and created.results_url is None
    assert created.request_counts.processing == 30 and created.ended_at is None
    assert (created.expires_at - created.created_at).total_seconds() == 24 * 3600
    batch = wait_ended(client, created.id)
    assert batch.processing_status == "ended" and batch.ended_at is not None
    assert batch.request_counts.succeeded == 30 and batch.request_counts.processing == 0
    base = str(client.base_url).rstrip("/")
    assert batch.results_url == f"{base}/v1/messages/batches/{batch.id}/results"
    results = {r.custom_id: r.result for r in client.messages.batches.results(batch.id)}
    assert sorted(results) == sorted(f"row-{i}" for i in range(30))
    for i in range(30):
        result = results[f"row-{i}"]
        assert result.type == "succeeded"
        message = result.message
        assert f"ticket {i} from customer {i * 7}" in message.content[0].text
        assert message.usage.service_tier == "batch" and message.model == MODEL
        assert message.stop_reason == "end_turn" and message.id.startswith("msg_01")
    assert [b.id for b in client.messages.batches.list()] == [batch.id]


def test_counts_progress_over_the_processing_time() -> None:
    with (
        offline.start(speed=1, batch_seconds=1.5) as srv,
        anthropic.Anthropic(base_url=srv.url, api_key="k", max_retries=0) as client,
    ):
        created = client.messages.batches.create(requests=rows(20))
        seen = []
        while True:
            batch = client.messages.batches.retrieve(created.id)
            seen.append((batch.processing_status, batch.request_counts.succeeded))
            if batch.processing_status == "ended":
                break
            assert batch.results_url is None
            with pytest.raises(anthropic.AnthropicError, match="Has it finished processing"):
                client.messages.batches.results(created.id)
            time.sleep(0.1)
    done = [n for _, n in seen]
    assert done == sorted(done), "counts only go up"
    assert any(0 < n < 20 for n in done), "a batch in progress shows partial counts"
    assert seen[-1] == ("ended", 20)
    assert all(status == "in_progress" for status, _ in seen[:-1])


def test_cancel_ends_the_batch_with_the_rest_canceled() -> None:
    with (
        offline.start(speed=1, batch_seconds=20) as srv,
        anthropic.Anthropic(base_url=srv.url, api_key="k", max_retries=0) as client,
    ):
        created = client.messages.batches.create(requests=rows(100))
        time.sleep(0.5)
        with pytest.raises(anthropic.BadRequestError, match="cancel it and wait"):
            client.messages.batches.delete(created.id)
        canceling = client.messages.batches.cancel(created.id)
        assert canceling.processing_status == "canceling"
        assert canceling.cancel_initiated_at is not None
        batch = wait_ended(client, created.id, timeout=10)
        counts = batch.request_counts
        results = list(client.messages.batches.results(created.id))
        with pytest.raises(anthropic.BadRequestError, match="already ended"):
            client.messages.batches.cancel(created.id)
        deleted = client.messages.batches.delete(created.id)
        with pytest.raises(anthropic.NotFoundError):
            client.messages.batches.retrieve(created.id)
    assert batch.processing_status == "ended"
    assert counts.canceled > 80 and counts.succeeded + counts.canceled == 100
    assert counts.processing == 0
    kinds = [r.result.type for r in results]
    assert kinds.count("canceled") == counts.canceled and len(results) == 100
    assert deleted.type == "message_batch_deleted" and deleted.id == created.id


def test_invalid_requests_and_faults_give_errored_results() -> None:
    requests = [
        {"custom_id": "ok", "params": params("Any outliers here?")},
        {
            "custom_id": "no-max",
            "params": {"model": MODEL, "messages": [{"role": "user", "content": "x"}]},
        },
        {"custom_id": "streamed", "params": params("hi", stream=True)},
        {"custom_id": "busy", "params": params("row 7: busy day")},
        {
            "custom_id": "wrong-role",
            "params": params("x") | {"messages": [{"role": "assistant", "content": "x"}]},
        },
    ]
    with (
        offline.start(speed=0, faults="status=529;match=row 7") as srv,
        anthropic.Anthropic(base_url=srv.url, api_key="k", max_retries=0) as client,
    ):
        batch = wait_ended(client, client.messages.batches.create(requests=requests).id)
        results = {r.custom_id: r.result for r in client.messages.batches.results(batch.id)}
    assert batch.request_counts.succeeded == 1 and batch.request_counts.errored == 4
    assert results["ok"].type == "succeeded"
    assert "finding outliers" in results["ok"].message.content[0].text
    errors = {
        k: (r.error.error.type, r.error.error.message)
        for k, r in results.items()
        if r.type == "errored"
    }
    assert errors["no-max"] == ("invalid_request_error", "max_tokens: Field required")
    assert errors["streamed"][1].startswith("stream: streaming is not supported")
    assert errors["busy"] == ("overloaded_error", "Overloaded")
    assert errors["wrong-role"][1] == 'messages: first message must use the "user" role'
    assert all(
        r.error.request_id.startswith("req_011") for r in results.values() if r.type == "errored"
    )


def test_structured_output_rows_in_a_batch(client: anthropic.Anthropic) -> None:
    schema = {
        "type": "object",
        "properties": {"customer": {"type": "string"}, "ticket": {"type": "integer"}},
        "required": ["customer", "ticket"],
        "additionalProperties": False,
    }
    fmt = {"format": {"type": "json_schema", "schema": schema}}
    requests = [
        {
            "custom_id": f"t{i}",
            "params": params(f"Ticket {i} from Customer {name}", output_config=fmt),
        }
        for i, name in enumerate(["Ann", "Bob", "Chen"])
    ]
    batch = wait_ended(client, client.messages.batches.create(requests=requests).id)
    parsed = {
        r.custom_id: json.loads(r.result.message.content[0].text)
        for r in client.messages.batches.results(batch.id)
    }
    assert parsed == {
        "t0": {"customer": "Ann", "ticket": 0},
        "t1": {"customer": "Bob", "ticket": 1},
        "t2": {"customer": "Chen", "ticket": 2},
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"requests": []}, "requests: List should have at least 1 item"),
        ({}, "requests: Field required"),
        ({"requests": "nope"}, "requests: Input should be a valid list"),
        ({"requests": [{"params": params("x")}]}, "requests.0.custom_id: Field required"),
        (
            {"requests": [{"custom_id": "a b", "params": params("x")}]},
            "requests.0.custom_id: String should match",
        ),
        ({"requests": [{"custom_id": "a"}]}, "requests.0.params: Field required"),
        (
            {
                "requests": [
                    {"custom_id": "a", "params": params("x")},
                    {"custom_id": "a", "params": params("y")},
                ]
            },
            "requests.1.custom_id: 'a' is used more than once",
        ),
    ],
)
def test_create_validates_like_the_api(body: dict[str, Any], message: str) -> None:
    with offline.start(speed=0) as srv, httpx2.Client(base_url=srv.url) as http:
        r = http.post("/v1/messages/batches", json=body, headers={"x-api-key": "k"})
        listed = http.get("/v1/messages/batches", headers={"x-api-key": "k"}).json()
        leftovers = list(srv.batch_dir.glob("*")) if srv.batch_dir.exists() else []
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    assert r.json()["error"]["message"].startswith(message)
    assert listed["data"] == [] and leftovers == []


def test_results_of_an_unfinished_batch_and_unknown_ids() -> None:
    with offline.start(speed=1, batch_seconds=30) as srv, httpx2.Client(base_url=srv.url) as http:
        headers = {"x-api-key": "k"}
        created = http.post(
            "/v1/messages/batches", json={"requests": rows(3)}, headers=headers
        ).json()
        r = http.get(f"/v1/messages/batches/{created['id']}/results", headers=headers)
        assert r.status_code == 400 and "still in_progress" in r.json()["error"]["message"]
        r = http.get("/v1/messages/batches/msgbatch_01nope", headers=headers)
        assert r.status_code == 404 and r.json()["error"]["type"] == "not_found_error"
        r = http.put(f"/v1/messages/batches/{created['id']}", headers=headers)
        assert (r.status_code, r.headers["allow"]) == (405, "GET, DELETE")


def test_list_pages_newest_first(client: anthropic.Anthropic) -> None:
    ids = [client.messages.batches.create(requests=rows(1)).id for _ in range(5)]
    page = client.messages.batches.list(limit=2)
    assert [b.id for b in page.data] == ids[::-1][:2] and page.has_more
    assert [b.id for b in client.messages.batches.list(limit=2)] == ids[::-1]  # auto-paging
    assert [b.id for b in client.beta.messages.batches.list()] == ids[::-1]


def test_a_restarted_server_finds_its_batches_and_resumes_them(tmp_path: Path) -> None:
    """What a kernel restart needs: the same folder, a new server, the same batch."""
    with (
        offline.start(speed=1, batch_seconds=3, batch_dir=tmp_path) as first,
        anthropic.Anthropic(base_url=first.url, api_key="k", max_retries=0) as client,
    ):
        done = wait_ended(client, client.messages.batches.create(requests=rows(2)).id)
        running = client.messages.batches.create(requests=rows(40))
        time.sleep(0.8)
        before = client.messages.batches.retrieve(running.id).request_counts
    assert 0 < before.succeeded < 40
    with (
        offline.start(speed=1, batch_dir=tmp_path) as second,
        anthropic.Anthropic(base_url=second.url, api_key="k", max_retries=0) as client,
    ):
        assert client.messages.batches.retrieve(done.id).processing_status == "ended"
        assert len(list(client.messages.batches.results(done.id))) == 2
        resumed = client.messages.batches.retrieve(running.id)
        assert resumed.request_counts.succeeded >= before.succeeded
        batch = wait_ended(client, running.id)
        ids = [r.custom_id for r in client.messages.batches.results(running.id)]
        assert batch.results_url.startswith(second.url)
    assert batch.request_counts.succeeded == 40
    assert sorted(ids) == sorted(f"row-{i}" for i in range(40)), "each row once, none lost"


def test_two_servers_sharing_a_folder_work_on_each_batch_once(tmp_path: Path) -> None:
    """Two kernels with the same CLAUDE_NB_OFFLINE_BATCHES: one processes a batch, the
    other follows its progress, can cancel it, and takes over when the first goes."""
    a = offline.start(speed=1, batch_seconds=3, batch_dir=tmp_path)
    b = offline.start(speed=1, batch_dir=tmp_path)
    try:
        with (
            anthropic.Anthropic(base_url=a.url, api_key="k", max_retries=0) as via_a,
            anthropic.Anthropic(base_url=b.url, api_key="k", max_retries=0) as via_b,
        ):
            first = via_a.messages.batches.create(requests=rows(40))
            time.sleep(1.0)
            seen_by_b = via_b.messages.batches.retrieve(first.id)
            assert seen_by_b.processing_status == "in_progress"
            assert 0 < seen_by_b.request_counts.succeeded < 40
            assert [x.id for x in via_b.messages.batches.list()] == [first.id]
            a.stop()  # the first server goes away mid-batch: the second takes over
            ended = wait_ended(via_b, first.id)
            ids = [r.custom_id for r in via_b.messages.batches.results(first.id)]
            second = via_b.messages.batches.create(requests=rows(5))
    finally:
        a.stop()
        b.stop()
    assert ended.request_counts.succeeded == 40
    assert sorted(ids) == sorted(f"row-{i}" for i in range(40))
    assert second.id != first.id


def test_a_cancel_through_another_server_reaches_the_one_working(tmp_path: Path) -> None:
    with (
        offline.start(speed=1, batch_seconds=20, batch_dir=tmp_path) as a,
        offline.start(speed=1, batch_dir=tmp_path) as b,
        anthropic.Anthropic(base_url=a.url, api_key="k", max_retries=0) as via_a,
        anthropic.Anthropic(base_url=b.url, api_key="k", max_retries=0) as via_b,
    ):
        created = via_a.messages.batches.create(requests=rows(50))
        canceling = via_b.messages.batches.cancel(created.id)
        assert canceling.processing_status == "canceling"
        ended = wait_ended(via_a, created.id, timeout=10)
        assert wait_ended(via_b, created.id).processing_status == "ended"
    assert ended.request_counts.canceled > 40
    assert ended.cancel_initiated_at is not None


def test_the_folder_can_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAUDE_NB_OFFLINE_BATCHES", str(tmp_path))
    with offline.start(speed=0) as srv:
        assert srv.batch_dir == tmp_path
        with anthropic.Anthropic(base_url=srv.url, api_key="k", max_retries=0) as client:
            wait_ended(client, client.messages.batches.create(requests=rows(1)).id)
    assert len(list(tmp_path.glob("*.results.jsonl"))) == 1  # kept after stop


def test_a_private_folder_goes_with_the_server(client: anthropic.Anthropic) -> None:
    batch = wait_ended(client, client.messages.batches.create(requests=rows(1)).id)
    assert batch.processing_status == "ended"


def test_thousands_of_requests_stream_back_as_jsonl(client: anthropic.Anthropic) -> None:
    n = 3000
    batch = wait_ended(client, client.messages.batches.create(requests=rows(n)).id, timeout=120)
    assert batch.request_counts.succeeded == n
    seen = 0
    for result in client.messages.batches.results(batch.id):
        assert result.result.type == "succeeded"
        seen += 1
    assert seen == n
