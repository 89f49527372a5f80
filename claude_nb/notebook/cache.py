"""The answer cache: a re-run notebook answers from disk, pays nothing and changes nothing.

Every request that completes is stored in SQLite (stdlib ``sqlite3`` in WAL mode, so
several kernels share one file), keyed by a :func:`fingerprint` of the exact request body
sent and the endpoint it went to: offline answers never answer online requests, and a
changed tool result, system prompt or option is a different key. The API key is never
part of anything stored. A cached answer is the final ``Message`` plus what the footer
and the provenance show (cost, timing, request id), all fixed at store time, so two runs
served from the cache save byte-identical outputs.

The cache is a courtesy, never a failure: a corrupt, locked or unwritable database
degrades to "no cache" with one warning line, and the cell runs as if it were off.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

SCHEMA_VERSION = 1
ENV = "CLAUDE_NB_CACHE"
OFF = frozenset({"off", "0", "false", "no", "none"})
# Request headers that choose an offline answer are part of the key; pacing is not.
UNKEYED_HEADERS = frozenset({"x-claude-nb-speed"})
# Keyword arguments of messages.stream/create that are not the request body.
NOT_BODY = frozenset({"extra_headers", "extra_query", "extra_body", "timeout", "stream"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    fingerprint TEXT PRIMARY KEY,
    endpoint    TEXT NOT NULL,
    model       TEXT NOT NULL,
    created     REAL NOT NULL,
    message     TEXT NOT NULL,
    cost_usd    REAL,
    duration    REAL,
    ttft        REAL,
    request_id  TEXT,
    preview     TEXT NOT NULL DEFAULT '',
    hits        INTEGER NOT NULL DEFAULT 0,
    saved_usd   REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS answers_created ON answers (created);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_COLUMNS = (
    "fingerprint",
    "endpoint",
    "model",
    "created",
    "message",
    "cost_usd",
    "duration",
    "ttft",
    "request_id",
)


def endpoint_name(base_url: str, *, offline: bool) -> str:
    """The cache's name for where requests go: ``offline`` for the built-in offline server
    (its port changes every session; its answers are the same), else the base URL."""
    return "offline" if offline else str(base_url).rstrip("/")


def fingerprint(endpoint: str, request: Mapping[str, Any]) -> str:
    """SHA-256 of the request body exactly as sent (``extra_body`` merged in, as the SDK
    sends it) and the endpoint; headers only where they choose an offline answer."""
    body = {k: v for k, v in request.items() if k not in NOT_BODY}
    body.update(request.get("extra_body") or {})
    headers = {
        k.lower(): v
        for k, v in (request.get("extra_headers") or {}).items()
        if k.lower().startswith("x-claude-nb-") and k.lower() not in UNKEYED_HEADERS
    }
    blob = json.dumps(
        {"v": SCHEMA_VERSION, "endpoint": endpoint, "body": body, "headers": headers},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=_canonical,
    )
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()


def _canonical(value: Any) -> Any:
    """JSON for what the SDK would serialise itself: pydantic models, schemas, paths."""
    for name in ("model_json_schema", "model_dump"):
        fn = getattr(value, name, None)
        if callable(fn):
            return fn()
    return repr(value)


@dataclass(frozen=True)
class CachedAnswer:
    """One stored answer: the final message and what its output shows, fixed at store time."""

    fingerprint: str
    endpoint: str
    model: str
    created: float  # Unix time the answer was stored
    message: dict[str, Any]  # the final ``Message`` as JSON
    cost_usd: float | None = None  # what the original call cost (None: unknown price)
    duration: float | None = None
    ttft: float | None = None
    request_id: str | None = None

    def record(self) -> dict[str, Any]:
        """As one line of an export file (and the ``answers`` list an ipynb embeds)."""
        return {name: getattr(self, name) for name in _COLUMNS}

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> CachedAnswer:
        message = data["message"]
        if not isinstance(message, dict) or not isinstance(data.get("fingerprint"), str):
            raise ValueError("not a claude_nb cached answer")
        return cls(
            fingerprint=data["fingerprint"],
            endpoint=str(data.get("endpoint") or ""),
            model=str(data.get("model") or message.get("model") or ""),
            created=float(data.get("created") or 0.0),
            message=message,
            cost_usd=_float(data.get("cost_usd")),
            duration=_float(data.get("duration")),
            ttft=_float(data.get("ttft")),
            request_id=data.get("request_id"),
        )


@dataclass(frozen=True)
class CacheStats:
    path: str
    entries: int
    size_bytes: int
    hits: int
    saved_usd: float


def default_path() -> Path:
    """Where answers live unless ``CLAUDE_NB_CACHE`` or ``Claude.cache_path`` says otherwise."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "claude_nb" / "answers.sqlite3"


def resolve_path(setting: str | None, environ: Mapping[str, str] = os.environ) -> Path | None:
    """The database path for a setting (``Claude.cache_path``), ``CLAUDE_NB_CACHE`` or the
    default; None when either says ``off``."""
    env = environ.get(ENV, "").strip()
    if env.lower() in OFF:
        return None
    value = (setting or "").strip() or env
    if value.lower() in OFF:
        return None
    return Path(os.path.expanduser(value)) if value else default_path()


class AnswerCache:
    """The SQLite store. Every method degrades to a no-op after the first database error."""

    def __init__(self, path: str | Path, *, warn: Callable[[str], None] | None = None) -> None:
        self.path = Path(path)
        self._warn = warn or _stderr
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self.broken: str | None = None  # why the cache is off, once it failed
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=2.0, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?)",
                (str(SCHEMA_VERSION),),
            )
            db.commit()
            self._db = db
        except (sqlite3.Error, OSError) as exc:
            self._fail(exc)

    # Reading and writing ----------------------------------------------------------------

    def get(self, key: str) -> CachedAnswer | None:
        """The answer stored under ``key`` (counting the hit and the money it saves), or None."""

        def get(db: sqlite3.Connection) -> CachedAnswer | None:
            row = db.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM answers WHERE fingerprint = ?", (key,)
            ).fetchone()
            if row is None:
                return None
            answer = _answer(row)
            db.execute(
                "UPDATE answers SET hits = hits + 1, saved_usd = saved_usd + ?"
                " WHERE fingerprint = ?",
                (answer.cost_usd or 0.0, key),
            )
            db.commit()
            return answer

        return self._run(None, get)

    def put(self, answer: CachedAnswer, preview: str = "") -> None:
        """Store (or replace) an answer."""

        def put(db: sqlite3.Connection) -> None:
            _insert(db, answer, preview)
            db.commit()

        self._run(None, put)

    def contains(self, key: str) -> bool:
        return self._run(
            False,
            lambda db: (
                db.execute("SELECT 1 FROM answers WHERE fingerprint = ?", (key,)).fetchone()
                is not None
            ),
        )

    # Housekeeping -----------------------------------------------------------------------

    def stats(self) -> CacheStats:
        entries, hits, saved = self._run(
            (0, 0, 0.0),
            lambda db: db.execute(
                "SELECT COUNT(*), COALESCE(SUM(hits), 0), COALESCE(SUM(saved_usd), 0) FROM answers"
            ).fetchone(),
        )
        files = (self.path, Path(f"{self.path}-wal"))
        size = sum(p.stat().st_size for p in files if p.is_file())
        return CacheStats(str(self.path), int(entries), size, int(hits), float(saved))

    def recent(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest entries: when, model, endpoint, preview, cost, hits."""
        keys = ("created", "model", "endpoint", "preview", "cost_usd", "hits")
        rows: list[tuple[Any, ...]] = self._run(
            [],
            lambda db: db.execute(
                f"SELECT {', '.join(keys)} FROM answers ORDER BY created DESC LIMIT ?", (limit,)
            ).fetchall(),
        )
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def clear(self, older_than_days: float | None = None) -> int:
        """Delete every entry, or those stored more than ``older_than_days`` ago; the count."""

        def clear(db: sqlite3.Connection) -> int:
            if older_than_days is None:
                cur = db.execute("DELETE FROM answers")
            else:
                cutoff = time.time() - older_than_days * 86400
                cur = db.execute("DELETE FROM answers WHERE created < ?", (cutoff,))
            db.commit()
            return cur.rowcount

        return self._run(0, clear)

    def export(self, path: str | Path) -> int:
        """Write every entry as JSON lines (one answer per line); the count."""

        def export(db: sqlite3.Connection) -> int:
            count = 0
            with open(path, "w", encoding="utf-8") as f:
                query = f"SELECT {', '.join(_COLUMNS)} FROM answers ORDER BY created"
                for row in db.execute(query):
                    f.write(json.dumps(_answer(row).record(), ensure_ascii=False) + "\n")
                    count += 1
            return count

        return self._run(0, export)

    def import_file(self, path: str | Path) -> int:
        """Read answers from an export file or from a saved notebook whose outputs embed
        them (``Claude.embed_answers``); the count stored. Raises ``ValueError`` for a file
        that is neither."""
        answers = list(read_answers(path))

        def store(db: sqlite3.Connection) -> int:
            for answer in answers:
                _insert(db, answer, "")
            db.commit()
            return len(answers)

        return self._run(0, store)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # Internals ---------------------------------------------------------------------------

    def _run(self, default: T, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn(db)`` under the lock; ``default`` when the cache is off or the database fails
        (which turns it off, with one warning)."""
        with self._lock:
            if self._db is None:
                return default
            try:
                return fn(self._db)
            except sqlite3.Error as exc:
                self._fail(exc)
                return default

    def _fail(self, exc: BaseException) -> None:
        if self.broken is None:
            self.broken = f"{type(exc).__name__}: {exc}"
            self._warn(
                f"claude_nb: the answer cache at {self.path} cannot be used ({exc}); "
                "answers are not cached for now. Delete the file or point CLAUDE_NB_CACHE "
                "(or %config Claude.cache_path) elsewhere."
            )
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None


def _insert(db: sqlite3.Connection, answer: CachedAnswer, preview: str) -> None:
    db.execute(
        f"INSERT OR REPLACE INTO answers ({', '.join(_COLUMNS)}, preview)"
        f" VALUES ({', '.join('?' * (len(_COLUMNS) + 1))})",
        (
            answer.fingerprint,
            answer.endpoint,
            answer.model,
            answer.created,
            json.dumps(answer.message, ensure_ascii=False),
            answer.cost_usd,
            answer.duration,
            answer.ttft,
            answer.request_id,
            preview[:200],
        ),
    )


def read_answers(path: str | Path) -> Iterator[CachedAnswer]:
    """Answers from an export (JSON lines) or a saved notebook's embedded outputs."""
    text = Path(path).read_text(encoding="utf-8")
    if str(path).endswith(".ipynb") or (text.lstrip().startswith("{\n") and '"cells"' in text):
        yield from _notebook_answers(json.loads(text))
        return
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield CachedAnswer.from_record(json.loads(line))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}, line {n}: not a claude_nb cached answer ({exc})") from exc


def _notebook_answers(notebook: Mapping[str, Any]) -> Iterator[CachedAnswer]:
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []) or []:
            meta = (output.get("metadata") or {}).get("claude_nb") or {}
            for record in meta.get("answers") or []:
                try:
                    yield CachedAnswer.from_record(record)
                except (ValueError, KeyError, TypeError):
                    continue


def _answer(row: tuple[Any, ...]) -> CachedAnswer:
    data = dict(zip(_COLUMNS, row, strict=True))
    data["message"] = json.loads(data["message"])
    return CachedAnswer.from_record(data)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)
