"""The ``claude-nb`` command line: ``serve`` the offline backend, list ``transcripts``.

Subcommands are registered in :func:`build_parser` (``_COMMANDS``); add one by writing
``_add_NAME(subparsers)`` that sets ``func`` to a handler returning an exit code.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["build_parser", "main"]


def _cmd_serve(args: argparse.Namespace) -> int:
    from claude_nb import offline

    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()), format="%(asctime)s %(name)s %(message)s"
    )
    try:
        srv = offline.start(
            speed=args.speed,
            ttft=args.ttft,
            tokens_per_second=args.tps,
            transcript=args.transcript,
            faults=args.fault,
            rate_limits=args.rate_limit,
            batch_seconds=args.batch_seconds,
            batch_dir=args.batch_dir,
            port=args.port,
            host=args.host,
        )
    except (ValueError, OSError) as exc:
        print(f"claude-nb serve: {exc}", file=sys.stderr)
        return 2
    done = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        done.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in _stop_signals()}
    print(f"claude_nb offline Anthropic API listening on {srv.url}")
    print(f"  export ANTHROPIC_BASE_URL={srv.url}")
    print("  export ANTHROPIC_API_KEY=offline   # any non-empty key is accepted")
    print("Press Ctrl-C to stop.", flush=True)
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        srv.stop()
        print("stopped", flush=True)
    return 0


def _stop_signals() -> list[signal.Signals]:
    signals = [signal.SIGINT]
    if hasattr(signal, "SIGTERM"):
        signals.append(signal.SIGTERM)
    return signals


def _cmd_transcripts(args: argparse.Namespace) -> int:
    from claude_nb.offline import describe_selection, load_transcript, transcript_names

    names = transcript_names()
    width = max(map(len, names), default=0)
    for name in names:
        print(f"{name:<{width}}  {load_transcript(name).description}")
    if args.rules:
        print()
        print(describe_selection())
    return 0


def _add_serve(subparsers: Any) -> None:
    p = subparsers.add_parser("serve", help="run the offline Anthropic API backend until Ctrl-C")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8642, help="port (default 8642; 0 picks a free one)")
    p.add_argument(
        "--speed", type=float, default=1.0, help="pace multiplier; 0 = no delays (default 1)"
    )
    p.add_argument(
        "--ttft", type=float, default=0.4, help="seconds before the first token (default 0.4)"
    )
    p.add_argument("--tps", type=float, default=80.0, help="tokens per second (default 80)")
    p.add_argument("--transcript", help="always answer with this transcript (name or path to .sse)")
    p.add_argument("--fault", help='fault spec, e.g. "status=429;retry_after=1;times=2"')
    p.add_argument(
        "--rate-limit",
        help='limits per minute, answered with 429 + retry-after past them, e.g. "rpm=50;itpm=30000;otpm=8000"',
    )
    p.add_argument(
        "--batch-seconds",
        type=float,
        default=10.0,
        help="how long a message batch takes to process at speed 1 (default 10)",
    )
    p.add_argument(
        "--batch-dir",
        help="keep message batches in this folder, so a restarted server finds them "
        "(default: $CLAUDE_NB_OFFLINE_BATCHES, else a temporary folder)",
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=_cmd_serve)


def _add_transcripts(subparsers: Any) -> None:
    p = subparsers.add_parser("transcripts", help="list the shipped offline transcripts")
    p.add_argument("--rules", action="store_true", help="also print how a transcript is chosen")
    p.set_defaults(func=_cmd_transcripts)


def _cmd_demo(args: argparse.Namespace) -> int:
    from claude_nb.demo import run_demo

    return run_demo(speed=args.speed)


def _add_demo(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "demo", help="stream a few %%%%claude cells from the offline server here"
    )
    p.add_argument("--speed", type=float, default=1.0, help="pace: 1 normal, 0.2 slower, 0 instant")
    p.set_defaults(func=_cmd_demo)


_COMMANDS: list[Callable[[Any], None]] = [_add_serve, _add_transcripts, _add_demo]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="claude-nb", description="claude_nb command line tools")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in _COMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
