"""Offline backend: a local server speaking the Anthropic Messages API, no internet needed.

Start it and point the real SDK at it::

    import anthropic
    import claude_nb.sdk
    from claude_nb import offline

    with offline.start(speed=0) as srv:
        client = anthropic.Anthropic(base_url=srv.url, api_key="offline")
        with client.messages.stream(model=claude_nb.sdk.default_model(), max_tokens=1024,
                                    messages=[{"role": "user", "content": "hi"}]) as stream:
            print(stream.get_final_message().content[0].text)

Or from a shell: ``claude-nb serve`` then ``export ANTHROPIC_BASE_URL=...``.
Which answer a request gets: :func:`describe_selection` (tied to the question: recorded
answers by topic, tool inputs and structured outputs filled from it). Failures on demand:
:mod:`claude_nb.offline.faults`; rate limits: :mod:`claude_nb.offline.rate_limits`;
prompt caching: :mod:`claude_nb.offline.prompt_cache`; the Message Batches API:
:mod:`claude_nb.offline.batches`. The ``.sse`` format: :mod:`claude_nb.offline.format`;
pacing and cuts: :mod:`claude_nb.offline.replay`.
"""

from __future__ import annotations

from pathlib import Path

from claude_nb.offline.builder import TranscriptBuilder, text_transcript
from claude_nb.offline.faults import FaultSpec
from claude_nb.offline.format import Transcript, TranscriptError, load_transcript, transcript_names
from claude_nb.offline.rate_limits import RateLimits
from claude_nb.offline.selection import describe_selection
from claude_nb.offline.server import OfflineServer, RequestRecord

__all__ = [
    "OfflineServer",
    "RequestRecord",
    "Transcript",
    "TranscriptBuilder",
    "TranscriptError",
    "describe_selection",
    "load_transcript",
    "start",
    "text_transcript",
    "transcript_names",
]


def start(
    speed: float = 1.0,
    ttft: float = 0.4,
    tokens_per_second: float = 80.0,
    transcript: Transcript | str | None = None,
    faults: FaultSpec | str | None = None,
    rate_limits: RateLimits | str | None = None,
    batch_seconds: float = 10.0,
    batch_dir: str | Path | None = None,
    port: int = 0,
    host: str = "127.0.0.1",
) -> OfflineServer:
    """Start an offline backend in background threads and return it, running.

    ``speed`` multiplies the pace (0 = no delays); ``ttft`` is the wait before the first
    token and ``tokens_per_second`` the streaming rate at speed 1. ``transcript`` forces
    one answer (a name, a path to a ``.sse`` file or a :class:`Transcript`); ``faults``
    is a fault spec such as ``"status=429;retry_after=1;times=2"``; ``rate_limits`` a limit
    spec such as ``"rpm=50;itpm=30000;otpm=8000"`` (429s past it). A message batch takes
    ``batch_seconds`` (divided by ``speed``) and is kept in ``batch_dir`` (default
    ``$CLAUDE_NB_OFFLINE_BATCHES``, else a temporary folder). ``port=0`` picks a
    free port: read ``srv.url``. Stop with ``srv.stop()`` or use it as a context manager.
    """
    return OfflineServer(
        host=host,
        port=port,
        speed=speed,
        ttft=ttft,
        tokens_per_second=tokens_per_second,
        transcript=transcript,
        faults=faults,
        rate_limits=rate_limits,
        batch_seconds=batch_seconds,
        batch_dir=batch_dir,
    ).start()


def __dir__() -> list[str]:
    # What a user needs (the submodules stay importable: offline.faults, offline.batches...).
    return sorted(__all__)
