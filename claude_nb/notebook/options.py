"""The ``%%claude`` options: declared in sections, then checked all at once before sending.

:func:`declare` puts the flags on the magic with IPython's ``magic_arguments``, grouped
with ``argument_group`` so ``%%claude?`` reads in sections. :func:`check` turns the
parsed flags and the ``%config Claude.*`` defaults into a :class:`Plan`: every value
validated, the prompt filled, attachments loaded, tools resolved; what only the request
can tell (a thinking budget against max_tokens, an option this SDK lacks) is checked by
``request.build_request``, also before anything is sent. Anything wrong is one
``UsageError`` line naming the option (or the ``Claude.*`` setting it came from), so a
bad option never costs a call.
"""

from __future__ import annotations

import builtins
import keyword
import math
import os
import re
import types
from argparse import Namespace
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from IPython.core.magic_arguments import argument, argument_group, kwds, magic_arguments

from claude_nb.errors import UsageError
from claude_nb.notebook.interp import interpolate
from claude_nb.notebook.request import (
    Options,
    document_block,
    image_block,
    parse_params,
    user_message,
)
from claude_nb.notebook.tools import resolve, tool_params
from claude_nb.sdk import EFFORTS
from claude_nb.stream.usage import PRICES, Price

MAX_TOKENS_LIMIT = 128_000
BINDINGS = ("_claude", "_claude_message", "_claude_usage", "_claude_request")
"""Names the magic binds after every run: ``--out`` may not take them."""


class Defaults(Protocol):
    """The ``%config Claude.*`` settings a run reads (traits of ``notebook.magic.Claude``)."""

    @property
    def model(self) -> str: ...
    @property
    def max_tokens(self) -> int: ...
    @property
    def system(self) -> str: ...
    @property
    def effort(self) -> str: ...
    @property
    def thinking(self) -> str: ...
    @property
    def tools(self) -> str: ...
    @property
    def view(self) -> str: ...
    @property
    def max_turns(self) -> int: ...
    @property
    def max_retries(self) -> int: ...
    @property
    def read_timeout(self) -> float: ...
    @property
    def deadline(self) -> float | None: ...
    @property
    def interpolate(self) -> bool: ...
    @property
    def offline(self) -> bool: ...
    @property
    def prices(self) -> dict[str, Any]: ...


def declare(subcommands: str) -> Callable[[Any], Any]:
    """The magic's flags, in sections; ``subcommands`` is the help's closing list."""
    decorators = [
        kwds(epilog="Line form: %claude PROMPT, or a subcommand:\n" + subcommands),
        argument(
            "prompt",
            nargs="*",
            help="(%%claude line form) the prompt; or a subcommand (listed at the end)",
        ),
        argument_group("Request"),
        argument("-m", "--model", help="Model id (`%%claude models` lists the SDK's)."),
        argument("--max-tokens", type=int, metavar="N", help="Most tokens to generate."),
        argument("--stop", action="append", metavar="SEQ", help="Stop sequence (repeatable)."),
        argument(
            "-s",
            "--system",
            metavar="TEXT_OR_VAR",
            help="System prompt, or the name of a variable holding it.",
        ),
        argument("--effort", choices=EFFORTS, help="output_config.effort."),
        argument(
            "--thinking",
            metavar="adaptive|BUDGET|off",
            help="Extended thinking: adaptive, a token budget, or off.",
        ),
        argument("--fast", action="store_true", help='speed="fast" (models that offer it).'),
        argument(
            "--param",
            action="append",
            metavar="KEY=VALUE",
            help="Another body field, JSON value (repeatable); not one with its own option.",
        ),
        argument_group("Prompt and attachments"),
        argument("--no-interp", action="store_true", help="Do not fill {variables} in the prompt."),
        argument(
            "--image", action="append", metavar="PATH_OR_VAR", help="Attach an image (repeatable)."
        ),
        argument(
            "--file", action="append", metavar="PDF", help="Attach a PDF (path or bytes variable)."
        ),
        argument_group("Tools"),
        argument(
            "--tools",
            metavar="NAMES",
            help="Python functions Claude may call: comma-separated, or 'all'.",
        ),
        argument("--web-search", action="store_true", help="Offer the server-side web search."),
        argument("--web-fetch", action="store_true", help="Offer the server-side web fetch."),
        argument("--max-turns", type=int, metavar="N", help="Most turns of the tool loop."),
        argument("--confirm", action="store_true", help="Ask before running each tool call."),
        argument_group("Conversation and results"),
        argument("--chat", metavar="NAME", help="Continue (or start) the conversation NAME."),
        argument(
            "--new",
            action="store_true",
            help="Start the --chat conversation afresh from this cell. Re-running the cell that"
            " started it replaces only its own turn and keeps the later cells' turns;"
            " `%%claude reset NAME` clears them all.",
        ),
        argument("-o", "--out", metavar="NAME", help="Also bind the result to this variable."),
        argument(
            "--dry-run",
            action="store_true",
            help="Show the request, its token count and cost; send nothing.",
        ),
        argument_group("Display"),
        argument("--quiet", action="store_true", help="No view: just bind the result."),
        argument("--plain", action="store_true", help="Plain text output."),
        argument_group("Time limits"),
        argument("--timeout", metavar="SECONDS", help="Idle limit: seconds without any data."),
        argument(
            "--deadline",
            metavar="SECONDS",
            help="Overall limit for the whole run ('none' lifts %%config Claude.deadline).",
        ),
        argument_group("Offline server"),
        argument("--offline", action="store_true", help="Use the built-in offline server."),
        argument(
            "--replay", metavar="NAME_OR_FILE", help="Play this transcript (name or .sse file)."
        ),
        argument(
            "--speed", metavar="X", help="Offline pace: 1 normal, 0.1 ten times slower, 0 instant."
        ),
        argument(
            "--fault",
            metavar="SPEC",
            help="Inject a failure, e.g. drop_after=20 or error_after=5 (see offline.faults).",
        ),
        argument_group("Teaching"),
        argument("--events", action="store_true", help="Live SSE event inspector and timeline."),
        argument("--timeline", action="store_true", help="A chart of output over time."),
        argument("--step", action="store_true", help="Advance the stream one event per click."),
        argument("--record", metavar="FILE", help="Save the raw SSE of this call, with timing."),
    ]

    def apply(func: Any) -> Any:
        for decorate in reversed(decorators):  # innermost first, as if written above `func`
            func = decorate(func)
        return magic_arguments()(func)

    return apply


def unquote(args: Namespace) -> Namespace:
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


@dataclass
class Plan:
    """One run, fully checked: what to send, where, how to show it, what to bind."""

    options: Options
    tools: dict[str, Any]
    user: dict[str, Any]  # the user message (prompt text and attachments)
    text: str  # the prompt after {variables} were filled
    offline: bool
    view: str
    max_turns: int
    max_retries: int
    read_timeout: float
    deadline: float | None
    speed: float | None
    prices: dict[str, Price]
    out: str | None = None
    record: Path | None = None
    chat: str | None = None
    new: bool = False
    confirm: bool = False
    dry_run: bool = False
    step: bool = False
    extras: list[str] = field(default_factory=list)  # "events", "timeline"


def check(
    args: Namespace,
    cfg: Defaults,
    ns: dict[str, Any],
    prompt: str,
    hidden: Collection[str] = (),
) -> Plan:
    """Every option checked, before anything is sent; ``hidden``: IPython's own names."""
    offline = bool(args.offline or args.replay or cfg.offline)
    for flag, given in (("--speed", args.speed), ("--fault", args.fault)):
        if given is not None and not offline:
            raise UsageError(
                f"{flag} only applies to the offline server: add --offline or run `%claude offline`."
            )
    if args.quiet and args.plain:
        raise UsageError("--quiet and --plain: choose one (--quiet shows nothing at all).")
    if args.new and not args.chat:
        raise UsageError("--new needs --chat NAME (which conversation to start afresh).")
    if args.chat is not None and not args.chat.strip():
        raise UsageError("--chat needs a name, e.g. --chat review.")
    if args.record and args.dry_run:
        raise UsageError("--record with --dry-run: nothing is sent, so there is nothing to record.")
    options, tools = _request_options(args, cfg, ns, offline)
    if args.step and tools:
        raise UsageError(
            "--step plays one response and cannot run your tools: drop --step, or the tools "
            "(--tools '' if they come from %config Claude.tools); server tools such as "
            "--web-search work with --step."
        )
    text = prompt if args.no_interp or not cfg.interpolate else interpolate(prompt, ns)
    attachments = [image_block(s, ns) for s in args.image or []]
    attachments += [document_block(s, ns) for s in args.file or []]
    return Plan(
        options=options,
        tools=tools,
        user=user_message(text, attachments),
        text=text,
        offline=offline,
        view="quiet" if args.quiet else "plain" if args.plain else cfg.view,
        max_turns=_at_least_one(args.max_turns, cfg.max_turns, "--max-turns", "max_turns"),
        max_retries=_retries(cfg.max_retries),
        read_timeout=_seconds(args.timeout, cfg.read_timeout, "--timeout", "read_timeout"),
        deadline=check_deadline(args.deadline, cfg.deadline),
        speed=None if args.speed is None else check_speed(args.speed, "--speed"),
        prices=prices_table(cfg.prices),
        out=None if args.out is None else check_out(args.out, ns, hidden),
        record=None if args.record is None else check_record(args.record),
        chat=args.chat,
        new=args.new,
        confirm=args.confirm,
        dry_run=args.dry_run,
        step=args.step,
        extras=[name for name in ("events", "timeline") if getattr(args, name)],
    )


def _request_options(
    args: Namespace, cfg: Defaults, ns: dict[str, Any], offline: bool
) -> tuple[Options, dict[str, Any]]:
    model = args.model if args.model is not None else cfg.model
    if not model or not model.isprintable() or any(c.isspace() for c in model):
        source = f"-m {model!r}" if args.model is not None else f"Claude.model = {model!r}"
        raise UsageError(f"{source}: a model id is one word, e.g. the ones `%claude models` lists.")
    max_tokens = args.max_tokens if args.max_tokens is not None else cfg.max_tokens
    if not 1 <= max_tokens <= MAX_TOKENS_LIMIT:
        source = "--max-tokens" if args.max_tokens is not None else "Claude.max_tokens ="
        raise UsageError(f"{source} {max_tokens}: must be between 1 and {MAX_TOKENS_LIMIT:,}.")
    effort = args.effort or cfg.effort or None
    if effort and effort not in EFFORTS:
        raise UsageError(f"Claude.effort = {effort!r}: choose one of {', '.join(EFFORTS)}.")
    stops = args.stop or []
    for stop in stops:
        if not stop.strip():
            raise UsageError("--stop: a stop sequence needs a character that is not a space.")
    names = args.tools if args.tools is not None else cfg.tools
    tools = resolve([n.strip() for n in names.split(",") if n.strip()], ns) if names else {}
    options = Options(
        model=model,
        max_tokens=max_tokens,
        system=_system(args.system if args.system is not None else cfg.system or None, ns),
        stop=stops,
        effort=effort,
        thinking=args.thinking if args.thinking is not None else cfg.thinking,
        fast=args.fast,
        params=parse_params(args.param),
        tools=tool_params(tools),
        web_search=args.web_search,
        web_fetch=args.web_fetch,
        headers=_offline_headers(args) if offline else {},
    )
    return options, tools


def _system(value: str | None, ns: dict[str, Any]) -> str | None:
    if value and value.isidentifier() and value in ns:
        held = ns[value]
        if not isinstance(held, str):
            raise UsageError(
                f"--system {value}: the variable holds a {type(held).__name__}, not text."
            )
        return held
    return value


def _offline_headers(args: Namespace) -> dict[str, str]:
    """Per-request instructions for the offline server, each checked as the server would."""
    from claude_nb.offline.faults import parse_faults
    from claude_nb.offline.format import TranscriptError, load_transcript
    from claude_nb.offline.handler import FAULT_HEADER, SPEED_HEADER
    from claude_nb.offline.messages import TRANSCRIPT_HEADER

    headers = {}
    if args.replay:
        try:
            load_transcript(args.replay)
        except TranscriptError as exc:
            raise UsageError(f"--replay {args.replay}: {exc}.") from None
        path = Path(args.replay).expanduser()
        headers[TRANSCRIPT_HEADER] = str(path.resolve()) if path.is_file() else args.replay
    if args.speed is not None:
        headers[SPEED_HEADER] = repr(check_speed(args.speed, "--speed"))
    if args.fault:
        try:
            parse_faults(args.fault)
        except ValueError as exc:
            raise UsageError(f"--fault {args.fault}: {exc}") from None
        headers[FAULT_HEADER] = args.fault
    return headers


# One value each ------------------------------------------------------------------------


def check_speed(raw: str | float, flag: str) -> float:
    """An offline pace: a finite number, 0 (instant) or more."""
    try:
        speed = float(raw)
    except ValueError:
        speed = math.nan
    if not math.isfinite(speed) or speed < 0:
        raise UsageError(
            f"{flag} {raw}: expected a number, 0 or more (1 normal, 0.1 ten times slower, 0 instant)."
        )
    return speed


def _seconds(raw: str | None, default: float, flag: str, trait: str) -> float:
    source = f"{flag} {raw}" if raw is not None else f"Claude.{trait} = {default!r}"
    try:
        value = float(raw) if raw is not None else float(default)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise UsageError(f"{source}: must be a positive number of seconds.")
    return value


def check_deadline(raw: str | None, default: float | None) -> float | None:
    """``--deadline SECONDS`` (``none`` lifts the ``Claude.deadline`` default)."""
    if raw is not None and raw.strip().lower() in ("none", "off"):
        return None
    if raw is None and default is None:
        return None
    return _seconds(raw, default if default is not None else 0.0, "--deadline", "deadline")


def _at_least_one(raw: int | None, default: int, flag: str, trait: str) -> int:
    value = raw if raw is not None else default
    if value < 1:
        source = f"{flag} {value}" if raw is not None else f"Claude.{trait} = {value}"
        raise UsageError(f"{source}: must be at least 1.")
    return value


def _retries(value: int) -> int:
    if value < 0:
        raise UsageError(f"Claude.max_retries = {value}: must be 0 or more.")
    return value


def prices_table(overrides: dict[str, Any]) -> dict[str, Price]:
    """The price table with ``Claude.prices`` applied: ``{prefix: [input, output]}`` in $/MTok."""
    table = dict(PRICES)
    for prefix, value in overrides.items():
        if isinstance(value, Price):
            table[prefix] = value
            continue
        numbers = list(value) if isinstance(value, Iterable) and not isinstance(value, str) else []
        if len(numbers) not in (2, 3, 4) or not all(_is_price(n) for n in numbers):
            raise UsageError(
                f"Claude.prices[{prefix!r}] = {value!r}: expected [input, output] dollars per"
                " million tokens, e.g. [3.0, 15.0]."
            )
        table[prefix] = Price(*(float(n) for n in numbers))
    return table


def _is_price(n: object) -> bool:
    return isinstance(n, (int, float)) and not isinstance(n, bool) and math.isfinite(n) and n >= 0


_CACHE_NAME = re.compile(r"_{1,3}|_i{1,3}|_i?\d+|_[ido]h|__\w*__")


def check_out(name: str, ns: dict[str, Any], hidden: Collection[str] = ()) -> str:
    """A name ``--out`` may bind without breaking the session: a plain variable name that
    is not a keyword, a built-in, one of IPython's names or bindings, or a module, class
    or function the notebook defined."""
    what = f"--out {name}"
    if not name.isidentifier() or keyword.iskeyword(name):
        raise UsageError(f"{what}: not a variable name (letters, digits and _, not a keyword).")
    if name in hidden or name in BINDINGS or _CACHE_NAME.fullmatch(name):
        raise UsageError(f"{what}: IPython or claude_nb already uses that name; choose another.")
    if hasattr(builtins, name):
        raise UsageError(f"{what}: that would hide Python's built-in {name}; choose another name.")
    held = ns.get(name)
    if isinstance(held, (types.ModuleType, type)) or callable(held):
        kind = "module" if isinstance(held, types.ModuleType) else type(held).__name__
        raise UsageError(f"{what}: {name} already holds a {kind}; choose another name.")
    return name


def check_record(raw: str) -> Path:
    """A file ``--record`` can write: its folder exists and is writable."""
    target = Path(raw).expanduser()
    if target.is_dir():
        raise UsageError(
            f"--record {raw}: that is a folder; give a file name, e.g. {raw}/call.sse."
        )
    folder = target.parent
    if not folder.is_dir():
        raise UsageError(
            f"--record {raw}: the folder {folder} does not exist; create it or choose another path."
        )
    if not os.access(folder, os.W_OK):
        raise UsageError(f"--record {raw}: cannot write in {folder}; choose another path.")
    return target
