"""``%%claude`` and ``%claude``: one run per cell, from checked options to bound result.

Options are declared in :mod:`~claude_nb.notebook.options` (so ``%%claude?`` prints real
help, in sections) and defaults live in traitlets (``%config Claude.model = "..."``).
Every option is checked before a request exists; bad input is one line naming the
problem, and nothing is sent. Line-form subcommands are a table in
:mod:`~claude_nb.notebook.subcommands`; the session's calls are a
:class:`~claude_nb.notebook.ledger.Ledger`.

After every run, even an interrupted or failed one (no key included), ``_claude`` is the
result object, ``_claude_message`` the SDK ``Message`` (final or partial) and
``_claude_usage`` its usage; the cell itself returns nothing, so no giant repr lands
under the view.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import anthropic
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import parse_argstring
from IPython.display import display
from traitlets import Bool, Dict, Enum, Float, Integer, Unicode, default

from claude_nb.errors import (
    NO_KEY_HINT,
    ClaudeNbError,
    MissingKeyError,
    RunError,
    RunFailed,
    RunInterrupted,
    UsageError,
)
from claude_nb.notebook import options, subcommands
from claude_nb.notebook.chat import Chat
from claude_nb.notebook.ledger import Ledger
from claude_nb.notebook.request import build_request, count_tokens
from claude_nb.notebook.result import Result
from claude_nb.notebook.runner import Run, response_hook
from claude_nb.notebook.tool_loop import converse
from claude_nb.render.safe import esc, plain_text
from claude_nb.sdk import EFFORTS, default_model
from claude_nb.stream.state import Outcome
from claude_nb.stream.usage import PRICES_AS_OF, estimate_cost
from claude_nb.stream.wire import WireTap
from claude_nb.views import VIEW_MODES


@magics_class
class Claude(Magics):
    """Talk to Claude from a notebook. Configure defaults with ``%config Claude.<name> = ...``."""

    model = Unicode(
        help="Model id (env CLAUDE_NB_MODEL); default: the newest Sonnet the SDK lists."
    ).tag(config=True)
    max_tokens = Integer(help="Default max_tokens (env CLAUDE_NB_MAX_TOKENS).").tag(config=True)
    system = Unicode("", help="Default system prompt.").tag(config=True)
    effort = Unicode(
        "", help=f"Default effort: one of {', '.join(EFFORTS)} (empty: the API's default)."
    ).tag(config=True)
    thinking = Unicode("off", help="Default thinking: adaptive, off, or a token budget.").tag(
        config=True
    )
    tools = Unicode("", help="Tools offered by default (comma-separated names, or 'all').").tag(
        config=True
    )
    view = Enum(
        VIEW_MODES,
        "auto",
        help="auto (widget in Jupyter, text in a terminal), widget, display, plain, quiet.",
    ).tag(config=True)
    max_turns = Integer(10, help="Most turns of a tool loop.").tag(config=True)
    max_retries = Integer(2, help="Retries on 408/409/429/5xx and connection errors.").tag(
        config=True
    )
    read_timeout = Float(600.0, help="Seconds without data before a stream counts as stalled.").tag(
        config=True
    )
    deadline = Float(
        None, allow_none=True, help="Seconds a whole run may take (None: no limit); --deadline."
    ).tag(config=True)
    interpolate = Bool(True, help="Fill {variables} in prompts.").tag(config=True)
    offline = Bool(help="Use the built-in offline server (env CLAUDE_NB_OFFLINE=1).").tag(
        config=True
    )
    offline_speed = Float(
        1.0, help="Pace of the offline server: 1 real-time-ish, 0.1 slower, 0 instant."
    ).tag(config=True)
    prices = Dict(
        help="Price overrides: {model_prefix: [input, output] in $ per million tokens}."
    ).tag(config=True)

    @default("model")
    def _default_model(self) -> str:
        return default_model()

    @default("max_tokens")
    def _default_max_tokens(self) -> int:
        return int(os.environ.get("CLAUDE_NB_MAX_TOKENS", "4096"))

    @default("offline")
    def _default_offline(self) -> bool:
        return os.environ.get("CLAUDE_NB_OFFLINE", "").lower() in ("1", "true", "yes")

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell, **kwargs)
        self.chats: dict[str, Chat] = {}
        self.ledger = Ledger()
        self.cell_id: str | None = None
        self._server: Any = None
        self._clients: dict[tuple[Any, ...], anthropic.Anthropic] = {}

    @property
    def _ns(self) -> dict[str, Any]:
        """The notebook's namespace (a Magics always has its shell here)."""
        assert self.shell is not None
        ns: dict[str, Any] = self.shell.user_ns
        return ns

    # Entry point ----------------------------------------------------------------------

    @options.declare(subcommands.summary())
    @no_var_expand
    @line_cell_magic
    def claude(self, line: str, cell: str | None = None) -> None:
        """Ask Claude. The cell body is the prompt; the answer streams in below."""
        if cell is None:
            words = line.split()
            if words and words[0] in subcommands.SUBCOMMANDS:
                return subcommands.dispatch(self, words[0], words[1:])
        args = options.unquote(parse_argstring(self.claude, line))
        prompt = cell if cell is not None else " ".join(args.prompt)
        if cell is not None and args.prompt:
            raise UsageError(
                f"unexpected words on the magic line: {' '.join(args.prompt)!r} (the prompt goes in the cell)"
            )
        if not prompt.strip() and not (args.image or args.file):
            raise UsageError("the prompt is empty: write it in the cell body (or after %claude).")
        hidden = getattr(self.shell, "user_ns_hidden", {})
        plan = options.check(args, self, self._ns, prompt, hidden)
        self._ask(plan, cell_key=self._cell_key(cell if cell is not None else line))

    # One request ----------------------------------------------------------------------

    def _ask(self, plan: options.Plan, cell_key: str) -> None:
        chat = self.chats.get(plan.chat) if plan.chat else None
        history = [] if chat is None or plan.new else chat.messages(before_cell=cell_key)
        request = build_request(plan.options, [*history, plan.user])
        shown = {k: v for k, v in request.items() if k != "extra_headers"}
        started = time.time()
        try:
            client = self._client(plan)
        except MissingKeyError:  # a run that could not start is still a run: bind it
            if not plan.dry_run:
                run = Run(model=plan.options.model, view="quiet", request=shown)
                run.end(Outcome.ERROR, RunError("no_api_key", "No API key.", NO_KEY_HINT))
                self._bind(run.close(), plan)
            raise
        if plan.dry_run:
            return self._dry_run(client, request, plan)

        if plan.chat:
            chat = self.chats.setdefault(plan.chat, Chat(plan.chat))
            if plan.new:
                chat.start(cell_key)
        from claude_nb.teaching.step import close_active

        close_active()  # a --step stream left open is abandoned by the next request
        run = Run(
            model=plan.options.model,
            view=plan.view,
            offline=plan.offline,
            max_retries=plan.max_retries,
            read_timeout=plan.read_timeout,
            deadline=plan.deadline,
            request=shown,
            extras=_teaching_extras(plan.extras),
            wire=bool(plan.extras or plan.record or plan.step),
        )

        def finish(result: Result) -> None:
            self._finish(result, plan, chat, cell_key, started)

        if plan.step:
            from claude_nb.teaching.step import run_stepwise

            # The cell returns at once; the stream advances on clicks while the kernel is idle.
            run_stepwise(run, client, request, on_done=finish)
            return
        try:
            converse(
                run,
                lambda req: client.messages.create(**req, stream=True),
                request,
                plan.tools,
                max_turns=plan.max_turns,
                confirm=plan.confirm,
            )
        except KeyboardInterrupt:  # between turns or while painting: still a clean stop
            run.end(Outcome.INTERRUPTED)
        except BaseException as exc:  # a bug of ours (or a hook's): still close, bind, show
            run.end(
                Outcome.ERROR,
                RunError(
                    "internal_error",
                    f"claude_nb failed: {type(exc).__name__}: {exc}.",
                    "The partial answer is kept; please report this with `%claude config`.",
                ),
            )
        finish(run.close())

    def _finish(
        self, result: Result, plan: options.Plan, chat: Chat | None, cell_key: str, started: float
    ) -> None:
        """Bind, record, remember: the same after every run, however it ended."""
        result.prompt = plan.text
        self._bind(result, plan)
        self.ledger.record(result, started=started, offline=plan.offline, prices=plan.prices)
        if chat is not None:
            chat.record(cell_key, plan.user, result.to_messages(), result.status)
        if plan.record is not None:
            saved = save_recording(result, plan.record)
            print(f"claude_nb: recorded {', '.join(saved)} (replay with --replay FILE)")
        if result.interrupted:
            raise RunInterrupted(RunError.interrupted())
        if result.failed and result.error is not None:
            raise RunFailed(result.error)

    # Where requests go ----------------------------------------------------------------

    def _client(self, plan: options.Plan) -> anthropic.Anthropic:
        if plan.offline:
            url = self.offline_server().url
            key: tuple[Any, ...] = ("offline", url, plan.read_timeout, plan.max_retries)
            kwargs: dict[str, Any] = {"base_url": url, "api_key": "offline"}
        else:  # the SDK reads its key, token and base URL from ANTHROPIC_*: a change is a new client
            key, kwargs = ("online", plan.read_timeout, plan.max_retries, _sdk_environment()), {}
        client = self._clients.get(key)
        if client is None:
            client = anthropic.Anthropic(
                **kwargs,
                max_retries=plan.max_retries,
                timeout=anthropic.Timeout(plan.read_timeout, connect=10.0),
                http_client=anthropic.DefaultHttpxClient(
                    transport=WireTap(), event_hooks={"response": [response_hook]}
                ),
            )
            if not (client.api_key or client.auth_token or client.credentials is not None):
                client.close()
                raise MissingKeyError(f"No API key. {NO_KEY_HINT}")
            self._clients[key] = client
        return client

    def offline_server(self) -> Any:
        """The offline server ``%claude offline`` uses, started on first need."""
        if self._server is None or not self._server.running:
            from claude_nb.offline import start

            self._server = start(speed=self.offline_speed)
        return self._server

    # What the subcommands use (subcommands.Host) --------------------------------------

    def go_offline(self, speed: float | None) -> str:
        if speed is not None:
            self.offline_speed = speed
        self.offline = True
        server = self.offline_server()
        server.speed = self.offline_speed
        return str(server.url)

    def go_online(self) -> None:
        self.offline = False

    def settings(self) -> dict[str, Any]:
        return {t: getattr(self, t) for t in sorted(self.class_own_traits(config=True))}

    # Results --------------------------------------------------------------------------

    def _bind(self, result: Result, plan: options.Plan) -> None:
        ns = self._ns
        ns["_claude"] = result
        ns["_claude_message"] = result.message
        ns["_claude_usage"] = result.usage
        if plan.out:
            ns[plan.out] = result

    def _cell_key(self, source: str) -> str:
        if self.cell_id:
            return self.cell_id
        return "src:" + hashlib.sha1(source.encode()).hexdigest()[:16]

    # Dry run --------------------------------------------------------------------------

    def _dry_run(
        self, client: anthropic.Anthropic, request: dict[str, Any], plan: options.Plan
    ) -> None:
        shown = {k: v for k, v in request.items() if k != "extra_headers"}
        try:
            tokens: int | None = count_tokens(client, request)
            note = ""
        except Exception as exc:  # counting is a courtesy; the request itself is what matters
            tokens, note = None, f"(count_tokens failed: {type(exc).__name__}: {exc})"
        cost = None
        if tokens is not None:
            usage = {"input_tokens": tokens, "output_tokens": request["max_tokens"]}
            cost = estimate_cost(request["model"], usage, plan.prices)
        body = json.dumps(_elide_base64(shown), indent=2, ensure_ascii=False)
        lines = [
            f"input tokens: {tokens:,}" if tokens is not None else f"input tokens: unknown {note}",
            (
                f"estimated cost: up to ${cost:.4f} (input + max_tokens of output; prices as of {PRICES_AS_OF})"
                if cost is not None
                else "estimated cost: unknown model price"
            ),
            "nothing was sent",
        ]
        html_out = (
            "<div class='cnb-dry-run'><div style='font-size:12px;color:#8a8a8a'>🧪 dry run — "
            + " · ".join(esc(x) for x in lines)
            + f"</div><pre style='white-space:pre-wrap'>{esc(body)}</pre></div>"
        )
        plain = plain_text("\n".join(["dry run:", *lines, body]))
        display({"text/html": html_out, "text/plain": plain}, raw=True)
        self._ns["_claude_request"] = shown


def _sdk_environment() -> str:
    """A digest of the ``ANTHROPIC_*`` environment (never the key itself in our state)."""
    env = sorted((k, v) for k, v in os.environ.items() if k.startswith("ANTHROPIC_"))
    return hashlib.sha256(repr(env).encode()).hexdigest()


def _teaching_extras(names: list[str]) -> list[Any]:
    """Factories for teaching mode's extras: the event inspector and the timeline chart."""
    extras: list[Any] = []
    if "events" in names:
        from claude_nb.teaching.inspector import EventInspector

        extras.append(EventInspector)
    if names:  # --events brings the chart too
        from claude_nb.teaching.timeline_chart import TimelineChart

        extras.append(TimelineChart)
    return extras


def save_recording(result: Result, target: Path) -> list[str]:
    """Write each streamed response of the run as a ``.sse`` file with timing comments."""
    logs = result.wire or []
    if not logs:
        raise UsageError("--record: nothing was streamed, so nothing was recorded.")
    saved = []
    for n, log in enumerate(logs, 1):
        out = (
            target
            if n == 1
            else target.with_name(f"{target.stem}-turn{n}{target.suffix or '.sse'}")
        )
        try:
            log.save(out)
        except OSError as exc:
            raise UsageError(f"--record: could not write {out}: {exc.strerror or exc}.") from None
        saved.append(str(out))
    return saved


def _elide_base64(value: Any) -> Any:
    """Long base64 payloads (images, PDFs) shortened for display."""
    if isinstance(value, dict):
        if (
            value.get("type") == "base64"
            and isinstance(value.get("data"), str)
            and len(value["data"]) > 80
        ):
            return {**value, "data": value["data"][:40] + f"… ({len(value['data']):,} chars)"}
        return {k: _elide_base64(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_elide_base64(v) for v in value]
    return value


def _magics() -> Claude:
    from IPython import get_ipython

    shell = get_ipython()
    found = shell.find_magic("claude") if shell is not None else None
    magics = getattr(found, "__self__", None)
    if not isinstance(magics, Claude):
        raise ClaudeNbError("claude_nb is not loaded here: run `%load_ext claude_nb` first.")
    return magics


def offline_url() -> str:
    """The base URL of the offline server ``%claude offline`` uses in this kernel (started
    on first need), for a client of your own: ``anthropic.Anthropic(base_url=...)``."""
    return str(_magics().offline_server().url)


def load_ipython_extension(shell: Any) -> None:
    magics = Claude(shell=shell)
    shell.register_magics(magics)
    shell.configurables.append(magics)

    def remember_cell(info: Any) -> None:
        magics.cell_id = getattr(info, "cell_id", None)

    shell.events.register("pre_run_cell", remember_cell)
    _warm_lexers()


def _warm_lexers() -> None:
    """Compile the shared parser's link regexes now (~25 ms once, instead of in a paint),
    and warm a private parser, the lexers and the formatter in the background so the
    first code block does not stall."""
    import threading

    from claude_nb.render.markdown import HAS_LINKIFY, MD, warm

    if HAS_LINKIFY:
        MD.linkify.match("https://example.com/x")  # type: ignore[union-attr]
    threading.Thread(target=warm, name="claude_nb-warm-lexers", daemon=True).start()
