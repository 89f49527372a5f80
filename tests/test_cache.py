"""The answer cache's store: real SQLite files, several processes, broken databases."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import time
from pathlib import Path

import anthropic
import pytest
from anthropic.lib.streaming._messages import accumulate_event
from sdk_facts import MODEL

from claude_nb import offline
from claude_nb.notebook.cache import (
    AnswerCache,
    CachedAnswer,
    fingerprint,
    read_answers,
    resolve_path,
)
from claude_nb.stream.replay import message_events

REQUEST = {
    "model": MODEL,
    "max_tokens": 100,
    "messages": [{"role": "user", "content": "hi"}],
    "extra_headers": {"x-claude-nb-transcript": "markdown", "x-claude-nb-speed": "0"},
}


def answer(key: str = "k1", created: float = 1_700_000_000.0, cost: float | None = 0.25):
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [{"type": "text", "text": f"answer {key}", "citations": None}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 5},
    }
    return CachedAnswer(key, "offline", MODEL, created, message, cost, 1.5, 0.2, "req_1")


# --- the key ----------------------------------------------------------------------------


def test_fingerprint_is_the_body_as_sent_and_the_endpoint() -> None:
    base = fingerprint("offline", REQUEST)
    assert base == fingerprint("offline", json.loads(json.dumps(REQUEST)))
    assert base != fingerprint("https://api.anthropic.com", REQUEST)
    assert base != fingerprint("offline", {**REQUEST, "max_tokens": 101})
    assert base != fingerprint("offline", {**REQUEST, "system": "Be terse."})
    # pacing does not change an answer; the offline transcript chosen does
    slower = {**REQUEST, "extra_headers": {**REQUEST["extra_headers"], "x-claude-nb-speed": "1"}}
    assert base == fingerprint("offline", slower)
    other = {**REQUEST, "extra_headers": {"x-claude-nb-transcript": "thinking"}}
    assert base != fingerprint("offline", other)
    # extra_body is sent merged into the body: the same request either way
    merged = {**REQUEST, "temperature": 0.2}
    assert fingerprint("offline", merged) == fingerprint(
        "offline", {**REQUEST, "extra_body": {"temperature": 0.2}}
    )
    # streaming or not, and the timeout, are not the request's content
    assert base == fingerprint("offline", {**REQUEST, "stream": True, "timeout": 5})


def test_fingerprint_never_sees_credentials() -> None:
    keyed = {**REQUEST, "extra_headers": {**REQUEST["extra_headers"], "x-api-key": "sk-ant-x"}}
    assert fingerprint("offline", keyed) == fingerprint("offline", REQUEST)


# --- storing ----------------------------------------------------------------------------


def test_round_trip_counts_hits_and_money_saved(tmp_path: Path) -> None:
    cache = AnswerCache(tmp_path / "a.sqlite3")
    assert cache.get("k1") is None
    cache.put(answer(), preview="hi")
    assert cache.get("k1") == answer()
    assert cache.get("k1") == answer()
    stats = cache.stats()
    assert (stats.entries, stats.hits, stats.saved_usd) == (1, 2, 0.5)
    assert stats.size_bytes > 0
    assert cache.recent()[0]["preview"] == "hi"
    cache.put(answer(cost=None))  # replaced
    assert cache.get("k1").cost_usd is None and cache.stats().entries == 1


def test_the_file_is_shared_with_a_second_connection(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite3"
    AnswerCache(path).put(answer())
    assert AnswerCache(path).get("k1") == answer()
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_clear_everything_or_what_is_older(tmp_path: Path) -> None:
    cache = AnswerCache(tmp_path / "a.sqlite3")
    now = time.time()
    cache.put(answer("old", created=now - 10 * 86400))
    cache.put(answer("new", created=now - 3600))
    assert cache.clear(older_than_days=7) == 1
    assert cache.get("old") is None and cache.get("new") is not None
    assert cache.clear() == 1 and cache.stats().entries == 0


def test_export_and_import(tmp_path: Path) -> None:
    cache = AnswerCache(tmp_path / "a.sqlite3")
    cache.put(answer("k1"))
    cache.put(answer("k2"))
    assert cache.export(tmp_path / "answers.jsonl") == 2
    other = AnswerCache(tmp_path / "b.sqlite3")
    assert other.import_file(tmp_path / "answers.jsonl") == 2
    assert other.get("k2") == answer("k2")
    (tmp_path / "junk.jsonl").write_text("not json\n")
    with pytest.raises(ValueError, match="line 1"):
        other.import_file(tmp_path / "junk.jsonl")


def test_import_reads_answers_embedded_in_a_saved_notebook(tmp_path: Path) -> None:
    record = answer("k9").record()
    notebook = {
        "cells": [
            {"cell_type": "markdown", "source": "x"},
            {
                "cell_type": "code",
                "outputs": [
                    {"output_type": "stream", "text": "x"},
                    {
                        "output_type": "display_data",
                        "data": {"text/plain": "x"},
                        "metadata": {"claude_nb": {"fingerprint": "k9", "answers": [record]}},
                    },
                ],
            },
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = tmp_path / "shared.ipynb"
    path.write_text(json.dumps(notebook, indent=1))
    assert [a.fingerprint for a in read_answers(path)] == ["k9"]
    cache = AnswerCache(tmp_path / "a.sqlite3")
    assert cache.import_file(path) == 1 and cache.get("k9") == answer("k9")


def _writer(path: str, start: int, count: int) -> None:
    cache = AnswerCache(path)
    for i in range(start, start + count):
        cache.put(answer(f"k{i}"))
        assert cache.get(f"k{i}") is not None
    assert cache.broken is None


def test_several_processes_share_one_database(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.sqlite3")
    AnswerCache(path)  # created before the writers race
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, n * 50, 50)) for n in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    assert AnswerCache(path).stats().entries == 200


# --- failing gracefully -----------------------------------------------------------------


def test_a_corrupt_database_is_no_cache_with_one_warning(tmp_path: Path) -> None:
    path = tmp_path / "bad.sqlite3"
    path.write_bytes(b"this is not sqlite" * 500)
    warnings: list[str] = []
    cache = AnswerCache(path, warn=warnings.append)
    cache.put(answer())
    assert cache.get("k1") is None and cache.stats().entries == 0 and cache.clear() == 0
    assert len(warnings) == 1 and "not a database" in warnings[0] and str(path) in warnings[0]


def test_a_locked_database_degrades_instead_of_failing(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite3"
    warnings: list[str] = []
    cache = AnswerCache(path, warn=warnings.append)
    holder = sqlite3.connect(path)
    holder.execute("BEGIN EXCLUSIVE")  # another kernel holding the write lock
    try:
        cache.put(answer())
        cache.put(answer("k2"))
    finally:
        holder.rollback()
    assert len(warnings) == 1 and "locked" in warnings[0]
    assert cache.get("k1") is None  # off for the rest of the session


def test_an_unwritable_location_is_no_cache(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    warnings: list[str] = []
    cache = AnswerCache(blocker / "sub" / "a.sqlite3", warn=warnings.append)
    assert cache.broken and len(warnings) == 1
    cache.put(answer())


def test_where_the_cache_lives(tmp_path: Path) -> None:
    assert resolve_path("", {"CLAUDE_NB_CACHE": "off"}) is None
    assert resolve_path("/x/y.db", {"CLAUDE_NB_CACHE": "OFF"}) is None
    assert resolve_path("off", {}) is None
    assert resolve_path("", {"CLAUDE_NB_CACHE": str(tmp_path / "c.db")}) == tmp_path / "c.db"
    assert resolve_path(str(tmp_path / "d.db"), {"CLAUDE_NB_CACHE": "/elsewhere"}) == (
        tmp_path / "d.db"
    )
    assert resolve_path("", {"XDG_CACHE_HOME": "/nowhere"}).name == "answers.sqlite3"


# --- replay -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n in offline.transcript_names() if "error" not in n])
def test_a_replayed_message_accumulates_to_the_original(
    name: str, offline_client: anthropic.Anthropic
) -> None:
    with offline_client.messages.stream(
        model=MODEL,
        max_tokens=8000,
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"x-claude-nb-transcript": name},
    ) as stream:
        original = stream.get_final_message().to_dict()
    snapshot = None
    for event in message_events(original):
        snapshot = accumulate_event(event=event, current_snapshot=snapshot, json_bufs={})
    assert snapshot is not None and snapshot.to_dict() == original
