"""``%%claude`` and ``%claude``: options, prompt variables, conversations, bindings, errors.

Options are declared with IPython's ``magic_arguments`` (so ``%%claude?`` prints real
help) and defaults live in traitlets (``%config Claude.model = "..."``). Bad input —
an unknown option, a value out of range, an undefined ``{variable}``, an unknown tool,
no API key — is one line naming the problem, and nothing is sent.

After every run, even an interrupted or failed one, ``_claude`` is the result object,
``_claude_message`` the SDK ``Message`` (final or partial) and ``_claude_usage`` its
usage; the cell itself returns nothing, so no giant repr lands under the view.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from typing import Any

import anthropic
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display
from traitlets import Bool, Dict, Enum, Float, Integer, Unicode, default

from claude_nb.errors import (
    NO_KEY_HINT,
    MissingKeyError,
    RunError,
    RunFailed,
    RunInterrupted,
    UsageError,
)
from claude_nb.notebook.chat import Chat
from claude_nb.notebook.interp import interpolate
from claude_nb.notebook.request import (
    Options,
    build_request,
    count_tokens,
    document_block,
    image_block,
    parse_params,
    user_message,
)
from claude_nb.notebook.result import Result
from claude_nb.notebook.runner import Run, response_hook
from claude_nb.notebook.tool_loop import converse
from claude_nb.notebook.tools import resolve, tool_params
from claude_nb.render.safe import esc, plain_text
from claude_nb.sdk import EFFORTS, default_model
from claude_nb.stream.state import Outcome
from claude_nb.stream.usage import PRICES, PRICES_AS_OF, Price, estimate_cost
from claude_nb.stream.wire import WireTap
from claude_nb.views import VIEW_MODES

SUBCOMMANDS = (
    "offline",
    "online",
    "usage",
    "history",
    "reset",
    "config",
    "models",
    "tools",
    "chats",
)
MAX_TOKENS_LIMIT = 128_000


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
        self.ledger: list[dict[str, Any]] = []
        self.cell_id: str | None = None
        self._server: Any = None
        self._clients: dict[tuple[Any, ...], anthropic.Anthropic] = {}

    # Entry point ----------------------------------------------------------------------

    @magic_arguments()
    @argument("-m", "--model", help="Model id, e.g. claude-sonnet-5-5.")
    @argument("--max-tokens", type=int, metavar="N", help="Most tokens to generate.")
    @argument("--stop", action="append", metavar="SEQ", help="Stop sequence (repeatable).")
    @argument(
        "-s",
        "--system",
        metavar="TEXT_OR_VAR",
        help="System prompt, or the name of a variable holding it.",
    )
    @argument("--effort", choices=EFFORTS, help="output_config.effort.")
    @argument(
        "--thinking",
        metavar="adaptive|BUDGET|off",
        help="Extended thinking: adaptive, a token budget, or off.",
    )
    @argument("--fast", action="store_true", help='speed="fast" (models that offer it).')
    @argument(
        "--param",
        action="append",
        metavar="KEY=VALUE",
        help="Extra body field, JSON value (repeatable).",
    )
    @argument(
        "--tools",
        metavar="NAMES",
        help="Python functions Claude may call: comma-separated, or 'all'.",
    )
    @argument("--web-search", action="store_true", help="Offer the server-side web search tool.")
    @argument("--web-fetch", action="store_true", help="Offer the server-side web fetch tool.")
    @argument("--max-turns", type=int, metavar="N", help="Most turns of the tool loop.")
    @argument("--confirm", action="store_true", help="Ask before running each tool call.")
    @argument(
        "--dry-run",
        action="store_true",
        help="Show the request, its token count and cost; send nothing.",
    )
    @argument("-o", "--out", metavar="NAME", help="Also bind the result to this variable.")
    @argument("--chat", metavar="NAME", help="Continue (or start) the conversation NAME.")
    @argument("--new", action="store_true", help="Start the --chat conversation afresh.")
    @argument(
        "--offline", action="store_true", help="Use the built-in offline server (no key needed)."
    )
    @argument(
        "--replay",
        metavar="NAME_OR_FILE",
        help="Offline: play this transcript (name or .sse file).",
    )
    @argument(
        "--speed",
        type=float,
        metavar="X",
        help="Offline pace: 1 normal, 0.1 ten times slower, 0 instant.",
    )
    @argument(
        "--fault",
        metavar="SPEC",
        help="Offline: inject a failure, e.g. drop_after=20 or error_after=5 (see offline.faults).",
    )
    @argument(
        "--image", action="append", metavar="PATH_OR_VAR", help="Attach an image (repeatable)."
    )
    @argument(
        "--file", action="append", metavar="PDF", help="Attach a PDF (path or bytes variable)."
    )
    @argument("--quiet", action="store_true", help="No live view: just bind the result.")
    @argument("--plain", action="store_true", help="Plain text output.")
    @argument("--no-interp", action="store_true", help="Do not fill {variables} in the prompt.")
    @argument(
        "--timeout", type=float, metavar="SECONDS", help="Read timeout (seconds without data)."
    )
    @argument(
        "--events", action="store_true", help="Teaching: live SSE event inspector and timeline."
    )
    @argument("--timeline", action="store_true", help="Teaching: a chart of output over time.")
    @argument(
        "--step", action="store_true", help="Teaching: advance the stream one event per click."
    )
    @argument(
        "--record", metavar="FILE", help="Save the raw SSE of this call, with timing, to FILE."
    )
    @argument(
        "prompt",
        nargs="*",
        help="(%%claude line form) the prompt; or a subcommand: " + ", ".join(SUBCOMMANDS),
    )
    @no_var_expand
    @line_cell_magic
    def claude(self, line: str, cell: str | None = None) -> None:
        """Ask Claude. The cell body is the prompt; the answer streams in below.

        Line form: ``%claude PROMPT`` or ``%claude SUBCOMMAND`` (offline, online, usage,
        history [NAME], reset [NAME], config, models, tools, chats).
        """
        if cell is None:
            words = line.split()
            if words and words[0] in SUBCOMMANDS and not words[0].startswith("-"):
                return self._subcommand(words[0], words[1:])
        args = _unquote(parse_argstring(self.claude, line))
        prompt = cell if cell is not None else " ".join(args.prompt)
        if cell is not None and args.prompt:
            raise UsageError(
                f"unexpected words on the magic line: {' '.join(args.prompt)!r} (the prompt goes in the cell)"
            )
        if not prompt.strip() and not (args.image or args.file):
            raise UsageError("the prompt is empty: write it in the cell body (or after %claude).")
        self._ask(args, prompt, cell_source=cell if cell is not None else line)

    # One request ----------------------------------------------------------------------

    def _ask(self, args: Any, prompt: str, cell_source: str) -> None:
        ns = self.shell.user_ns
        offline = bool(args.offline or args.replay or self.offline)
        opts, tools = self._options(args, ns, offline)
        if args.step and tools:
            raise UsageError(
                "--step plays one response and cannot run your tools: drop --step, or the tools "
                "(--tools '' if they come from %config Claude.tools); server tools such as "
                "--web-search work with --step."
            )
        text = prompt if args.no_interp or not self.interpolate else interpolate(prompt, ns)
        attachments = [image_block(s, ns) for s in args.image or []]
        attachments += [document_block(s, ns) for s in args.file or []]
        user = user_message(text, attachments)

        chat = None
        cell_key = self._cell_key(cell_source)
        history: list[dict[str, Any]] = []
        if args.new and not args.chat:
            raise UsageError("--new needs --chat NAME (which conversation to start afresh).")
        if args.chat:
            chat = self.chats.setdefault(args.chat, Chat(args.chat))
            if args.new:
                chat.reset()
            history = chat.messages(before_cell=cell_key)
        request = build_request(opts, [*history, user])
        max_turns = args.max_turns if args.max_turns is not None else self.max_turns
        if max_turns < 1:
            raise UsageError("--max-turns must be at least 1.")
        read_timeout = args.timeout if args.timeout is not None else self.read_timeout
        if read_timeout <= 0:
            raise UsageError("--timeout must be a positive number of seconds.")

        client = self._client(offline, read_timeout, args.speed)
        if args.dry_run:
            return self._dry_run(client, request)

        from claude_nb.teaching.step import close_active

        close_active()  # a --step stream left open is abandoned by the next request
        view = "quiet" if args.quiet else "plain" if args.plain else self.view
        extras = _teaching_extras(args)
        run = Run(
            model=opts.model,
            view=view,
            offline=offline,
            max_retries=self.max_retries,
            read_timeout=read_timeout,
            request={k: v for k, v in request.items() if k != "extra_headers"},
            extras=extras,
            wire=bool(args.events or args.record or args.step),
        )
        started = time.time()
        if args.step:
            from claude_nb.teaching.step import run_stepwise

            # The cell returns at once; the stream advances on clicks while the kernel is idle.
            return run_stepwise(
                run,
                client,
                request,
                on_done=lambda r: self._finish(r, args, chat, cell_key, user, started),
            )
        try:
            converse(
                run,
                lambda req: client.messages.stream(**req),
                request,
                tools,
                max_turns=max_turns,
                confirm=args.confirm,
            )
        except KeyboardInterrupt:  # between turns or while painting: still a clean stop
            run.end(Outcome.INTERRUPTED)
        except Exception as exc:  # a bug of ours (or a tool hook's): still close, bind, show
            run.end(
                Outcome.ERROR,
                RunError(
                    "internal_error",
                    f"claude_nb failed: {type(exc).__name__}: {exc}.",
                    "The partial answer is kept; please report this with `%claude config`.",
                ),
            )
        result = run.close()
        self._finish(result, args, chat, cell_key, user, started, text)

    def _finish(
        self,
        result: Result,
        args: Any,
        chat: Chat | None,
        cell_key: str,
        user: dict[str, Any],
        started: float,
        text: str | None = None,
    ) -> None:
        """Bind, record, remember: the same after every run, however it ended."""
        result.prompt = text if text is not None else _user_text(user)
        self._bind(result, args.out)
        self._record(result, started)
        if chat is not None:
            chat.record(cell_key, user, result.to_messages(), result.status)
        if args.record:
            saved = save_recording(result, args.record)
            print(
                f"claude_nb: recorded {', '.join(str(p) for p in saved)} (replay with --replay FILE)"
            )
        if result.interrupted:
            raise RunInterrupted(_interrupt_error())
        if result.failed and result.error is not None:
            raise RunFailed(result.error)

    def _options(
        self, args: Any, ns: dict[str, Any], offline: bool
    ) -> tuple[Options, dict[str, Any]]:
        max_tokens = args.max_tokens if args.max_tokens is not None else self.max_tokens
        if not 1 <= max_tokens <= MAX_TOKENS_LIMIT:
            raise UsageError(
                f"--max-tokens {max_tokens}: must be between 1 and {MAX_TOKENS_LIMIT:,}."
            )
        if args.speed is not None and args.speed < 0:
            raise UsageError("--speed must be 0 (instant) or more.")
        if (args.replay or args.speed is not None or args.fault) and not (offline or self._server):
            raise UsageError(
                "--replay, --speed and --fault drive the offline server: add --offline or run %claude offline."
            )
        system = args.system if args.system is not None else self.system or None
        if system and system.isidentifier() and system in ns:
            value = ns[system]
            if not isinstance(value, str):
                raise UsageError(
                    f"--system {system}: the variable holds a {type(value).__name__}, not text."
                )
            system = value
        effort = args.effort or self.effort or None
        if effort and effort not in EFFORTS:
            raise UsageError(f"Claude.effort {effort!r}: choose one of {', '.join(EFFORTS)}.")
        names = args.tools if args.tools is not None else self.tools
        tool_names = [n.strip() for n in names.split(",") if n.strip()] if names else []
        tools = resolve(tool_names, ns) if tool_names else {}
        headers = {}
        if args.replay:
            path = os.path.expanduser(args.replay)
            headers["x-claude-nb-transcript"] = (
                os.path.abspath(path) if os.path.exists(path) else args.replay
            )
        if args.speed is not None:
            headers["x-claude-nb-speed"] = repr(args.speed)
        if args.fault:
            headers["x-claude-nb-fault"] = args.fault
        opts = Options(
            model=args.model or self.model,
            max_tokens=max_tokens,
            system=system,
            stop=args.stop or [],
            effort=effort,
            thinking=args.thinking if args.thinking is not None else self.thinking,
            fast=args.fast,
            params=parse_params(args.param),
            tools=tool_params(tools),
            web_search=args.web_search,
            web_fetch=args.web_fetch,
            headers=headers,
        )
        return opts, tools

    # Where requests go ----------------------------------------------------------------

    def _client(
        self, offline: bool, read_timeout: float, speed: float | None
    ) -> anthropic.Anthropic:
        if offline:
            server = self._offline_server()
            key: tuple[Any, ...] = ("offline", server.url, read_timeout, self.max_retries)
            kwargs: dict[str, Any] = {"base_url": server.url, "api_key": "offline"}
        else:
            key = ("online", read_timeout, self.max_retries, os.environ.get("ANTHROPIC_BASE_URL"))
            kwargs = {}
        client = self._clients.get(key)
        if client is None:
            client = anthropic.Anthropic(
                **kwargs,
                max_retries=self.max_retries,
                timeout=anthropic.Timeout(read_timeout, connect=10.0),
                http_client=anthropic.DefaultHttpxClient(
                    transport=WireTap(), event_hooks={"response": [response_hook]}
                ),
            )
            if not offline and not _has_credentials(client):
                client.close()
                raise MissingKeyError(f"No API key. {NO_KEY_HINT}")
            self._clients[key] = client
        return client

    def _offline_server(self) -> Any:
        if self._server is None or not self._server.running:
            from claude_nb import offline

            self._server = offline.start(speed=self.offline_speed)
        return self._server

    # Results --------------------------------------------------------------------------

    def _bind(self, result: Result, out: str | None) -> None:
        ns = self.shell.user_ns
        ns["_claude"] = result
        ns["_claude_message"] = result.message
        ns["_claude_usage"] = result.usage
        if out:
            if not out.isidentifier():
                raise UsageError(f"--out {out!r} is not a valid variable name.")
            ns[out] = result

    def _record(self, result: Result, started: float) -> None:
        u = result._state.usage()
        self.ledger.append(
            {
                "when": time.strftime("%H:%M:%S", time.localtime(started)),
                "model": result.model,
                "status": result.status,
                **{
                    k: u.get(k, 0)
                    for k in (
                        "input_tokens",
                        "output_tokens",
                        "cache_read_input_tokens",
                        "cache_creation_input_tokens",
                    )
                },
                "seconds": round(result.duration, 2),
                "cost": estimate_cost(result.model, u, self._prices()),
                "offline": result._state.offline,
            }
        )

    def _prices(self) -> dict[str, Price]:
        table = dict(PRICES)
        for prefix, value in self.prices.items():
            table[prefix] = value if isinstance(value, Price) else Price(*value)
        return table

    def _cell_key(self, source: str) -> str:
        if self.cell_id:
            return self.cell_id
        return "src:" + hashlib.sha1(source.encode()).hexdigest()[:16]

    # Dry run --------------------------------------------------------------------------

    def _dry_run(self, client: anthropic.Anthropic, request: dict[str, Any]) -> None:
        shown = {k: v for k, v in request.items() if k != "extra_headers"}
        try:
            tokens: int | None = count_tokens(client, request)
            note = ""
        except Exception as exc:  # counting is a courtesy; the request itself is what matters
            tokens, note = None, f"(count_tokens failed: {type(exc).__name__}: {exc})"
        cost = None
        if tokens is not None:
            usage = {"input_tokens": tokens, "output_tokens": request["max_tokens"]}
            cost = estimate_cost(request["model"], usage, self._prices())
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
        self.shell.user_ns["_claude_request"] = shown

    # Subcommands ----------------------------------------------------------------------

    def _subcommand(self, name: str, rest: list[str]) -> None:
        if name == "offline":
            speed = None
            if rest[:1] == ["--speed"] and len(rest) == 2:
                speed = float(rest[1])
            elif rest:
                raise UsageError("usage: %claude offline [--speed X]")
            if speed is not None:
                if speed < 0:
                    raise UsageError("--speed must be 0 (instant) or more.")
                self.offline_speed = speed
            self.offline = True
            server = self._offline_server()
            if speed is not None:
                server.speed = speed
            print(
                f"claude_nb: offline mode — answers come from the built-in server at {server.url} "
                f"(speed {server.speed:g}); `%claude online` to use the API."
            )
            return None
        if name == "online":
            self.offline = False
            print(
                "claude_nb: online — requests go to the Anthropic API (ANTHROPIC_BASE_URL if set)."
            )
            return None
        if name == "usage":
            return self._show_usage()
        if name == "history":
            chat = self._chat(rest)
            display(chat)
            return None
        if name == "reset":
            chat = self._chat(rest)
            chat.reset()
            print(f"claude_nb: chat {chat.name!r} cleared.")
            return None
        if name == "chats":
            print(
                ", ".join(f"{n} ({len(c)} turns)" for n, c in self.chats.items()) or "no chats yet"
            )
            return None
        if name == "config":
            for trait in sorted(self.class_own_traits(config=True)):
                print(f"Claude.{trait} = {getattr(self, trait)!r}")
            return None
        if name == "models":
            from claude_nb.sdk import MODELS

            print("\n".join(MODELS))
            return None
        if name == "tools":
            from claude_nb.notebook.tools import REGISTRY

            if not REGISTRY:
                print(
                    "no tools registered (decorate functions with @claude_nb.tool, or pass --tools f,g)"
                )
            for tname, t in REGISTRY.items():
                print(f"{tname}: {t.description.splitlines()[0] if t.description else ''}")
            return None
        raise UsageError(f"unknown subcommand {name!r}")

    def _chat(self, rest: list[str]) -> Chat:
        if len(rest) > 1:
            raise UsageError("usage: %claude history [NAME] / %claude reset [NAME]")
        if rest:
            if rest[0] not in self.chats:
                known = ", ".join(self.chats) or "none yet"
                raise UsageError(f"no chat named {rest[0]!r} (chats: {known})")
            return self.chats[rest[0]]
        if len(self.chats) == 1:
            return next(iter(self.chats.values()))
        raise UsageError(f"which chat? {', '.join(self.chats) or 'none yet'}")

    def _show_usage(self) -> None:
        rows = self.ledger
        if not rows:
            print("no calls yet in this session")
            return
        cols = [
            "when",
            "model",
            "status",
            "input_tokens",
            "output_tokens",
            "cache_read_input_tokens",
            "cache_creation_input_tokens",
            "seconds",
            "cost",
        ]
        heads = [
            "when",
            "model",
            "status",
            "in",
            "out",
            "cache read",
            "cache write",
            "seconds",
            "est. cost $",
        ]

        def fmt(row: dict[str, Any], col: str) -> str:
            v = row[col]
            if col == "cost":
                return "offline" if row["offline"] else ("–" if v is None else f"{v:.4f}")
            return f"{v:,}" if isinstance(v, int) else str(v)

        total = {c: sum(r[c] for r in rows) for c in cols[3:7]}
        cost = sum(r["cost"] or 0 for r in rows if not r["offline"])
        body = "".join(
            "<tr>" + "".join(f"<td>{esc(fmt(r, c))}</td>" for c in cols) + "</tr>" for r in rows
        )
        foot = (
            "<tr><td colspan=3><b>total</b></td>"
            + "".join(f"<td><b>{total[c]:,}</b></td>" for c in cols[3:7])
            + f"<td></td><td><b>{cost:.4f}</b></td></tr>"
        )
        table = (
            "<table><thead><tr>" + "".join(f"<th>{h}</th>" for h in heads) + "</tr></thead>"
            f"<tbody>{body}{foot}</tbody></table>"
            f"<div style='font-size:11px;color:#8a8a8a'>Estimated from list prices as of {PRICES_AS_OF};"
            " override with %config Claude.prices = {...}.</div>"
        )
        plain = plain_text(
            "\n".join(
                ["  ".join(heads)]
                + ["  ".join(fmt(r, c) for c in cols) for r in rows]
                + [f"total est. cost ${cost:.4f}"]
            )
        )
        display({"text/html": table, "text/plain": plain}, raw=True)


def _teaching_extras(args: Any) -> list[Any]:
    """Factories for teaching mode's extras: the event inspector and the timeline chart."""
    extras: list[Any] = []
    if args.events:
        from claude_nb.teaching.inspector import EventInspector

        extras.append(EventInspector)
    if args.events or args.timeline:
        from claude_nb.teaching.timeline_chart import TimelineChart

        extras.append(TimelineChart)
    return extras


def save_recording(result: Result, path: str) -> list[str]:
    """Write each streamed response of the run as a ``.sse`` file with timing comments."""
    from pathlib import Path

    logs = result.wire or []
    if not logs:
        raise UsageError("--record: nothing was streamed, so nothing was recorded.")
    target = Path(os.path.expanduser(path))
    saved = []
    for n, log in enumerate(logs, 1):
        out = (
            target
            if n == 1
            else target.with_name(f"{target.stem}-turn{n}{target.suffix or '.sse'}")
        )
        log.save(out)
        saved.append(str(out))
    return saved


def _user_text(user: dict[str, Any]) -> str:
    content = user["content"]
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") for b in content if b.get("type") == "text")


def _unquote(args: Any) -> Any:
    """IPython's argument splitter keeps quotes: ``--system 'be brief'`` -> ``be brief``."""
    for name, value in vars(args).items():
        if isinstance(value, str):
            setattr(args, name, _strip_quotes(value))
        elif isinstance(value, list):
            setattr(args, name, [_strip_quotes(v) if isinstance(v, str) else v for v in value])
    return args


def _strip_quotes(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _has_credentials(client: anthropic.Anthropic) -> bool:
    return bool(client.api_key or client.auth_token or getattr(client, "_token_cache", None))


def _interrupt_error() -> Any:
    from claude_nb.errors import RunError

    return RunError("KeyboardInterrupt", "Interrupted: the partial answer is kept in _claude.")


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
