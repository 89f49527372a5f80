"""Shared pytest fixtures."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import pytest

from claude_nb import offline


@pytest.fixture
def offline_server() -> Iterator[offline.OfflineServer]:
    """A running offline backend with no pacing (speed=0), stopped after the test."""
    srv = offline.start(speed=0)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def offline_client(offline_server: offline.OfflineServer) -> Iterator[anthropic.Anthropic]:
    """A real SDK client pointed at ``offline_server`` (no retries, short timeout)."""
    client = anthropic.Anthropic(
        base_url=offline_server.url, api_key="test-key", max_retries=0, timeout=20.0
    )
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="module")
def shell() -> Iterator[Any]:
    """A real IPython shell with the extension loaded, plain-text view, offline at speed 0."""
    from IPython.core.interactiveshell import InteractiveShell

    sh = InteractiveShell.instance()
    sh.run_cell("%load_ext claude_nb", store_history=False)
    sh.run_cell("%config Claude.view = 'plain'", store_history=False)
    sh.run_cell("%claude offline --speed 0", store_history=False)
    yield sh
    sh.find_magic("claude").__self__._server.stop()


@pytest.fixture
def server(shell: Any) -> offline.OfflineServer:
    """The shell's offline server, at speed 0, with an empty request log."""
    srv = shell.find_magic("claude").__self__._server
    srv.speed = 0
    srv.faults = None
    srv.clear_requests()
    return srv


@pytest.fixture
def interrupt_after() -> Iterator[Callable[[float], None]]:
    """Press the stop button after a delay: SIGINT to this process, as the kernel does
    (it also wakes a blocking sleep or read, unlike ``_thread.interrupt_main``).

    Python leaves SIGINT ignored when it was started ignoring it (a background job of a
    non-interactive shell is), so the handler a kernel has is installed for the test."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timers: list[threading.Timer] = []

    def schedule(seconds: float) -> None:
        timer = threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGINT))
        timers.append(timer)
        timer.start()

    yield schedule
    for timer in timers:
        timer.cancel()
    signal.signal(signal.SIGINT, previous)
