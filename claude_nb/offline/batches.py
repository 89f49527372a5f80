"""The Message Batches API, offline: create, retrieve, list, cancel, delete, results.

Shapes follow the SDK's ``anthropic.types.messages`` (``MessageBatch``,
``MessageBatchIndividualResponse``, ``DeletedMessageBatch``). A batch is processed in the
background over a simulated time (``seconds``, fixed when it is created: the server's
``batch_seconds`` divided by its speed, 0 = as fast as the answers can be computed);
request ``i`` of ``n`` completes at ``created_at + seconds * (i + 1) / n``, so
``request_counts`` progress steadily (the API documents them as moving only when the
whole batch ends; the live API, like this one, counts as it goes). Each request is
answered exactly as ``POST /v1/messages`` would answer it (through
:func:`claude_nb.offline.messages.batch_result`): invalid params and server faults give
``errored`` results. ``cancel`` moves the batch to ``canceling``, then every request not
yet done is ``canceled`` and the batch ends; a request due after ``expires_at`` (24 h)
is ``expired``.

Memory stays bounded at 100,000 requests: the create body is read one request at a
time and spooled to ``ID.requests.jsonl``; results are appended to ``ID.results.jsonl``
and streamed from the file; only each batch's counts live in memory. Batches live in a
directory: a private temporary one (removed when the server stops) unless one is given
(``batch_dir=``, ``serve --batch-dir`` or ``CLAUDE_NB_OFFLINE_BATCHES``), in which case
a restarted server finds every batch again and resumes the unfinished ones; that is how a
kernel restart can re-attach to a batch. Several servers may share a folder (two kernels
with the same ``CLAUDE_NB_OFFLINE_BATCHES``): one works on each batch (it holds an
exclusive lock on ``ID.lock``), the others read its progress from the files, pass a
cancel on through ``ID.cancel``, and take the batch over if its server goes away.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from claude_nb.offline.batch_requests import MAX_REQUESTS, spool_requests
from claude_nb.offline.format import new_id
from claude_nb.offline.model_list import page
from claude_nb.offline.validate import APIError

__all__ = ["MAX_REQUESTS", "BatchStore", "ResultFn"]

logger = logging.getLogger("claude_nb.offline")

EXPIRES_AFTER = 24 * 3600.0
_SAVE_EVERY = 0.5
_POLL = 0.2
_BATCH_ID = re.compile(r"^msgbatch_[0-9A-Za-z]+$")
_COUNTS = ("processing", "succeeded", "errored", "canceled", "expired")

ResultFn = Callable[[Any], dict[str, Any]]
"""Answers one request's ``params`` with a ``MessageBatchResult`` dict."""


def _rfc3339(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    moment = dt.datetime.fromtimestamp(epoch, tz=dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _bad(message: str) -> APIError:
    return APIError(400, "invalid_request_error", message)


@dataclass
class _Batch:
    id: str
    created_at: float
    total: int
    seconds: float
    counts: dict[str, int]
    ended_at: float | None = None
    cancel_initiated_at: float | None = None
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    worker: threading.Thread | None = field(default=None, repr=False)
    lock_fd: int | None = field(default=None, repr=False)

    @property
    def owned(self) -> bool:
        """Whether this process works on the batch (another server may, in a shared folder)."""
        return self.worker is not None

    @property
    def expires_at(self) -> float:
        return self.created_at + EXPIRES_AFTER

    @property
    def status(self) -> str:
        if self.ended_at is not None:
            return "ended"
        return "canceling" if self.cancel_initiated_at is not None else "in_progress"

    def meta(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": self.created_at,
            "total": self.total,
            "seconds": self.seconds,
            "counts": dict(self.counts),
            "ended_at": self.ended_at,
            "cancel_initiated_at": self.cancel_initiated_at,
        }


class BatchStore:
    """Every batch of one server, its files in ``directory``, each processed by a thread."""

    def __init__(
        self,
        directory: str | Path | None,
        answer: ResultFn,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._owned = directory is None
        self._directory = None if directory is None else Path(directory)
        if self._directory is not None:
            self._directory.mkdir(parents=True, exist_ok=True)
        self._answer = answer
        self._clock = clock
        self._lock = threading.Lock()
        self._save_lock = threading.Lock()
        self._stopping = threading.Event()
        self._batches: dict[str, _Batch] = {}
        self._load()

    # -- files ------------------------------------------------------------------------
    @property
    def directory(self) -> Path:
        """The batches' folder (a private temporary one is made on first use)."""
        if self._directory is None:
            self._directory = Path(tempfile.mkdtemp(prefix="claude-nb-batches-"))
        return self._directory

    def _path(self, batch_id: str, kind: str) -> Path:
        return self.directory / f"{batch_id}.{kind}"

    def _save(self, batch: _Batch) -> None:
        """Write the batch's state (atomically; the latest snapshot always wins)."""
        path = self._path(batch.id, "json")
        tmp = path.with_suffix(".json.tmp")
        with self._save_lock:
            with self._lock:
                meta = batch.meta()
            tmp.write_text(json.dumps(meta), encoding="utf-8")
            os.replace(tmp, path)

    def _read(self, batch_id: str) -> _Batch | None:
        path = self._path(batch_id, "json")
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
            return _Batch(
                id=meta["id"],
                created_at=float(meta["created_at"]),
                total=int(meta["total"]),
                seconds=float(meta["seconds"]),
                counts={k: int(meta["counts"][k]) for k in _COUNTS},
                ended_at=meta.get("ended_at"),
                cancel_initiated_at=meta.get("cancel_initiated_at"),
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            logger.warning("ignoring unreadable batch file %s", path)
            return None

    def _load(self) -> None:
        """Find the batches a previous server left in the folder; resume unfinished ones."""
        if self._directory is None:
            return
        for path in sorted(self._directory.glob("*.json")):
            self._find(path.name.removesuffix(".json"))

    def _find(self, batch_id: str) -> _Batch | None:
        """A batch this store has not seen yet (another server made it), from its file."""
        batch = self._read(batch_id) if _BATCH_ID.match(batch_id) else None
        if batch is None:
            return None
        with self._lock:
            known = self._batches.setdefault(batch_id, batch)
        if known is batch and batch.ended_at is None:
            self._adopt(batch)
        return known

    def _refresh(self, batch: _Batch) -> None:
        """Another server works on ``batch``: read its progress; take it over if that
        server is gone."""
        fresh = self._read(batch.id)
        if fresh is None:
            return
        with self._lock:
            batch.counts, batch.ended_at = fresh.counts, fresh.ended_at
            batch.cancel_initiated_at = batch.cancel_initiated_at or fresh.cancel_initiated_at
        if batch.ended_at is None:
            self._adopt(batch)

    def _adopt(self, batch: _Batch) -> None:
        """Work on an unfinished batch if no other process does (an exclusive file lock)."""
        if batch.owned or not self._claim(batch):
            return
        counts = self._recount(batch)
        with self._lock:
            batch.counts = counts
        self._check_cancel(batch)
        self._start(batch)

    def _claim(self, batch: _Batch) -> bool:
        if fcntl is None:  # no cross-process locks here: one server per folder
            return True
        fd = os.open(self._path(batch.id, "lock"), os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        batch.lock_fd = fd
        return True

    def _release(self, batch: _Batch) -> None:
        if batch.lock_fd is not None:
            os.close(batch.lock_fd)  # releases the lock
            batch.lock_fd = None

    def _check_cancel(self, batch: _Batch) -> None:
        """Pick up a cancel asked through another server (its ``ID.cancel`` file)."""
        if batch.cancel.is_set():
            return
        marker = self._path(batch.id, "cancel")
        if not marker.exists():
            return
        with self._lock:
            if batch.cancel_initiated_at is None:
                try:
                    batch.cancel_initiated_at = float(marker.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    batch.cancel_initiated_at = self._clock()
        batch.cancel.set()

    def _recount(self, batch: _Batch) -> dict[str, int]:
        """Counts from the results file (cutting a half-written last line)."""
        counts = dict.fromkeys(_COUNTS, 0)
        path = self._path(batch.id, "results.jsonl")
        good = 0
        if path.exists():
            with path.open("rb") as f:
                for line in f:
                    if not line.endswith(b"\n"):
                        break
                    counts[json.loads(line)["result"]["type"]] += 1
                    good += len(line)
            with path.open("r+b") as f:
                f.truncate(good)
        counts["processing"] = batch.total - sum(counts.values())
        return counts

    # -- the API ----------------------------------------------------------------------
    def create(self, raw: bytes, seconds: float, base_url: str) -> dict[str, Any]:
        """``POST /v1/messages/batches``: validate and spool the requests, start processing."""
        batch_id = new_id("msgbatch_01")
        spool = self._path(batch_id, "requests.jsonl")
        try:
            total = spool_requests(raw, spool)
        except BaseException:
            spool.unlink(missing_ok=True)
            raise
        batch = _Batch(
            id=batch_id,
            created_at=self._clock(),
            total=total,
            seconds=max(0.0, seconds),
            counts={**dict.fromkeys(_COUNTS, 0), "processing": total},
        )
        self._path(batch_id, "results.jsonl").touch()
        self._save(batch)
        created = self.describe(batch, base_url)  # as created: every request processing
        with self._lock:
            self._batches[batch_id] = batch
        if self._claim(batch):
            self._start(batch)
        logger.info("batch %s created: %d requests over %.1fs", batch_id, total, batch.seconds)
        return created

    def get(self, batch_id: str) -> _Batch:
        """A batch by id, as of now (404 like the API for an unknown or deleted one)."""
        with self._lock:
            batch = self._batches.get(batch_id)
        if batch is None:
            batch = self._find(batch_id)
        elif not batch.owned and batch.ended_at is None:
            self._refresh(batch)
        if batch is None or not self._path(batch_id, "json").exists():
            with self._lock:
                self._batches.pop(batch_id, None)
            raise APIError(404, "not_found_error", f"message_batch_id: {batch_id} not found")
        return batch

    def describe(self, batch: _Batch, base_url: str) -> dict[str, Any]:
        """The batch as a ``MessageBatch``."""
        with self._lock:
            counts = dict(batch.counts)
            ended = batch.ended_at
            status = batch.status
        results = f"{base_url}/v1/messages/batches/{batch.id}/results" if ended else None
        return {
            "id": batch.id,
            "type": "message_batch",
            "processing_status": status,
            "request_counts": counts,
            "ended_at": _rfc3339(ended),
            "created_at": _rfc3339(batch.created_at),
            "expires_at": _rfc3339(batch.expires_at),
            "archived_at": None,
            "cancel_initiated_at": _rfc3339(batch.cancel_initiated_at),
            "results_url": results,
        }

    def list(self, query: Mapping[str, Sequence[str]], base_url: str) -> dict[str, Any]:
        """``GET /v1/messages/batches``: newest first, paginated like the API."""
        if self._directory is not None:
            for path in self._directory.glob("*.json"):
                batch_id = path.name.removesuffix(".json")
                with self._lock:
                    known = batch_id in self._batches
                if not known:
                    self._find(batch_id)
        with self._lock:
            batches = sorted(self._batches.values(), key=lambda b: (-b.created_at, b.id))
        for batch in batches:
            if not batch.owned and batch.ended_at is None:
                self._refresh(batch)
        return page([self.describe(b, base_url) for b in batches], query)

    def cancel(self, batch_id: str, base_url: str) -> dict[str, Any]:
        """``POST .../cancel``: ``canceling`` now, ``ended`` once the rest is canceled."""
        batch = self.get(batch_id)
        with self._lock:
            if batch.ended_at is not None:
                raise _bad(
                    f"Batch {batch_id} has already ended ({batch.status}); only a batch still "
                    "in progress can be canceled."
                )
            if batch.cancel_initiated_at is None:
                batch.cancel_initiated_at = self._clock()
        answer = self.describe(batch, base_url)  # "canceling", however fast the rest goes
        if batch.owned:
            self._save(batch)
            batch.cancel.set()
        else:  # the server working on it picks this up
            self._path(batch_id, "cancel").write_text(
                repr(batch.cancel_initiated_at), encoding="utf-8"
            )
        return answer

    def delete(self, batch_id: str) -> dict[str, Any]:
        """``DELETE``: only an ended batch; its files go too."""
        batch = self.get(batch_id)
        with self._lock:
            if batch.ended_at is None:
                raise _bad(
                    f"Batch {batch_id} is still {batch.status}: cancel it and wait until it has "
                    "ended before deleting it."
                )
            del self._batches[batch_id]
        for kind in ("json", "requests.jsonl", "results.jsonl", "lock", "cancel"):
            self._path(batch_id, kind).unlink(missing_ok=True)
        return {"id": batch_id, "type": "message_batch_deleted"}

    def results_file(self, batch_id: str) -> Path:
        """The JSONL results of an ended batch (400 while it is still processing)."""
        batch = self.get(batch_id)
        if batch.ended_at is None:
            raise _bad(
                f"Batch {batch_id} is still {batch.status}: results are available once its "
                "processing_status is 'ended'."
            )
        return self._path(batch_id, "results.jsonl")

    def close(self, timeout: float = 5.0) -> None:
        """Stop processing (unfinished batches resume in a server using the same directory)."""
        self._stopping.set()
        deadline = time.monotonic() + timeout
        with self._lock:
            workers = [b.worker for b in self._batches.values() if b.worker is not None]
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            batches = list(self._batches.values())
        for batch in batches:
            self._release(batch)
        if self._owned and self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)

    # -- processing -------------------------------------------------------------------
    def _start(self, batch: _Batch) -> None:
        batch.worker = threading.Thread(
            target=self._process, args=(batch,), name=f"claude-nb-batch-{batch.id}", daemon=True
        )
        batch.worker.start()

    def _process(self, batch: _Batch) -> None:
        try:
            self._run(batch)
        except Exception:
            logger.exception("batch %s failed", batch.id)
        finally:
            if batch.ended_at is not None:
                self._release(batch)

    def _run(self, batch: _Batch) -> None:
        with self._lock:
            done = batch.total - batch.counts["processing"]
        saved = time.monotonic()
        requests_path = self._path(batch.id, "requests.jsonl")
        with (
            requests_path.open("r", encoding="utf-8") as requests,
            self._path(batch.id, "results.jsonl").open("a", encoding="utf-8") as out,
        ):
            for i, line in enumerate(requests):
                if i < done:
                    continue
                due = batch.created_at + batch.seconds * (i + 1) / max(1, batch.total)
                if not self._wait_until(batch, due):
                    out.flush()
                    self._save(batch)
                    return  # the server is stopping: resume later from the results file
                item = json.loads(line)
                if batch.cancel.is_set():
                    result: dict[str, Any] = {"type": "canceled"}
                elif due > batch.expires_at:
                    result = {"type": "expired"}
                else:
                    result = self._answer(item["params"])
                out.write(
                    json.dumps(
                        {"custom_id": item["custom_id"], "result": result}, ensure_ascii=False
                    )
                    + "\n"
                )
                with self._lock:
                    batch.counts["processing"] -= 1
                    batch.counts[result["type"]] += 1
                if time.monotonic() - saved > _SAVE_EVERY:
                    out.flush()
                    self._save(batch)
                    saved = time.monotonic()
            out.flush()
        with self._lock:
            batch.ended_at = self._clock()
        self._save(batch)
        self._path(batch.id, "cancel").unlink(missing_ok=True)
        logger.info("batch %s ended: %s", batch.id, batch.counts)

    def _wait_until(self, batch: _Batch, due: float) -> bool:
        """Wait for a request's due time (a cancel cuts it short); False when stopping."""
        while not self._stopping.is_set():
            self._check_cancel(batch)
            remaining = due - self._clock()
            if remaining <= 0 or batch.cancel.is_set():
                return True
            batch.cancel.wait(min(remaining, _POLL))
        return False
