"""Driving a real Jupyter kernel with jupyter_client, and replaying the live widget's patches."""

from __future__ import annotations

import contextlib
import html.parser
import json
import queue
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from jupyter_client.manager import start_new_kernel


@dataclass
class Execution:
    reply: dict[str, Any]
    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> str:
        return self.reply["content"]["status"]

    def of_type(self, *types: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["msg_type"] in types]

    def stream_text(self) -> str:
        return "".join(m["content"]["text"] for m in self.of_type("stream"))

    def errors(self) -> list[dict[str, Any]]:
        return [m["content"] for m in self.of_type("error")]


def execute(kc: Any, code: str, timeout: float = 60, on_message: Any = None) -> Execution:
    """Run ``code`` and collect every IOPub message of it until the kernel is idle again."""
    msg_id = kc.execute(code)
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"kernel did not finish: {code[:60]!r}")
        try:
            msg = kc.get_iopub_msg(timeout=min(remaining, 1))
        except queue.Empty:
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        messages.append(msg)
        if on_message is not None:
            on_message(msg)
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    reply = kc.get_shell_msg(timeout=timeout)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kc.get_shell_msg(timeout=timeout)
    return Execution(reply, messages)


@contextlib.contextmanager
def offline_kernel(speed: float) -> Iterator[tuple[Any, Any]]:
    """A fresh IPython kernel with claude_nb loaded, answering from the offline server."""
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        ex = execute(kc, f"%load_ext claude_nb\n%claude offline --speed {speed:g}")
        assert ex.status == "ok", ex.errors()
        yield km, kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def value(kc: Any, expr: str) -> Any:
    """Evaluate ``expr`` in the kernel and return it (JSON round trip)."""
    ex = execute(kc, f"import json as _j; print(_j.dumps({expr}))")
    assert ex.status == "ok", ex.errors()
    return json.loads(ex.stream_text().strip().splitlines()[-1])


def message_bytes(msg: dict[str, Any]) -> int:
    """Size of a message as the kernel serialises it (header, parent, metadata, content)."""
    parts = (msg["header"], msg["parent_header"], msg["metadata"], msg["content"])
    return sum(len(json.dumps(p, default=str)) for p in parts) + sum(
        len(b) for b in msg.get("buffers", [])
    )


# A minimal DOM, to apply the live widget's patch ops the way its JavaScript does --------


class Node:
    def __init__(
        self, tag: str | None, attrs: dict[str, str] | None = None, text: str = ""
    ) -> None:
        self.tag, self.attrs, self.text = tag, attrs or {}, text
        self.children: list[Node] = []

    def find(self, key: str) -> Node | None:
        if self.attrs.get("data-cnb") == key:
            return self
        for child in self.children:
            hit = child.find(key)
            if hit is not None:
                return hit
        return None

    def visible(self) -> str:
        if self.tag is None:
            return self.text
        return "".join(c.visible() for c in self.children)


VOID = {"br", "hr", "img", "input", "meta", "link", "wbr", "col", "area", "source"}


class _Builder(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("root")
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data):
        self.stack[-1].children.append(Node(None, text=data))


def parse(html_text: str) -> list[Node]:
    b = _Builder()
    b.feed(html_text)
    b.close()
    return b.root.children


def js_slice(text: str, start: int, end: int | None = None) -> str:
    """``text.slice(start, end)`` as JavaScript does it: in UTF-16 code units."""
    units = text.encode("utf-16-le")
    return units[2 * start : None if end is None else 2 * end].decode("utf-16-le")


class LiveDom:
    """Applies the widget's checkpoint and patch ops exactly as widget.py's JavaScript does."""

    def __init__(self) -> None:
        self.root = Node("div")
        self.tails: dict[str, str] = {}
        self.applied = -1

    def checkpoint(self, raw: str) -> None:
        if not raw:
            return
        cp = json.loads(raw)
        if cp["seq"] <= self.applied:
            return
        self.root.children = parse(cp["html"])
        self.tails = dict(cp["tails"])
        self.applied = cp["seq"]

    def message(self, msg: dict[str, Any]) -> None:
        assert msg["seq"] == self.applied + 1, "patches arrive in order, none missing"
        for op in msg["ops"]:
            self.apply(op)
        self.applied = msg["seq"]

    def apply(self, op: list[Any]) -> None:
        kind = op[0]
        if kind == "clock":
            return
        target = self.root if op[1] == "root" else self.root.find(op[1])
        assert target is not None, f"patch for a missing part {op[1]!r}"
        if kind == "add":
            target.children.extend(parse(op[2]))
        elif kind == "freeze":
            html_text = self.tails.get(op[1], "")
            frozen = self.root.find(op[2])
            assert frozen is not None, f"freeze into a missing part {op[2]!r}"
            frozen.children.extend(parse(js_slice(html_text, 0, op[3])))
            self.tails[op[1]] = js_slice(html_text, op[3])
            target.children = parse(self.tails[op[1]])
        elif kind == "set":
            target.children = parse(op[2])
        elif kind == "tail":
            html_text = js_slice(self.tails.get(op[1], ""), 0, op[2]) + op[3]
            self.tails[op[1]] = html_text
            target.children = parse(html_text)
        elif kind == "text":
            target.children.append(Node(None, text=op[2]))
        elif kind == "attr":
            if op[3] is None:
                target.attrs.pop(op[2], None)
            else:
                target.attrs[op[2]] = op[3]

    def visible(self) -> str:
        return self.root.visible()


def replay_widget(ex: Execution, payload_only: bool = False) -> tuple[LiveDom, list[int]]:
    """Rebuild the live view from an execution's comm traffic; also the bytes of each message
    (whole messages, or with ``payload_only`` just the widget data without Jupyter's envelope)."""
    dom = LiveDom()
    sizes = []
    comm_id = None
    for msg in ex.of_type("comm_open", "comm_msg"):
        data = msg["content"]["data"]
        state = data.get("state", {})
        if msg["msg_type"] == "comm_open" and state.get("_model_name") == "AnyModel":
            comm_id = msg["content"]["comm_id"]
        if msg["content"]["comm_id"] != comm_id:
            continue
        sizes.append(len(json.dumps(data)) if payload_only else message_bytes(msg))
        if "checkpoint" in state:
            dom.checkpoint(state["checkpoint"])
        if data.get("method") == "custom":
            dom.message(data["content"])
    return dom, sizes
