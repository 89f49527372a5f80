"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator

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
