"""Plain-text streaming for terminals and ``--plain``: deltas are written as they arrive.

Used in terminal IPython, in scripts, and wherever no widget front-end exists. Same
content as the other views — text, thinking, tool calls and results, footer — as text.
"""

from __future__ import annotations

import sys
from typing import TextIO

from claude_nb.render.header import footer_plain, header_plain
from claude_nb.render.segments import Layout, ToolPanel, compact
from claude_nb.stream.state import TOOL_BLOCKS, Change, RunState, ToolRun

DIM, RED, RESET = "\x1b[2m", "\x1b[31m", "\x1b[0m"


class TerminalView:
    def __init__(
        self, state: RunState, layout: Layout, out: TextIO | None = None, color: bool | None = None
    ) -> None:
        self.state = state
        self.layout = layout
        self.out = out or sys.stdout
        self.color = self.out.isatty() if color is None else color
        self._at_line_start = True
        self._mode = ""

    def _write(self, text: str) -> None:
        if text:
            self.out.write(text)
            self._at_line_start = text.endswith("\n")

    def _style(self, code: str, text: str) -> str:
        return f"{code}{text}{RESET}" if self.color else text

    def _newline(self) -> None:
        if not self._at_line_start:
            self._write("\n")

    def start(self) -> None:
        self._write(self._style(DIM, header_plain(self.state)) + "\n")

    def changed(self, change: Change) -> None:
        kind = change.kind
        if kind == "delta":
            dtype, piece = change.payload
            if dtype == "text_delta" and piece:
                self._write(piece)
            elif dtype == "thinking_delta" and piece:
                self._write(self._style(DIM, piece))
        elif kind == "block_start":
            btype = change.payload
            if btype == "thinking":
                self._newline()
                self._write(self._style(DIM, "💭 thinking: "))
            elif btype == "redacted_thinking":
                self._newline()
                self._write(self._style(DIM, "🔒 [redacted thinking]\n"))
            elif btype.endswith("_tool_result"):
                seg = self.layout._by_block.get((change.turn, change.index))
                if isinstance(seg, ToolPanel):
                    self._write(self._style(DIM, "   -> " + compact(seg.result_text(), 400)) + "\n")
        elif kind == "block_stop":
            seg = self.layout._by_block.get((change.turn, change.index))
            btype = self.state.turns[change.turn].blocks[change.index].type
            if isinstance(seg, ToolPanel) and btype in TOOL_BLOCKS:
                self._newline()
                self._write(
                    self._style(DIM, f"🔧 {seg.name}({compact(seg.input_text(), 300)})") + "\n"
                )
            elif btype == "thinking":
                self._write("\n")
        elif kind == "tool":
            run: ToolRun = change.payload
            if run.status in ("pending", "running"):
                return
            text = f"   -> {compact(run.display, 400)}"
            self._write((self._style(RED, text) if run.is_error else self._style(DIM, text)) + "\n")

    def paint(self) -> None:
        self.out.flush()

    def close(self, bundle: dict[str, str] | None) -> None:
        self._newline()
        for seg in self.layout.segments:
            sources = getattr(seg, "sources", None)
            if sources:
                lines = [
                    f"  [{n}] {title} {where}".rstrip()
                    for n, (title, where) in enumerate(sources, 1)
                ]
                self._write(self._style(DIM, "Sources:\n" + "\n".join(lines)) + "\n")
        self._write(self._style(DIM, footer_plain(self.state)) + "\n")
        self.out.flush()

    def size(self) -> int:
        return 0
