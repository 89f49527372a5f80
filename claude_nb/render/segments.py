"""Renderers for what a run shows, one small class per kind of content block.

A :class:`Layout` turns the reducer's :class:`~claude_nb.stream.state.Change` stream into an
ordered list of segments: runs of markdown text (consecutive text blocks of a turn
render as one markdown document, so a cited sentence split over blocks stays one
paragraph), thinking panels, tool panels (local tools, server tools, MCP), and a
generic panel for anything this code does not know.

Each segment renders itself three ways — live widget ops, static HTML, plain text and
markdown — so the live view and the saved output never drift apart. Live ops are
O(size of the change): finished markdown blocks are sent once, the open tail as a diff.
"""

from __future__ import annotations

import json
from typing import Any

from typing_extensions import assert_never

from claude_nb.render.html import (
    ACCENT,
    MUTED,
    details,
    esc,
    fmt_int,
    fmt_secs,
    label,
    part,
    pre,
    pretty_json,
)
from claude_nb.render.safe import code_fence, inert_markdown, markdown_text, plain_text, quote
from claude_nb.render.streaming import StreamingMarkdown
from claude_nb.stream.protocol import THINKING_BLOCKS, TOOL_BLOCKS
from claude_nb.stream.state import (
    BlockState,
    Change,
    RunState,
    ToolRun,
    as_dict,
)

Op = list[Any]
CUT_OFF_STOPS = ("max_tokens", "model_context_window_exceeded")
SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
RESULT_DISPLAY_LIMIT = 4_000


def common_prefix_len(a: str, b: str) -> int:
    """Length of the common prefix of two strings, in O(prefix) with C-speed chunks."""
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    lo, hi = 0, n
    while lo < hi:  # binary search on slice equality: O(n log n) worst case, C loops
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def js_len(text: str) -> int:
    """Length in UTF-16 code units: the browser slices strings by those, and an emoji
    outside the BMP is one Python character but two JavaScript ones."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


class Segment:
    """One visible piece of the answer. Subclasses fill in the rendering."""

    kind = "segment"

    def __init__(self, pid: str) -> None:
        self.pid = pid
        self.dirty = True
        self.shown = False  # the live widget has received this segment

    def live_html(self) -> str:
        """The segment as first sent to the live widget (marks its content as sent)."""
        return self.html(live=True)

    def checkpoint_html(self) -> str:
        """What the browser shows after the last patch: for re-sending the whole view."""
        return self.html(live=True)

    def html(self, live: bool = False) -> str:
        raise NotImplementedError

    def ops(self) -> list[Op]:
        """Live patches since the last call (after the segment was first shown whole)."""
        self.dirty = False
        return [["set", f"{self.pid}.root", self.html(live=True)]]

    def mark_shown(self) -> None:
        self.shown = True
        self.dirty = False

    def markdown(self) -> str:
        return self.plain()

    def plain(self) -> str:
        return ""

    def finish(self, t: float) -> None:
        """The run ended (normally or not): settle anything still open."""
        self.dirty = True


class MarkdownRun(Segment):
    """Consecutive text blocks rendered incrementally as one markdown document."""

    kind = "text"

    def __init__(self, pid: str) -> None:
        super().__init__(pid)
        self.md = StreamingMarkdown()
        self.frozen: list[str] = []
        self.unsent: list[str] = []
        self.tail = ""
        self.sent_tail = ""
        self.pending = False  # text appended since the last render
        self.chars = 0  # characters appended so far (cheap; md.text joins)
        self.finished = False
        self.replaced = False  # finish() replaced the incremental HTML with a one-shot render
        self.sources: list[tuple[str, str]] = []  # (title, url or location) per citation number
        self._source_index: dict[str, int] = {}
        self.sources_sent = 0

    def append(self, text: str) -> None:
        self.md.append(text)
        self.chars += len(text)
        self.pending = True
        self.dirty = True

    def cite(self, citations: list[Any]) -> None:
        """A text block with citations ended: mark it with superscript source numbers."""
        numbers = []
        for c in citations:
            title, where = citation_source(c)
            key = where or title
            if key not in self._source_index:
                self.sources.append((title, where))
                self._source_index[key] = len(self.sources)
            n = self._source_index[key]
            if n not in numbers:
                numbers.append(n)
        if numbers:
            self.append(" " + "˒".join(str(n).translate(SUPERSCRIPT) for n in numbers))

    def render(self) -> None:
        if not self.pending:
            return
        self.pending = False
        frame = self.md.render()
        if frame.frozen:
            self.frozen.append(frame.frozen)
            self.unsent.append(frame.frozen)
        self.tail = frame.tail

    def finish(self, t: float, cut: bool = False) -> None:
        if self.finished:
            return
        self.finished = True
        frame = self.md.finish(cut)
        if getattr(frame, "replace", False):
            # A construct that needs the whole text (e.g. a reference link defined after
            # its use): the authoritative one-shot render replaces the incremental one.
            self.frozen = [frame.frozen]
            self.unsent = []
            self.replaced = True
        elif frame.frozen:
            self.frozen.append(frame.frozen)
            self.unsent.append(frame.frozen)
        self.tail = ""
        self.dirty = True

    def body_html(self) -> str:
        return "".join(self.frozen) + self.tail

    def html(self, live: bool = False) -> str:
        if live:
            return self.live_html()
        self.render()
        return self._wrap(None, self.body_html())

    def live_html(self) -> str:
        """First show: the finished blocks and an empty tail; the tail follows as a ``tail``
        op, so the browser always knows the tail string that later diffs apply to."""
        self.render()
        self.unsent.clear()
        self.sent_tail = ""
        self.sources_sent = len(self.sources)
        return self._live_body("")

    def checkpoint_html(self) -> str:
        return self._live_body(self.sent_tail)

    def _live_body(self, tail: str) -> str:
        pid = self.pid
        body = f"<div{part(pid, 'f')}>{''.join(self.frozen)}</div><div{part(pid, 't')}>{tail}</div>"
        return self._wrap(pid, body)

    def _wrap(self, pid: str | None, body: str) -> str:
        return (
            f'<div class="cnb-text"{part(pid, "root")}>{body}'
            f"<div{part(pid, 'src')}>{self._sources_html()}</div></div>"
        )

    def ops(self) -> list[Op]:
        self.dirty = False
        if self.replaced:
            self.replaced = False
            self.sent_tail = ""
            return [["set", f"{self.pid}.f", "".join(self.frozen)], ["set", f"{self.pid}.t", ""]]
        self.render()
        out: list[Op] = []
        if self.unsent:
            frozen = "".join(self.unsent)
            self.unsent.clear()
            if self.sent_tail.startswith(frozen):
                # Usually the finished blocks are already on screen, as the start of the
                # tail: move them instead of sending them again.
                out.append(["freeze", f"{self.pid}.t", f"{self.pid}.f", js_len(frozen)])
                self.sent_tail = self.sent_tail[len(frozen) :]
            else:
                out.append(["add", f"{self.pid}.f", frozen])
        if self.tail != self.sent_tail:
            keep = common_prefix_len(self.sent_tail, self.tail)
            out.append(["tail", f"{self.pid}.t", js_len(self.tail[:keep]), self.tail[keep:]])
            self.sent_tail = self.tail
        if len(self.sources) > self.sources_sent:
            out.append(["set", f"{self.pid}.src", self._sources_html()])
            self.sources_sent = len(self.sources)
        return out

    def _sources_html(self) -> str:
        if not self.sources:
            return ""
        items = []
        for title, where in self.sources:
            if where.startswith(("https://", "http://")):
                link = (
                    f'<a href="{esc(where)}" target="_blank" rel="noopener noreferrer nofollow">'
                    f"{esc(title or where)}</a>"
                )
            else:
                link = esc(title) + (
                    f" <span style='color: {MUTED}'>({esc(where)})</span>" if where else ""
                )
            items.append(f"<li>{link}</li>")
        return (
            f'<div class="cnb-sources" style="font-size: 12px; color: {MUTED}; margin-top: 4px;">'
            f"Sources<ol style='margin: 2px 0; padding-left: 22px;'>{''.join(items)}</ol></div>"
        )

    def markdown(self) -> str:
        text = self.md.text
        if self.sources:
            refs = "\n".join(
                f"{n}. [{title or where}]({where})"
                if where.startswith("http")
                else f"{n}. {title} {where}"
                for n, (title, where) in enumerate(self.sources, 1)
            )
            text += "\n\n**Sources**\n\n" + refs
        # While it streams (a display view re-sends the bundle), plain escaped text is
        # enough and costs little; the saved copy is the inert markdown.
        return inert_markdown(text) if self.finished else markdown_text(text)

    def plain(self) -> str:
        text = self.md.text
        if self.sources:
            text += "\n\nSources:\n" + "\n".join(
                f"  [{n}] {title} {where}".rstrip()
                for n, (title, where) in enumerate(self.sources, 1)
            )
        return plain_text(text)


class ThinkingPanel(Segment):
    """Extended thinking: streams while open, then collapses to its duration and size."""

    kind = "thinking"

    def __init__(self, pid: str, block: BlockState, redacted: bool) -> None:
        super().__init__(pid)
        self.block = block
        self.redacted = redacted
        self.pieces: list[str] = []
        self.unsent: list[str] = []
        self.closed = redacted
        self.sent_summary = ""
        self.sent_open = True

    def append(self, text: str) -> None:
        self.pieces.append(text)
        self.unsent.append(text)
        self.dirty = True

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    def summary(self) -> str:
        if self.redacted:
            return "🔒 Redacted thinking <span style='opacity: .8'>(encrypted by the API; sent back unchanged)</span>"
        b = self.block
        if b.stopped is None:
            return f"💭 Thinking… <span style='opacity: .8'>{fmt_int(b.chars)} chars</span>"
        return (
            f"💭 Thought for {fmt_secs(b.stopped - b.started)}"
            f" <span style='opacity: .8'>· {fmt_int(b.chars)} chars</span>"
        )

    def stop(self) -> None:
        self.closed = True
        self.dirty = True

    def finish(self, t: float) -> None:
        self.closed = True
        self.dirty = True

    def html(self, live: bool = False) -> str:
        pid = self.pid if live else None
        if live:
            self.unsent.clear()
            self.sent_summary = self.summary()
            self.sent_open = not self.closed
        if self.redacted:
            body = (
                f"<div style='font-size: 12px; color: {MUTED}; padding: 4px 0;'>"
                "Claude's reasoning for this step was redacted by safety systems. "
                "It is kept, encrypted, in the message so later turns stay valid.</div>"
            )
        else:
            body = (
                f'<div{part(pid, "body")} style="white-space: pre-wrap; font-size: 13px;'
                f' color: {MUTED}; padding: 2px 0 6px 0; max-height: 480px; overflow: auto;">'
                f"{esc(self.text)}</div>"
            )
        inner = details(
            pid=pid,
            accent=ACCENT["thinking"],
            summary=self.summary(),
            body=body,
            open_=live and not self.closed,
            kind="thinking",
        )
        return f"<div{part(pid, 'root')}>{inner}</div>"

    def ops(self) -> list[Op]:
        self.dirty = False
        out: list[Op] = []
        if self.unsent:
            out.append(["text", f"{self.pid}.body", "".join(self.unsent)])
            self.unsent.clear()
        summary = self.summary()
        if summary != self.sent_summary:
            out.append(["set", f"{self.pid}.sum", summary])
            self.sent_summary = summary
        if self.closed and self.sent_open:
            out.append(["attr", f"{self.pid}.panel", "open", None])
            self.sent_open = False
        return out

    def markdown(self) -> str:
        if self.redacted:
            return "> 🔒 *Redacted thinking*"
        return (
            "<details><summary>💭 Thinking</summary>\n\n"
            + quote(inert_markdown(self.text) if self.closed else markdown_text(self.text))
            + "\n\n</details>"
        )

    def plain(self) -> str:
        if self.redacted:
            return "[redacted thinking]"
        return plain_text("[thinking]\n" + indent(self.text) + "\n[/thinking]")


class ToolPanel(Segment):
    """A tool call: name, input JSON as it streams (pretty once complete), then its result."""

    kind = "tool"

    def __init__(self, pid: str, block: BlockState, content: Any) -> None:
        super().__init__(pid)
        self.block = block
        self.content = content  # the SDK's block object (live snapshot)
        self.server = block.type != "tool_use"
        self.unsent_json: list[str] = []
        self.input_final = False
        self.run: ToolRun | None = None
        self.result: Any = None  # a server/MCP *_tool_result block
        self.sent_summary = ""
        self.sent_input_final = False
        self.sent_result = ""

    @property
    def name(self) -> str:
        return str(getattr(self.content, "name", None) or self.block.type)

    @property
    def tool_use_id(self) -> str:
        return str(getattr(self.content, "id", "") or "")

    def append_json(self, piece: str) -> None:
        self.unsent_json.append(piece)
        self.dirty = True

    def stop(self) -> None:
        self.input_final = True
        self.dirty = True

    def finish(self, t: float) -> None:
        self.input_final = True
        self.dirty = True

    def input_value(self) -> Any:
        value = getattr(self.content, "input", None)
        raw = self.block.json_text
        if raw:
            try:
                return json.loads(raw)
            except ValueError:
                return value if value else raw
        return value if value is not None else {}

    def input_text(self) -> str:
        if not self.input_final:
            return self.block.json_text
        value = self.input_value()
        return value if isinstance(value, str) else pretty_json(value)

    def state_label(self) -> tuple[str, str]:
        """(text, colour) for the summary line."""
        run, result = self.run, self.result
        if run is not None:
            if run.status == "running":
                return "running…", ACCENT["tool"]
            if run.status in ("error", "unknown", "declined"):
                return {"declined": "declined", "unknown": "unknown tool"}.get(
                    run.status, "failed"
                ), ACCENT["error"]
            if run.status == "done":
                took = (
                    fmt_secs((run.ended or 0) - (run.started or 0))
                    if run.started is not None
                    else ""
                )
                return f"✓ {took}".strip(), ACCENT["ok"]
            return "waiting", MUTED
        if result is not None:
            return (
                ("error", ACCENT["error"])
                if result_is_error(result)
                else ("✓ result", ACCENT["ok"])
            )
        if not self.input_final:
            return "preparing input…", MUTED
        if self.server:
            return "running on the server…", MUTED
        return "requested", MUTED

    def summary(self) -> str:
        icon = {"server_tool_use": "🌐", "mcp_tool_use": "🔌"}.get(self.block.type, "🔧")
        text, color = self.state_label()
        server = getattr(self.content, "server_name", None)
        where = f" <span style='opacity: .7'>({esc(server)})</span>" if server else ""
        return (
            f"{icon} <b style='color: inherit'>{esc(self.name)}</b>{where}"
            f" <span style='color: {color}'>{esc(text)}</span>"
        )

    def result_html(self) -> str:
        if self.run is not None and self.run.status not in ("pending", "running"):
            color = ACCENT["error"] if self.run.is_error else None
            note = (
                f"<div style='font-size: 11px; color: {MUTED}'>{esc(self.run.note)}</div>"
                if self.run.note
                else ""
            )
            return label("Result") + pre(self.run.display, color=color) + note
        if self.run is not None and self.run.status == "running":
            return (
                f"<div style='font-size: 12px; color: {MUTED}'>⏳ running {esc(self.name)}…</div>"
            )
        if self.result is not None:
            return label("Result") + server_result_html(self.result)
        return ""

    def html(self, live: bool = False) -> str:
        pid = self.pid if live else None
        accent = ACCENT["server"] if self.server else ACCENT["tool"]
        body = (
            label("Input")
            + pre(self.input_text(), pid, "in")
            + f"<div{part(pid, 'out')}>{self.result_html()}</div>"
        )
        if live:
            self.unsent_json.clear()
            self.sent_summary = self.summary()
            self.sent_input_final = self.input_final
            self.sent_result = self.result_html()
        inner = details(
            pid=pid, accent=accent, summary=self.summary(), body=body, open_=live, kind="tool"
        )
        return f"<div{part(pid, 'root')}>{inner}</div>"

    def ops(self) -> list[Op]:
        self.dirty = False
        out: list[Op] = []
        if self.input_final and not self.sent_input_final:
            self.unsent_json.clear()
            out.append(["set", f"{self.pid}.in", esc(self.input_text())])
            self.sent_input_final = True
        elif self.unsent_json:
            out.append(["text", f"{self.pid}.in", "".join(self.unsent_json)])
            self.unsent_json.clear()
        summary = self.summary()
        if summary != self.sent_summary:
            out.append(["set", f"{self.pid}.sum", summary])
            self.sent_summary = summary
        result = self.result_html()
        if result != self.sent_result:
            out.append(["set", f"{self.pid}.out", result])
            self.sent_result = result
        return out

    def result_text(self) -> str:
        if self.run is not None and self.run.status not in ("pending", "running"):
            return self.run.display
        if self.result is not None:
            return server_result_text(self.result)
        return ""

    def markdown(self) -> str:
        result = self.result_text()
        out = f"<details><summary>🔧 {esc(self.name)}</summary>\n\n"
        out += code_fence(self.input_text(), "json") + "\n"
        if result:
            out += "\nResult:\n\n" + code_fence(result) + "\n"
        return out + "\n</details>"

    def plain(self) -> str:
        out = f"[tool {self.name}] {compact(self.input_text())}"
        result = self.result_text()
        if result:
            out += "\n  -> " + indent(result, "     ").lstrip()
        return plain_text(out)


class GenericPanel(Segment):
    """A block type this code does not know: its JSON, never a crash."""

    kind = "generic"

    def __init__(self, pid: str, block: BlockState, content: Any) -> None:
        super().__init__(pid)
        self.block = block
        self.content = content

    def payload(self) -> dict[str, Any]:
        data = as_dict(self.content)
        if self.block.unknown_deltas:
            data = {**data, "deltas": self.block.unknown_deltas}
        return data

    def html(self, live: bool = False) -> str:
        pid = self.pid if live else None
        inner = details(
            pid=pid,
            accent=ACCENT["generic"],
            summary=f"🧩 <b>{esc(self.block.type)}</b> <span style='opacity: .8'>block</span>",
            body=pre(pretty_json(self.payload())),
            open_=False,
            kind="generic",
        )
        return f"<div{part(pid, 'root')}>{inner}</div>"

    def markdown(self) -> str:
        fence = code_fence(pretty_json(self.payload()), "json")
        return f"<details><summary>{esc(self.block.type)}</summary>\n\n{fence}\n\n</details>"

    def plain(self) -> str:
        return plain_text(f"[{self.block.type}] {compact(pretty_json(self.payload()))}")


class Layout:
    """The ordered segments of a run, kept in step with the reducer's changes."""

    def __init__(self, state: RunState) -> None:
        self.state = state
        self.segments: list[Segment] = []
        self._by_block: dict[tuple[int, int], Segment] = {}
        self._tools: dict[str, ToolPanel] = {}
        self._last_text: MarkdownRun | None = None
        self.text_dirty = False  # some markdown run has unrendered text

    def _add(self, seg: Segment) -> Segment:
        self.segments.append(seg)
        return seg

    def _pid(self) -> str:
        return f"s{len(self.segments)}"

    def apply(self, change: Change) -> None:
        kind = change.kind
        if kind == "delta":
            seg = self._by_block.get((change.turn, change.index))
            if seg is None:
                return
            dtype, piece = change.payload
            if dtype == "text_delta" and isinstance(seg, MarkdownRun):
                seg.append(piece)
                self.text_dirty = True
            elif dtype == "thinking_delta" and isinstance(seg, ThinkingPanel):
                seg.append(piece)
            elif dtype == "input_json_delta" and isinstance(seg, ToolPanel):
                seg.append_json(piece)
            elif isinstance(seg, GenericPanel):
                seg.dirty = True
        elif kind == "block_start":
            self._start_block(change.turn, change.index, change.payload)
        elif kind == "block_stop":
            self._stop_block(change.turn, change.index, change.payload)
        elif kind == "tool":
            run: ToolRun = change.payload
            panel = self._tools.get(run.tool_use_id)
            if panel is not None:
                panel.run = run
                panel.dirty = True
        elif kind == "message":
            turn = self.state.turns[change.turn]
            # A message_start that already carried blocks: give them segments.
            for b in turn.blocks:
                if (change.turn, b.index) not in self._by_block:
                    self._start_block(change.turn, b.index, b.type)
                    self._stop_block(change.turn, b.index, "")
        elif kind == "turn":
            self._last_text = None
        elif kind == "end":
            cut = self._cut_text()
            for seg in self.segments:
                if seg is cut:
                    cut.finish(self.state.elapsed, cut=True)
                else:
                    seg.finish(self.state.elapsed)
        elif kind == "status":
            pass  # the header shows it; no segment changes
        else:
            assert_never(kind)

    def _cut_text(self) -> MarkdownRun | None:
        """The text run the answer was cut off in (the message never completed, or it
        hit max_tokens): it ends with the live view's repair, not half-typed markup."""
        turn = self.state.turns[-1] if self.state.turns else None
        if turn is None or not turn.blocks:
            return None
        seg = self._by_block.get((len(self.state.turns) - 1, turn.blocks[-1].index))
        if isinstance(seg, MarkdownRun) and (
            not turn.complete or self.state.stop_reason in CUT_OFF_STOPS
        ):
            return seg
        return None

    def _content(self, turn: int, index: int) -> Any:
        message = self.state.turns[turn].message
        try:
            return message.content[index]
        except (AttributeError, IndexError, TypeError):
            return None

    def _start_block(self, turn: int, index: int, btype: str) -> None:
        block = self.state.turns[turn].blocks[index]
        content = self._content(turn, index)
        seg: Segment
        if btype == "text":
            if (
                self._last_text is not None
                and self.segments
                and self.segments[-1] is self._last_text
            ):
                seg = self._last_text
            else:
                seg = self._last_text = MarkdownRun(self._pid())
                self._add(seg)
            text = getattr(content, "text", "") or ""
            if text:  # a text block can start with text already in it
                seg.append(text)  # type: ignore[attr-defined]
                self.text_dirty = True
            self._by_block[(turn, index)] = seg
            return
        self._last_text = None
        if btype in THINKING_BLOCKS:
            seg = ThinkingPanel(self._pid(), block, redacted=btype == "redacted_thinking")
            text = getattr(content, "thinking", "") or ""
            if text:
                seg.append(text)  # type: ignore[attr-defined]
        elif btype in TOOL_BLOCKS:
            seg = ToolPanel(self._pid(), block, content)
            self._tools[seg.tool_use_id] = seg
        elif (
            btype.endswith("_tool_result") and getattr(content, "tool_use_id", None) in self._tools
        ):
            panel = self._tools[content.tool_use_id]
            panel.result = content
            panel.dirty = True
            self._by_block[(turn, index)] = panel
            return
        else:
            seg = GenericPanel(self._pid(), block, content)
        self._add(seg)
        self._by_block[(turn, index)] = seg

    def _stop_block(self, turn: int, index: int, ending: str) -> None:
        seg = self._by_block.get((turn, index))
        if seg is None:
            return
        if ending and isinstance(seg, (MarkdownRun, ThinkingPanel)):
            seg.append(ending)  # text the block ends with that no delta carried
        content = self._content(turn, index)
        if isinstance(seg, MarkdownRun):
            citations = getattr(content, "citations", None)
            if citations:
                seg.cite(citations)
                self.text_dirty = True
        elif isinstance(seg, (ThinkingPanel, ToolPanel)):
            seg.stop()
        else:
            seg.dirty = True

    # Whole-document renderings for the static output -------------------------------

    def html(self) -> str:
        return "".join(seg.html() for seg in self.segments)

    def markdown(self) -> str:
        return "\n\n".join(s for s in (seg.markdown() for seg in self.segments) if s)

    def plain(self) -> str:
        return "\n\n".join(s for s in (seg.plain() for seg in self.segments) if s)

    def text(self) -> str:
        return "".join(seg.md.text for seg in self.segments if isinstance(seg, MarkdownRun))

    def text_chars(self) -> int:
        """Characters of answer text so far, in O(segments): the painter's size signal."""
        return sum(seg.chars for seg in self.segments if isinstance(seg, MarkdownRun))


# Helpers ------------------------------------------------------------------------------


def citation_source(c: Any) -> tuple[str, str]:
    """(title, where) for any citation type: a URL, a document/page, or a search result."""
    get = c.get if isinstance(c, dict) else lambda k, d=None: getattr(c, k, d)
    url = get("url")
    if url:
        return str(get("title") or url), str(url)
    source = get("source")
    if source:
        return str(get("title") or source), str(source)
    title = get("document_title") or f"document {get('document_index', '?')}"
    if get("start_page_number") is not None:
        return str(title), f"p. {get('start_page_number')}"
    return str(title), ""


def result_is_error(block: Any) -> bool:
    content = getattr(block, "content", None)
    ctype = getattr(content, "type", "") if content is not None else ""
    if isinstance(content, dict):
        ctype = content.get("type", "")
    return bool(getattr(block, "is_error", False)) or str(ctype).endswith("error")


def server_result_html(block: Any) -> str:
    """Web search results as titled links; anything else as JSON (errors in red)."""
    content = getattr(block, "content", None)
    if (
        isinstance(content, list)
        and content
        and all(getattr(r, "type", None) == "web_search_result" for r in content)
    ):
        items = []
        for r in content:
            age = (
                f" <span style='color: {MUTED}'>· {esc(r.page_age)}</span>"
                if getattr(r, "page_age", None)
                else ""
            )
            url = str(getattr(r, "url", ""))
            href = esc(url) if url.startswith(("https://", "http://")) else ""
            title = esc(getattr(r, "title", "") or url)
            link = (
                f'<a href="{href}" target="_blank" rel="noopener noreferrer nofollow">{title}</a>'
                if href
                else title
            )
            items.append(
                f"<li>{link}{age}<br><span style='font-size: 11px; color: {MUTED}'>{esc(url)}</span></li>"
            )
        return (
            f"<ol style='margin: 4px 0; padding-left: 22px; font-size: 13px;'>{''.join(items)}</ol>"
        )
    color = ACCENT["error"] if result_is_error(block) else None
    return pre(truncate(pretty_json(as_dict(block).get("content", as_dict(block)))), color=color)


def server_result_text(block: Any) -> str:
    content = getattr(block, "content", None)
    if (
        isinstance(content, list)
        and content
        and getattr(content[0], "type", None) == "web_search_result"
    ):
        return "\n".join(f"{getattr(r, 'title', '')} <{getattr(r, 'url', '')}>" for r in content)
    return truncate(pretty_json(as_dict(block).get("content", as_dict(block))))


def truncate(text: str, limit: int = RESULT_DISPLAY_LIMIT) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n… ({len(text) - limit:,} more characters)"


def compact(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def indent(text: str, prefix: str = "  ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())
