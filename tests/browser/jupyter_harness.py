"""A real Jupyter server and a Playwright page object for the browser tests.

:class:`JupyterServer` runs ``jupyter lab`` (which also serves Notebook 7 at
``/notebooks/...``) on 127.0.0.1 with a random token, a temporary root, and config /
data / runtime / settings directories of its own, so nothing from the developer's
``~/.jupyter`` leaks in. The venv's prebuilt labextensions (anywidget,
jupyterlab_widgets) stay visible because the server runs with this interpreter, whose
``sys.prefix/share/jupyter`` is always on the data path.

:class:`NotebookPage` drives one notebook in one browser page: open it, wait for a
real kernel connection, run cells with Shift+Enter, interrupt, save, screenshot.
Every wait is on a condition with a timeout; nothing sleeps for a fixed time.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import nbformat

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"

CHROMIUM = os.environ.get("CNB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# The first cell of every notebook: the extension, answering from the offline server.
SETUP = "%load_ext claude_nb\n%claude offline --speed 1"

# Generous: a 2-core CI machine running a kernel, a server and Chromium at once is slow.
KERNEL_READY_TIMEOUT = 120.0
CELL_TIMEOUT = 150.0

# The "news" notification still pops up with news off; only disabling the plugin helps.
DISABLED_PLUGINS = {"@jupyterlab/apputils-extension:announcements": True}
USER_SETTINGS = {
    # All cells stay real DOM (no virtual scrolling), so every output can be queried.
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}

# Prebuilt labextensions the live view needs; they are found through sys.prefix.
REQUIRED_LABEXTENSIONS = ("anywidget", "@jupyter-widgets/jupyterlab-manager")

# Environment variables of the developer that must not reach the server or kernels.
_SCRUB = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL", "JUPYTER_PATH")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JupyterServer:
    """``jupyter lab`` in its own process group, with throwaway directories under ``base``."""

    def __init__(self, base: Path, log_path: Path) -> None:
        self.base = base
        self.root = base / "root"
        self.log_path = log_path
        self.token = secrets.token_hex(16)
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.env = self._environment()

    # Setup ----------------------------------------------------------------------------

    def _environment(self) -> dict[str, str]:
        b = self.base
        dirs = {
            "JUPYTER_CONFIG_DIR": b / "config",
            "JUPYTER_DATA_DIR": b / "data",
            "JUPYTER_RUNTIME_DIR": b / "runtime",
            "JUPYTERLAB_SETTINGS_DIR": b / "lab-settings",
            "JUPYTERLAB_WORKSPACES_DIR": b / "lab-workspaces",
            "IPYTHONDIR": b / "ipython",
            "JUPYTER_PATH": b / "path",
        }
        for d in [*dirs.values(), self.root]:
            d.mkdir(parents=True, exist_ok=True)
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in _SCRUB and not k.startswith("CLAUDE_NB_")
        }
        env.update({k: str(v) for k, v in dirs.items()})
        env.update(
            {
                "JUPYTER_PLATFORM_DIRS": "1",
                "PYDEVD_DISABLE_FILE_VALIDATION": "1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        # News off: disable the plugin for Lab and Notebook 7 (both read labconfig/).
        labconfig = dirs["JUPYTER_CONFIG_DIR"] / "labconfig"
        labconfig.mkdir(exist_ok=True)
        (labconfig / "page_config.json").write_text(
            json.dumps({"disabledExtensions": DISABLED_PLUGINS})
        )
        for rel, value in USER_SETTINGS.items():
            path = dirs["JUPYTERLAB_SETTINGS_DIR"] / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(value))
        # The kernel: this interpreter (the venv's), found first on JUPYTER_PATH.
        spec = dirs["JUPYTER_PATH"] / "kernels" / "python3"
        spec.mkdir(parents=True, exist_ok=True)
        (spec / "kernel.json").write_text(
            json.dumps(
                {
                    "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                    "display_name": "Python 3 (ipykernel)",
                    "language": "python",
                    "metadata": {"debugger": False},
                }
            )
        )
        return env

    def start(self, timeout: float = 90.0) -> None:
        last_error = ""
        for _attempt in range(3):  # the free port can be taken between probe and bind
            self.port = _free_port()
            cmd = [
                sys.executable,
                "-m",
                "jupyter",
                "lab",
                "--no-browser",
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={self.port}",
                "--ServerApp.port_retries=0",
                f"--ServerApp.token={self.token}",
                f"--ServerApp.root_dir={self.root}",
                "--LabApp.expose_app_in_browser=True",
                "--JupyterNotebookApp.expose_app_in_browser=True",
            ]
            if hasattr(os, "geteuid") and os.geteuid() == 0:
                cmd.append("--allow-root")
            log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it from here
            self.proc = subprocess.Popen(
                cmd,
                cwd=self.root,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            log.close()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    last_error = f"server exited with {self.proc.returncode}"
                    break
                try:
                    self.api("GET", "/api/status")
                    self._check_page_config()
                    return
                except (OSError, urllib.error.URLError) as exc:
                    last_error = str(exc)
                time.sleep(0.2)
            else:
                last_error = f"server not answering after {timeout:.0f} s ({last_error})"
            self.stop()
        raise RuntimeError(f"could not start jupyter lab: {last_error}\n{self.log_tail()}")

    def _check_page_config(self) -> None:
        """Fail early and clearly if the widget labextensions or the news switch are missing."""
        req = urllib.request.Request(
            self.base_url + "/lab", headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            page = resp.read().decode()
        m = re.search(
            r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', page, re.S
        )
        config = json.loads(m.group(1)) if m else {}
        found = {e.get("name") for e in config.get("federated_extensions", [])}
        missing = set(REQUIRED_LABEXTENSIONS) - found
        if missing:
            raise RuntimeError(
                f"labextensions {sorted(missing)} not found (found {sorted(found)}); they ship in"
                f" {sys.prefix}/share/jupyter/labextensions"
            )
        if not set(DISABLED_PLUGINS) <= set(config.get("disabledExtensions", [])):
            raise RuntimeError(f"page_config.json not applied: {config.get('disabledExtensions')}")

    def stop(self) -> None:
        """Shut kernels down, stop the server's process group, then kill any leftover child."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        children: list[Any] = []
        with contextlib.suppress(Exception):
            import psutil  # an ipykernel dependency

            children = psutil.Process(proc.pid).children(recursive=True)
        if proc.poll() is None:
            with contextlib.suppress(Exception):
                for s in self.api("GET", "/api/sessions"):
                    self.api("DELETE", f"/api/sessions/{s['id']}")
                for k in self.api("GET", "/api/kernels"):
                    self.api("DELETE", f"/api/kernels/{k['id']}")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        for child in children:  # kernels run in process groups of their own
            with contextlib.suppress(Exception):
                if child.is_running():
                    child.kill()

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # HTTP -----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base_url}{path}{sep}token={self.token}"

    def api(self, method: str, path: str, body: Any = None, timeout: float = 10.0) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.base_url + path,
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    # Notebooks and kernels ------------------------------------------------------------

    def write_notebook(self, name: str, sources: list[str]) -> Path:
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3 (ipykernel)",
            "language": "python",
        }
        nb.metadata["language_info"] = {"name": "python"}
        nb.cells = [nbformat.v4.new_code_cell(src) for src in sources]
        path = self.root / name
        nbformat.write(nb, path)
        return path

    def session(self, path: str) -> dict[str, Any] | None:
        for s in self.api("GET", "/api/sessions"):
            if s.get("path") == path and s.get("kernel"):
                return s
        return None

    def wait_kernel_ready(self, path: str, timeout: float = KERNEL_READY_TIMEOUT) -> str:
        """Wait until the page's kernel is connected (``connections >= 1``) and idle."""
        deadline = time.monotonic() + timeout
        seen: Any = None
        while time.monotonic() < deadline:
            try:
                s = self.session(path)
                if s is not None:
                    seen = self.api("GET", f"/api/kernels/{s['kernel']['id']}")
                    if seen.get("connections", 0) >= 1 and seen.get("execution_state") == "idle":
                        return s["kernel"]["id"]
            except (OSError, urllib.error.URLError, ValueError):
                pass  # 500/404 while a kernel starts: ask again
            time.sleep(0.25)
        raise TimeoutError(f"kernel for {path} not ready after {timeout:.0f} s (last seen: {seen})")

    def wait_kernel_idle(self, kernel_id: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        state = None
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, urllib.error.URLError, ValueError):
                state = self.api("GET", f"/api/kernels/{kernel_id}").get("execution_state")
                if state == "idle":
                    return
            time.sleep(0.25)
        raise TimeoutError(f"kernel {kernel_id} not idle after {timeout:.0f} s (state {state})")

    def shutdown(self, path: str) -> None:
        with contextlib.suppress(Exception):
            s = self.session(path)
            if s is not None:
                self.api("DELETE", f"/api/sessions/{s['id']}")

    def read_notebook(self, name: str) -> Any:
        return nbformat.read(self.root / name, as_version=4)


# The browser side -----------------------------------------------------------------------

_PROMPT_JS = """
([i]) => {
  const cell = document.querySelectorAll('.jp-Notebook .jp-Cell')[i];
  const p = cell && cell.querySelector('.jp-InputPrompt');
  return p ? p.textContent.replace(/\\s+/g, '') : null;
}
"""

_STARTED_JS = """
([i, before]) => {
  const cell = document.querySelectorAll('.jp-Notebook .jp-Cell')[i];
  const p = cell && cell.querySelector('.jp-InputPrompt');
  const t = p ? p.textContent.replace(/\\s+/g, '') : '';
  return t === '[*]:' || (/^\\[\\d+\\]:$/.test(t) && t !== before);
}
"""

_DONE_JS = """
([i, before]) => {
  const cell = document.querySelectorAll('.jp-Notebook .jp-Cell')[i];
  const p = cell && cell.querySelector('.jp-InputPrompt');
  const t = p ? p.textContent.replace(/\\s+/g, '') : '';
  return /^\\[\\d+\\]:$/.test(t) && t !== before;
}
"""

# Console lines and page errors that point at this package's front-end code.
OUR_CODE = re.compile(r"claude_nb|\bcnb\b|cnb-|anywidget", re.I)


class NotebookPage:
    """One notebook open in one browser page ("lab": JupyterLab, "nb7": Notebook 7)."""

    def __init__(self, page: Any, server: JupyterServer, path: str, ui: str) -> None:
        self.page = page
        self.server = server
        self.path = path
        self.ui = ui
        self.kernel_id: str | None = None
        self.page_errors: list[str] = []
        self.console: list[str] = []
        self.timings: list[tuple[str, float]] = []  # (step, seconds), printed by the fixture
        page.on("pageerror", lambda e: self.page_errors.append(f"{e.name}: {e.message}\n{e.stack}"))
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))

    # Opening --------------------------------------------------------------------------

    def url(self) -> str:
        quoted = urllib.parse.quote(self.path)
        if self.ui == "lab":
            # A workspace of its own, so Lab does not reopen the notebooks of earlier tests.
            workspace = re.sub(r"[^A-Za-z0-9]", "-", self.path)
            return self.server.url(f"/lab/workspaces/{workspace}/tree/{quoted}")
        return self.server.url(f"/notebooks/{quoted}")

    def open(self) -> NotebookPage:
        t0 = time.monotonic()
        self.page.goto(self.url(), wait_until="domcontentloaded")
        self.cells.first.wait_for(state="visible", timeout=KERNEL_READY_TIMEOUT * 1000)
        t1 = time.monotonic()
        self.kernel_id = self.server.wait_kernel_ready(self.path)
        self.timings += [("page", t1 - t0), ("kernel", time.monotonic() - t1)]
        return self

    def reload(self) -> None:
        self.page.reload(wait_until="domcontentloaded")
        self.cells.first.wait_for(state="visible", timeout=KERNEL_READY_TIMEOUT * 1000)

    # Cells ----------------------------------------------------------------------------

    @property
    def cells(self) -> Any:
        return self.page.locator(".jp-Notebook .jp-Cell")

    def cell(self, i: int) -> Any:
        return self.cells.nth(i)

    @property
    def notebook_area(self) -> Any:
        """All the cells (the notebook's scrolled content, not its scroll window)."""
        return self.page.locator(".jp-Notebook .jp-WindowedPanel-viewport").first

    def output(self, i: int) -> Any:
        return self.cell(i).locator(".jp-OutputArea")

    def prompt(self, i: int) -> str | None:
        return self.page.evaluate(_PROMPT_JS, [i])

    def start(self, i: int) -> str | None:
        """Run cell ``i`` with Shift+Enter and wait until it is queued or running.

        Returns the prompt before the run (for :meth:`wait_done`). If the key press was
        lost (the prompt did not change at all), press again once.
        """
        before = self.prompt(i)
        for attempt in range(2):
            self.cell(i).locator(".jp-InputArea-editor").click()
            self.page.keyboard.press("Shift+Enter")
            try:
                self.page.wait_for_function(_STARTED_JS, arg=[i, before], timeout=15_000)
                return before
            except Exception:
                if attempt:
                    raise
        return before

    def wait_done(self, i: int, before: str | None, timeout: float = CELL_TIMEOUT) -> None:
        self.page.wait_for_function(_DONE_JS, arg=[i, before], timeout=timeout * 1000)

    def run(self, i: int, timeout: float = CELL_TIMEOUT) -> None:
        t0 = time.monotonic()
        self.wait_done(i, self.start(i), timeout)
        self.timings.append((f"cell {i}", time.monotonic() - t0))

    def run_setup(self) -> None:
        """Run cell 0 (``SETUP``) and check that the extension loaded and went offline."""
        self.run(0)
        if "offline mode" not in self.stdout(0):
            raise AssertionError(f"the setup cell failed:\n{self.output(0).inner_text()}")

    def run_all(self, timeout: float = CELL_TIMEOUT) -> None:
        """``run_setup``, then every other cell in order, each to completion."""
        self.run_setup()
        for i in range(1, self.cells.count()):
            self.run(i, timeout)

    def error_lines(self, i: int) -> list[str]:
        """Text lines of the error/stderr outputs of cell ``i``."""
        texts = (
            self.output(i)
            .locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
            .all_inner_texts()
        )
        return [line for t in texts for line in t.splitlines() if line.strip()]

    def stdout(self, i: int) -> str:
        return "\n".join(
            self.output(i)
            .locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stdout"]')
            .all_inner_texts()
        )

    # Kernel and document --------------------------------------------------------------

    def interrupt(self) -> None:
        """The toolbar's stop button (Lab and Notebook 7 both have it)."""
        self.page.locator('.jp-Toolbar [data-command="notebook:interrupt-kernel"]').first.click()

    def save(self, check: Any, timeout: float = 60.0) -> Any:
        """Ctrl+S, then wait until the file on disk satisfies ``check(notebook)``."""
        self.page.keyboard.press("Escape")  # command mode; Ctrl+S works from either mode
        self.page.keyboard.press("Control+s")
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                last = self.server.read_notebook(self.path)
                if check(last):
                    return last
            time.sleep(0.25)
        raise TimeoutError(f"{self.path} not saved as expected after {timeout:.0f} s")

    # Diagnostics ----------------------------------------------------------------------

    def our_errors(self) -> list[str]:
        """Page errors and console errors/warnings that come from this package's code."""
        found = [e for e in self.page_errors if OUR_CODE.search(e)]
        found += [
            c for c in self.console if c.startswith(("error", "warning")) and OUR_CODE.search(c)
        ]
        return found

    def snap(self, name: str, target: Any = None) -> Path:
        """Screenshot ``target`` (a locator; default the whole page) into test-artifacts/.

        A tall element gets a viewport tall enough to show it whole, then the viewport
        is put back.
        """
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / name
        if target is None:
            self.page.screenshot(path=str(path))
            return path
        size = self.page.viewport_size or {"width": 1280, "height": 900}
        box = target.bounding_box()
        need = int(box["height"]) + 260 if box else size["height"]
        try:
            if need > size["height"]:
                self.page.set_viewport_size({"width": size["width"], "height": min(need, 6000)})
            target.scroll_into_view_if_needed()
            target.screenshot(path=str(path))
        finally:
            self.page.set_viewport_size(size)
        return path


def run_with_nbclient(env: dict[str, str], sources: list[str], out: Path, timeout: float) -> None:
    """Execute a new notebook with nbclient in a child Python (the server's environment).

    A child process keeps nbclient's asyncio loop away from Playwright's, and the kernel
    sees the same isolated Jupyter directories as the server's kernels. The result is
    written unsigned, so Jupyter treats it as untrusted.
    """
    script = r"""
import json, sys, nbformat
from nbclient import NotebookClient
sources, out, timeout = json.loads(sys.argv[1]), sys.argv[2], float(sys.argv[3])
nb = nbformat.v4.new_notebook()
nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=False).execute()
nbformat.write(nb, out)
"""
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(sources), str(out), str(timeout)],
        env=env,
        cwd=out.parent,
        timeout=timeout * 2,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"nbclient run failed ({done.returncode}):\n{done.stderr[-4000:]}")


# What the page sees while a cell streams ------------------------------------------------

FORBIDDEN = (
    'script, iframe, frame, object, embed, svg, img, a[href^="javascript:" i],'
    ' a[href^="data:" i], a[href^="vbscript:" i]'
)

_SAMPLER_JS = """
([i, forbidden]) => {
  const cellOf = () => document.querySelectorAll('.jp-Notebook .jp-Cell')[i];
  const rec = { bodies: [], clocks: [], headers: [], forbidden: [], liveTicks: 0,
                staticSeen: false, liveAfterStatic: false };
  const push = (arr, v) => { if (!arr.length || arr[arr.length - 1] !== v) arr.push(v); };
  const tick = () => {
    const cell = cellOf();
    if (!cell) return;
    const live = cell.querySelector('.cnb-live');
    if (live) {
      if (rec.staticSeen) rec.liveAfterStatic = true;
      rec.liveTicks++;
      const body = live.querySelector('[data-cnb="body"]');
      if (body) push(rec.bodies, body.innerText);
      const clock = live.querySelector('[data-cnb="hdr.clock"]');
      if (clock) push(rec.clocks, clock.textContent);
      const hdr = live.querySelector('[data-cnb="hdr"]');
      if (hdr) push(rec.headers, hdr.innerText);
    } else if (cell.querySelector('.cnb-static')) {
      rec.staticSeen = true;
    }
  };
  // Every element added anywhere under a .cnb root, however briefly it lives.
  const seen = (node) => {
    if (node.nodeType !== 1 || !node.closest('.cnb')) return;
    const hits = node.matches(forbidden) ? [node] : [];
    for (const el of node.querySelectorAll(forbidden)) hits.push(el);
    for (const el of hits) rec.forbidden.push(el.outerHTML.slice(0, 300));
  };
  const obs = new MutationObserver((muts) => {
    for (const m of muts) {
      for (const n of m.addedNodes) seen(n);
      if (m.type === 'attributes') seen(m.target);
    }
  });
  obs.observe(document.body, { childList: true, subtree: true, attributes: true,
                               attributeFilter: ['href', 'src'] });
  if (window.__cnb_rec) { clearInterval(window.__cnb_rec_timer); window.__cnb_rec_obs.disconnect(); }
  window.__cnb_rec = rec;
  window.__cnb_rec_obs = obs;
  window.__cnb_rec_timer = setInterval(tick, 40);
}
"""


def start_sampler(page: Any, cell: int) -> None:
    """Record, every 40 ms, what the live view of ``cell`` shows (see ``read_sampler``)."""
    page.evaluate(_SAMPLER_JS, [cell, FORBIDDEN])


def read_sampler(page: Any) -> dict[str, Any]:
    return page.evaluate(
        "() => { clearInterval(window.__cnb_rec_timer); window.__cnb_rec_obs.disconnect();"
        " return window.__cnb_rec; }"
    )


def norm(text: str) -> str:
    """Whitespace-insensitive text, for comparing renderings of the same answer."""
    return re.sub(r"\s+", " ", text).strip()


def common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i
