"""Conversations across cells: ``%%claude --chat NAME``.

A :class:`Chat` is a plain object the user can inspect and edit: an ordered list of
:class:`ChatTurn` (one per cell that ran in it), each holding the user's message and
every message the run produced after it (assistant turns with thinking signatures
intact, tool results), so multi-turn thinking and tool use stay valid. Re-running a
cell replaces that cell's turn instead of appending a duplicate.

``--new`` starts a conversation afresh from its cell, except when that cell already
opens it: re-running the first cell of a chat (alone, or in "Run all") replaces its own
turn and keeps the turns of the cells after it, as re-running any other cell does.
Nothing the user did not ask to lose is dropped; ``%claude reset NAME`` clears a chat.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from claude_nb.render.safe import esc, markdown_text, plain_text


@dataclass
class ChatTurn:
    cell: str  # the cell's id (or its source when the front-end sends no id)
    user: dict[str, Any]  # {"role": "user", "content": ...}
    replies: list[dict[str, Any]] = field(default_factory=list)  # assistant turns and tool results
    status: str = "complete"

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [self.user, *self.replies]


@dataclass
class Chat:
    """One named conversation."""

    name: str
    turns: list[ChatTurn] = field(default_factory=list)

    def messages(self, before_cell: str | None = None) -> list[dict[str, Any]]:
        """The history to send: every turn, or only those before ``before_cell``'s turn."""
        out: list[dict[str, Any]] = []
        for turn in self.turns:
            if before_cell is not None and turn.cell == before_cell:
                break
            out.extend(_valid(turn.messages))
        return out

    def record(
        self, cell: str, user: dict[str, Any], replies: list[dict[str, Any]], status: str
    ) -> None:
        """Store a cell's exchange, replacing that cell's earlier turn if there was one."""
        turn = ChatTurn(cell=cell, user=user, replies=replies, status=status)
        for i, old in enumerate(self.turns):
            if old.cell == cell:
                self.turns[i] = turn
                return
        self.turns.append(turn)

    def start(self, cell: str) -> None:
        """``--new`` from ``cell``: clear the chat unless ``cell`` is the turn that opens it."""
        if not (self.turns and self.turns[0].cell == cell):
            self.reset()

    def reset(self) -> None:
        self.turns.clear()

    def __len__(self) -> int:
        return len(self.turns)

    def __repr__(self) -> str:
        lines = [f"Chat {self.name!r}: {len(self.turns)} turn(s)"]
        for n, turn in enumerate(self.turns, 1):
            lines.append(f"  {n}. you: {_preview(turn.user, 100)}")
            for reply in turn.replies:
                lines.append(f"     {_who(reply)}: {_preview(reply, 100)}")
        return plain_text("\n".join(lines))

    # Previews are the model's (and the user's) text: shown as text, never as markup.

    def _repr_html_(self) -> str:
        name = f"<code>{esc(self.name)}</code>"
        if not self.turns:
            return f"<p><i>Chat {name} is empty.</i></p>"
        rows = [(0, f"<b>Chat {name}</b> — {len(self.turns)} turn(s)")]
        for n, turn in enumerate(self.turns, 1):
            rows.append((0, f"<b>{n}. you:</b> {esc(_preview(turn.user))}"))
            for reply in turn.replies:
                rows.append((1, f"<b>{_who(reply)}:</b> {esc(_preview(reply))}"))
            if turn.status != "complete":
                rows.append((1, f"<i>({esc(turn.status)})</i>"))
        return "".join(
            f'<div style="margin: 2px 0 2px {1.5 * level}em">{row}</div>' for level, row in rows
        )

    def _repr_markdown_(self) -> str:
        name = markdown_text(self.name)
        if not self.turns:
            return f"*Chat {name} is empty.*"
        lines = [f"**Chat {name}** — {len(self.turns)} turn(s)\n"]
        for n, turn in enumerate(self.turns, 1):
            lines.append(f"**{n}. you:** {markdown_text(_preview(turn.user))}")
            for reply in turn.replies:
                lines.append(
                    f"&nbsp;&nbsp;&nbsp;**{_who(reply)}:** {markdown_text(_preview(reply))}"
                )
            if turn.status != "complete":
                lines.append(f"&nbsp;&nbsp;&nbsp;*({markdown_text(turn.status)})*")
        return "\n\n".join(lines)


def _who(reply: dict[str, Any]) -> str:
    return "claude" if reply["role"] == "assistant" else "tool results"


def _preview(message: dict[str, Any], limit: int = 160) -> str:
    content = message["content"]
    if isinstance(content, str):
        text = content
    else:
        parts = []
        for block in content:
            btype = block.get("type")
            if btype == "text":
                parts.append(block.get("text", ""))
            elif btype in ("tool_use", "server_tool_use"):
                parts.append(f"[{btype} {block.get('name')}]")
            elif btype == "tool_result":
                parts.append("[tool_result]")
            elif btype in ("thinking", "redacted_thinking"):
                parts.append(f"[{btype}]")
            else:
                parts.append(f"[{btype}]")
        text = " ".join(parts)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _valid(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A turn's messages, trimmed so the next request stays valid: a turn with no answer
    is skipped, and an interrupted tool loop loses its dangling tool results / tool_use."""
    msgs = list(messages)
    while len(msgs) >= 2:
        last = msgs[-1]
        if last["role"] == "user":  # tool results that were never answered
            msgs.pop()
            continue
        content = last["content"]
        if isinstance(content, list) and any(b.get("type") == "tool_use" for b in content):
            kept = [b for b in content if b.get("type") != "tool_use"]
            if any(b.get("type") == "text" for b in kept):
                msgs[-1] = {"role": "assistant", "content": kept}
            else:
                msgs.pop()
                continue
        if isinstance(content, list) and not content:
            msgs.pop()
            continue
        return msgs
    return []
