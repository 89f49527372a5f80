"""Fixtures for the browser tests: one Jupyter server and one Chromium per session.

Each test gets a fresh browser context and page and its own notebook (and so its own
kernel, shut down afterwards). Screenshots go to ``test-artifacts/`` at the repo root;
a failing test also leaves ``fail-<test>.png`` there, and the server log is
``test-artifacts/browser-jupyter-server.log``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from jupyter_harness import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    JupyterServer,
    NotebookPage,
)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture(scope="session")
def chromium() -> str:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} not found (apt-get install chromium); browser tests need it")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("the playwright Python package is not installed (pip install -e '.[test]')")
    return CHROMIUM


@pytest.fixture(scope="session")
def jupyter_server(
    chromium: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[JupyterServer]:
    ARTIFACTS.mkdir(exist_ok=True)
    log = ARTIFACTS / "browser-jupyter-server.log"
    log.unlink(missing_ok=True)
    server = JupyterServer(tmp_path_factory.mktemp("jupyter"), log)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser(chromium: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        # Playwright gives every launch a fresh temporary --user-data-dir.
        b = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()
    finally:
        pw.stop()


@pytest.fixture
def open_notebook(
    request: pytest.FixtureRequest, jupyter_server: JupyterServer, browser: Any
) -> Iterator[Callable[..., NotebookPage]]:
    """``open_notebook(sources, ui="lab"|"nb7", name=None)``: write the notebook, open it
    in a new page and wait for its kernel. ``sources=None`` opens an existing file."""
    opened: list[tuple[Any, NotebookPage]] = []
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name).strip("-")

    def _open(sources: list[str] | None, ui: str = "lab", name: str | None = None) -> NotebookPage:
        name = name or f"{stem}-{len(opened)}.ipynb"
        if sources is not None:
            jupyter_server.write_notebook(name, sources)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(60_000)
        page = context.new_page()
        nbp = NotebookPage(page, jupyter_server, name, ui)
        opened.append((context, nbp))
        return nbp.open()

    yield _open

    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    problems: list[str] = []
    for n, (context, nbp) in enumerate(opened):
        if failed:
            try:
                nbp.snap(f"fail-{stem}-{n}.png")
            except Exception as exc:  # the page may be gone; the failure itself matters more
                print(f"no failure screenshot: {exc}")
            print(f"--- page errors ({nbp.path}):", *nbp.page_errors, sep="\n")
            print("--- server log tail:\n" + jupyter_server.log_tail())
        print(f"{nbp.ui} {nbp.path}: " + ", ".join(f"{k} {v:.1f}s" for k, v in nbp.timings))
        problems += nbp.our_errors()
        context.close()
        jupyter_server.shutdown(nbp.path)
    if problems and not failed:
        pytest.fail("errors from claude_nb's front-end code in the page:\n" + "\n".join(problems))
