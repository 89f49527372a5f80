"""``%claude SUBCOMMAND``: a table of small commands that act on this session.

Each entry says how it is called and what it does; ``%claude`` looks the first word up
here and hands the rest of the line to the handler. A handler that gets words it does
not take says so in one line (its usage), so ``%claude usage of pandas`` is not silently
read as ``%claude usage``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from IPython.display import display

from claude_nb.errors import UsageError
from claude_nb.notebook.chat import Chat
from claude_nb.notebook.ledger import Ledger
from claude_nb.notebook.options import check_speed


class Host(Protocol):
    """What the subcommands need of the magic (``notebook.magic.Claude``)."""

    chats: dict[str, Chat]
    ledger: Ledger

    def go_offline(self, speed: float | None) -> str: ...
    def go_online(self) -> None: ...
    def settings(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Subcommand:
    run: Callable[[Host, list[str]], None]
    usage: str  # the words after %claude
    help: str


def dispatch(host: Host, name: str, rest: list[str]) -> None:
    SUBCOMMANDS[name].run(host, rest)


def _no_words(name: str, rest: list[str]) -> None:
    if rest:
        raise UsageError(
            f"%claude {name} takes no arguments (got {' '.join(rest)!r}); to ask Claude, use %%claude."
        )


def _offline(host: Host, rest: list[str]) -> None:
    speed = None
    if len(rest) == 2 and rest[0] == "--speed":
        speed = check_speed(rest[1], "--speed")
    elif len(rest) == 1 and rest[0].startswith("--speed="):
        speed = check_speed(rest[0].partition("=")[2], "--speed")
    elif rest:
        raise UsageError(f"usage: %claude {SUBCOMMANDS['offline'].usage}")
    url = host.go_offline(speed)
    print(
        f"claude_nb: offline mode — answers come from the built-in server at {url}"
        " (claude_nb.offline_url() returns it); `%claude online` to use the API."
    )


def _online(host: Host, rest: list[str]) -> None:
    _no_words("online", rest)
    host.go_online()
    print("claude_nb: online — requests go to the Anthropic API (ANTHROPIC_BASE_URL if set).")


def _usage(host: Host, rest: list[str]) -> None:
    _no_words("usage", rest)
    display(host.ledger)


def _chat(host: Host, name: str, rest: list[str]) -> Chat:
    if len(rest) > 1:
        raise UsageError(f"usage: %claude {SUBCOMMANDS[name].usage}")
    if rest:
        if rest[0] not in host.chats:
            known = ", ".join(host.chats) or "none yet"
            raise UsageError(f"no chat named {rest[0]!r} (chats: {known})")
        return host.chats[rest[0]]
    if len(host.chats) == 1:
        return next(iter(host.chats.values()))
    raise UsageError(f"which chat? {', '.join(host.chats) or 'none yet'}")


def _history(host: Host, rest: list[str]) -> None:
    display(_chat(host, "history", rest))


def _reset(host: Host, rest: list[str]) -> None:
    chat = _chat(host, "reset", rest)
    chat.reset()
    print(f"claude_nb: chat {chat.name!r} cleared.")


def _chats(host: Host, rest: list[str]) -> None:
    _no_words("chats", rest)
    print(", ".join(f"{n} ({len(c)} turns)" for n, c in host.chats.items()) or "no chats yet")


def _config(host: Host, rest: list[str]) -> None:
    _no_words("config", rest)
    for name, value in host.settings().items():
        print(f"Claude.{name} = {value!r}")


def _models(host: Host, rest: list[str]) -> None:
    _no_words("models", rest)
    from claude_nb.sdk import MODELS

    print("\n".join(MODELS))


def _tools(host: Host, rest: list[str]) -> None:
    _no_words("tools", rest)
    from claude_nb.notebook.tools import REGISTRY

    if not REGISTRY:
        print("no tools registered (decorate functions with @claude_nb.tool, or pass --tools f,g)")
    for name, tool in REGISTRY.items():
        print(f"{name}: {tool.description.splitlines()[0] if tool.description else ''}")


SUBCOMMANDS: dict[str, Subcommand] = {
    "offline": Subcommand(
        _offline, "offline [--speed X]", "answer from the built-in offline server (no key)"
    ),
    "online": Subcommand(_online, "online", "send requests to the Anthropic API"),
    "usage": Subcommand(_usage, "usage", "this session's calls, tokens and estimated cost"),
    "history": Subcommand(_history, "history [NAME]", "the turns of a --chat conversation"),
    "reset": Subcommand(_reset, "reset [NAME]", "clear a --chat conversation"),
    "chats": Subcommand(_chats, "chats", "the conversations of this session"),
    "config": Subcommand(_config, "config", "the %config Claude.* defaults in effect"),
    "models": Subcommand(_models, "models", "the model ids the installed SDK lists"),
    "tools": Subcommand(_tools, "tools", "the functions registered with @claude_nb.tool"),
}


def summary() -> str:
    """One line per subcommand, for the magic's help text."""
    return "\n".join(f"%claude {s.usage:<20} {s.help}" for s in SUBCOMMANDS.values())
