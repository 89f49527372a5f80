"""A local HTTP server that speaks the Anthropic Messages API (offline backend).

The real ``anthropic`` SDK connects to it through ``base_url``; answers come from
transcripts (:mod:`claude_nb.offline.selection`), failures from fault specs
(:mod:`claude_nb.offline.faults`), 429s from rate limits
(:mod:`claude_nb.offline.rate_limits`), cache reads and writes from
:mod:`claude_nb.offline.prompt_cache`; endpoints are listed in
:mod:`claude_nb.offline.handler`. Every response has a ``request-id`` header. Each
request is logged (logger ``claude_nb.offline``, keys never logged) and recorded as a
:class:`RequestRecord`.

Message batches are kept in a folder (:mod:`claude_nb.offline.batches`): a temporary
one, or ``batch_dir`` / ``$CLAUDE_NB_OFFLINE_BATCHES`` so a new server (a restarted
kernel's) finds them again.

The beta ``thread`` field (server-held conversation state, which the SDK's
``tool_runner`` uses by default) works too: ``{"type": "create"}`` remembers the history
plus the reply under the reply's id, ``{"type": "continue", "previous_message_id": ...}``
prepends that history (and its ``system`` / ``tools``) before validation and selection.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from pathlib import Path
from types import TracebackType

from claude_nb.offline.batches import BatchStore
from claude_nb.offline.faults import FaultSpec
from claude_nb.offline.format import Transcript
from claude_nb.offline.handler import APIHandler
from claude_nb.offline.messages import batch_result
from claude_nb.offline.prompt_cache import PromptCache
from claude_nb.offline.rate_limits import RateLimits
from claude_nb.offline.state import OUTCOMES, BackendState, RequestRecord
from claude_nb.offline.transport import BackendHTTPServer

__all__ = ["BATCH_DIR_ENV", "OUTCOMES", "OfflineServer", "RequestRecord"]

logger = logging.getLogger("claude_nb.offline")

BATCH_DIR_ENV = "CLAUDE_NB_OFFLINE_BATCHES"
"""A folder for message batches that outlive the server (e.g. across kernel restarts)."""


class OfflineServer:
    """A running offline backend. Create with :func:`claude_nb.offline.start`.

    ``speed``, ``ttft``, ``tokens_per_second``, ``transcript`` and ``faults`` can be
    changed while it runs; new values apply to the next request (``speed`` also to
    the next event of streams in flight).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        speed: float = 1.0,
        ttft: float = 0.4,
        tokens_per_second: float = 80.0,
        transcript: Transcript | str | None = None,
        faults: FaultSpec | str | None = None,
        rate_limits: RateLimits | str | None = None,
        batch_seconds: float = 10.0,
        batch_dir: str | Path | None = None,
    ) -> None:
        self._state = BackendState(
            speed=speed,
            ttft=ttft,
            tokens_per_second=tokens_per_second,
            transcript=transcript,
            faults=faults,
            rate_limits=rate_limits,
            batch_seconds=batch_seconds,
        )
        if batch_dir is None:
            batch_dir = os.environ.get(BATCH_DIR_ENV) or None
        self._state.batches = BatchStore(batch_dir, functools.partial(batch_result, self._state))
        self._serve_thread: threading.Thread | None = None
        self._stopped = False
        self._httpd = BackendHTTPServer((host, port), self._state, APIHandler)

    # -- settings -------------------------------------------------------------------
    @property
    def speed(self) -> float:
        """Pace multiplier: 1 realistic, 0.1 ten times slower, 0 no waits at all."""
        return self._state.speed

    @speed.setter
    def speed(self, value: float) -> None:
        self._state.speed = value

    @property
    def ttft(self) -> float:
        """Seconds before the first token, at speed 1 (recorded timing overrides it)."""
        return self._state.ttft

    @ttft.setter
    def ttft(self, value: float) -> None:
        self._state.ttft = float(value)

    @property
    def tokens_per_second(self) -> float:
        """Streaming rate at speed 1 (recorded timing overrides it)."""
        return self._state.tokens_per_second

    @tokens_per_second.setter
    def tokens_per_second(self, value: float) -> None:
        self._state.tokens_per_second = float(value)

    @property
    def transcript(self) -> Transcript | None:
        """Default transcript for every request (None: choose per request)."""
        return self._state.transcript

    @transcript.setter
    def transcript(self, value: Transcript | str | None) -> None:
        self._state.transcript = value

    @property
    def faults(self) -> FaultSpec | None:
        """Server-wide fault (a spec string or :class:`FaultSpec`); setting resets ``times``."""
        return self._state.faults

    @faults.setter
    def faults(self, value: FaultSpec | str | None) -> None:
        self._state.faults = value

    @property
    def rate_limits(self) -> RateLimits | None:
        """Requests/tokens per minute enforced with 429s (a spec such as ``"rpm=50;otpm=8000"``
        or :class:`RateLimits`; None: unlimited). Setting it starts with full buckets."""
        return self._state.rate_limits

    @rate_limits.setter
    def rate_limits(self, value: RateLimits | str | None) -> None:
        self._state.rate_limits = value

    @property
    def batch_seconds(self) -> float:
        """How long a message batch takes to process at speed 1 (divided by ``speed``)."""
        return self._state.batch_seconds

    @batch_seconds.setter
    def batch_seconds(self, value: float) -> None:
        self._state.batch_seconds = value

    @property
    def batch_dir(self) -> Path:
        """Where message batches are kept (a temporary folder unless one was given)."""
        assert self._state.batches is not None
        return self._state.batches.directory

    @property
    def prompt_cache(self) -> PromptCache:
        """The prompt cache every request reads and writes (``clear()`` empties it)."""
        return self._state.prompt_cache

    # -- lifecycle ------------------------------------------------------------------
    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> OfflineServer:
        if self._serve_thread is None:
            self._serve_thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="claude-nb-offline",
                daemon=True,
            )
            self._serve_thread.start()
            logger.info("offline Anthropic API listening on %s", self.url)
        return self

    @property
    def running(self) -> bool:
        """False once :meth:`stop` was called."""
        return not self._stopped

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving: close the listening socket and every connection, join threads."""
        if self._stopped:
            return
        self._stopped = True
        self._state.stopping.set()
        if self._serve_thread is not None:
            self._httpd.shutdown()
        deadline = time.monotonic() + timeout
        self._httpd.close_connections(deadline)
        self._httpd.server_close()
        if self._serve_thread is not None:
            self._serve_thread.join(max(0.0, deadline - time.monotonic()))
        if self._state.batches is not None:
            self._state.batches.close(max(0.0, deadline - time.monotonic()))
        logger.info("offline Anthropic API on %s stopped", self.url)

    def __enter__(self) -> OfflineServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "running"
        return f"<OfflineServer {self.url} {state} speed={self.speed}>"

    # -- request log ----------------------------------------------------------------
    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot (copies) of every request so far, oldest first."""
        return self._state.records()

    def clear_requests(self) -> None:
        """Forget every finished request (those in flight stay)."""
        self._state.clear_records()

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no request is in flight; False on timeout."""
        return self._state.wait_idle(timeout)
