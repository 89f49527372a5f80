"""Deterministic, realistic LLM-style markdown answers for benchmarks, tests and demos.

The renderer has to be judged on what a model actually writes: headings, dense inline
markup, lists (tight, loose, nested, with code inside), GFM tables, fenced code in several
languages, math next to prices ("$5 and $10"), block quotes, emoji and CJK. Everything
is drawn from a seeded ``random.Random`` so the same ``(n_bytes, seed)`` always gives the
same text.
"""

from __future__ import annotations

import random
from collections.abc import Callable

__all__ = ["llm_markdown"]

_TOPICS = [
    "connection pooling",
    "query planning",
    "incremental rendering",
    "cache invalidation",
    "rate limiting",
    "vector indexes",
    "schema migrations",
    "async I/O",
    "memory profiling",
    "feature flags",
]
_NOUNS = [
    "the planner",
    "each worker",
    "the request handler",
    "a background thread",
    "the scheduler",
    "your notebook",
    "the client",
    "the index",
    "this function",
    "the server",
]
_VERBS = [
    "reuses",
    "invalidates",
    "streams",
    "batches",
    "serialises",
    "retries",
    "caches",
    "validates",
    "rewrites",
    "prefetches",
]
_OBJECTS = [
    "every pending row",
    "the hot path",
    "idle connections",
    "the parsed tokens",
    "stale entries",
    "the whole response",
    "large payloads",
    "each partial result",
    "the query plan",
    "open file handles",
]
_TAILS = [
    "before the timeout fires",
    "without blocking the event loop",
    "so latency stays flat",
    "when the queue is full",
    "at most once per second",
    "under heavy load",
    "in O(n) time",
    "as soon as the lock is released",
]
_IDENTS = [
    "fetch_rows",
    "max_workers",
    "pool.acquire()",
    "EXPLAIN ANALYZE",
    "asyncio.gather",
    "lru_cache",
    "__init__",
    "SELECT *",
    "df.groupby('user_id')",
    "Array.prototype.map",
]
_URLS = [
    "https://docs.python.org/3/library/asyncio.html",
    "https://www.postgresql.org/docs/current/using-explain.html",
    "https://developer.mozilla.org/en-US/docs/Web/JavaScript",
    "https://github.com/executablebooks/markdown-it-py",
    "https://en.wikipedia.org/wiki/Big_O_notation",
    "https://pandas.pydata.org/docs/user_guide/groupby.html",
]
_LINK_TEXTS = [
    "the official docs",
    "this guide",
    "the reference",
    "the changelog",
    "this issue",
    "the tutorial",
]
_EXTRAS = [
    "🚀",
    "✅",
    "⚠️",
    "naïve café",
    "日本語のテキスト",
    "数据库连接池",
    "Grüße",
    "≈ 3×",
    "→",
    "😀",
]
_MATH_INLINE = [
    "$x^2$",
    "$O(n \\log n)$",
    "$\\alpha + \\beta = \\gamma$",
    "\\(\\sum_{i=1}^{n} i\\)",
    "$p < 0.05$",
    "$e^{i\\pi} + 1 = 0$",
    "\\(\\frac{a}{b}\\)",
]
_MATH_DISPLAY = [
    "\\sum_{i=1}^{n} i = \\frac{n(n+1)}{2}",
    "\\mathbb{E}[X] = \\int_{-\\infty}^{\\infty} x f(x)\\, dx",
    "T(n) = 2T\\left(\\frac{n}{2}\\right) + O(n)",
    "\\hat{\\beta} = (X^\\top X)^{-1} X^\\top y",
]

_PYTHON = '''import asyncio
from dataclasses import dataclass


@dataclass
class Pool:
    """A tiny connection pool: reuse sockets instead of reconnecting."""

    size: int = 10
    timeout: float = 5.0

    async def acquire(self) -> "Connection":
        async with self._lock:
            if self._idle:
                return self._idle.pop()
            return await self._connect(timeout=self.timeout)


def fetch_rows(query: str, *, limit: int = 100) -> list[dict]:
    rows = []
    for i, row in enumerate(run(query)):
        if i >= limit:
            break
        rows.append({"id": row[0], "name": row[1]})  # keep it small
    return rows
'''.splitlines()

_SQL = """-- Find the slowest endpoints over the last day
SELECT endpoint,
       count(*)                       AS calls,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95
FROM   requests
WHERE  created_at > now() - interval '1 day'
  AND  status < 500
GROUP  BY endpoint
HAVING count(*) > 100
ORDER  BY p95 DESC
LIMIT  20;""".splitlines()

_JS = """// Debounce a function so it runs at most once per `wait` ms
export function debounce(fn, wait = 50) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn.apply(this, args), wait);
  };
}

const render = debounce((html) => {
  document.querySelector("#out").innerHTML = html;
}, 100);""".splitlines()

_BASH = """#!/usr/bin/env bash
set -euo pipefail
python -m venv .venv && source .venv/bin/activate
pip install -e ".[test]"
for f in tests/*.py; do
  echo "running $f"
  pytest -q "$f" || exit 1
done
curl -s https://example.com/health | jq '.status'""".splitlines()

_JSON = """{
  "model": "claude-sonnet",
  "max_tokens": 1024,
  "stream": true,
  "messages": [
    {"role": "user", "content": "Explain connection pooling"}
  ],
  "metadata": {"user_id": "u-123", "tags": ["demo", "docs"], "price": 5.0}
}""".splitlines()

_CODE = {
    "python": _PYTHON,
    "sql": _SQL,
    "javascript": _JS,
    "bash": _BASH,
    "json": _JSON,
}


class _Writer:
    """Builds one answer block by block from a seeded RNG."""

    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)

    def pick(self, items: list[str]) -> str:
        return self.r.choice(items)

    def sentence(self) -> str:
        r = self.r
        words = [
            self.pick(_NOUNS).capitalize(),
            self.pick(_VERBS),
            self.pick(_OBJECTS),
            self.pick(_TAILS),
        ]
        roll = r.random()
        if roll < 0.15:
            words[2] = f"**{words[2]}**"
        elif roll < 0.27:
            words[2] = f"*{words[2]}*"
        elif roll < 0.32:
            words[2] = f"_{words[2]}_"
        elif roll < 0.35:
            words[2] = f"~~{words[2]}~~"
        if r.random() < 0.35:
            words.insert(2, f"`{self.pick(_IDENTS)}` and")
        if r.random() < 0.12:
            words.append(f"(see [{self.pick(_LINK_TEXTS)}]({self.pick(_URLS)}))")
        elif r.random() < 0.06:
            words.append(f"— details at {self.pick(_URLS)}")
        if r.random() < 0.08:
            words.append(f"where {self.pick(_MATH_INLINE)}")
        if r.random() < 0.05:
            words.append(self.pick(_EXTRAS))
        if r.random() < 0.03:
            words.append("— it costs $5 and $10 per month")
        return " ".join(words) + self.pick([".", ".", ".", "!", ":", "."])

    def paragraph(self) -> str:
        n = self.r.randint(2, 6)
        text = " ".join(self.sentence() for _ in range(n))
        if self.r.random() < 0.1:
            text = f"**{self.pick(['Note', 'Tip', 'Why', 'In short'])}:** " + text
        return text

    def heading(self) -> str:
        level = self.r.choice(["##", "##", "###", "####"])
        emoji = f" {self.pick(_EXTRAS)}" if self.r.random() < 0.15 else ""
        return f"{level} {self.r.randint(1, 9)}. {self.pick(_TOPICS).title()}{emoji}"

    def bullet_list(self) -> str:
        r = self.r
        ordered = r.random() < 0.4
        loose = r.random() < 0.15
        task = not ordered and r.random() < 0.1
        items = []
        for i in range(r.randint(2, 7)):
            marker = f"{i + 1}." if ordered else "-"
            if task:
                marker += " [x]" if r.random() < 0.5 else " [ ]"
            body = self.sentence()
            if r.random() < 0.3:
                body = f"**{self.pick(_TOPICS).capitalize()}** — {body}"
            item = f"{marker} {body}"
            pad = " " * (len(f"{i + 1}.") + 1 if ordered else 2)
            if r.random() < 0.2:
                subs = [f"{pad}- {self.sentence()}" for _ in range(r.randint(1, 3))]
                item += "\n" + "\n".join(subs)
            if ordered and r.random() < 0.1:
                lang = self.pick(list(_CODE))
                code = "\n".join(pad + line if line else "" for line in self.code_lines(lang, 6))
                item += f"\n\n{pad}```{lang}\n{code}\n{pad}```"
                loose = True
            items.append(item)
        return ("\n\n" if loose else "\n").join(items)

    def code_lines(self, lang: str, max_lines: int) -> list[str]:
        lines = _CODE[lang]
        start = self.r.randrange(0, max(1, len(lines) - 3))
        return lines[start : start + self.r.randint(3, max_lines)]

    def code_block(self) -> str:
        lang = self.pick(list(_CODE))
        lines = self.code_lines(lang, 30)
        fence = "~~~" if self.r.random() < 0.08 else "```"
        return f"{fence}{lang}\n" + "\n".join(lines) + f"\n{fence}"

    def table(self) -> str:
        r = self.r
        cols = r.randint(2, 4)
        header = ["Option", "Default", "Effect", "Cost"][:cols]
        align = ["---", ":---:", "---:", ":---"]
        rows = [
            "| " + " | ".join(header) + " |",
            "|" + "|".join(r.choice(align) for _ in range(cols)) + "|",
        ]
        for _ in range(r.randint(2, 6)):
            cells = [
                f"`{self.pick(_IDENTS)}`",
                str(r.choice([0, 1, 10, 100, "None", "`True`"])),
                self.pick(_TAILS),
                r.choice(["$5", "**high**", "low", "≈ 2 ms", "$O(n)$", "—"]),
            ][:cols]
            rows.append("| " + " | ".join(cells) + " |")
        return "\n".join(rows)

    def math_block(self) -> str:
        tex = self.pick(_MATH_DISPLAY)
        if self.r.random() < 0.5:
            return f"$$\n{tex}\n$$"
        if self.r.random() < 0.5:
            return f"$${tex}$$"
        return f"\\[\n{tex}\n\\]"

    def quote(self) -> str:
        lines = [f"> **{self.pick(['Note', 'Warning', 'Tip'])}:** {self.sentence()}"]
        if self.r.random() < 0.5:
            lines.append(f"> {self.sentence()}")
        return "\n".join(lines)

    def block(self) -> str:
        kinds: list[tuple[float, Callable[[], str]]] = [
            (0.34, self.paragraph),
            (0.12, self.heading),
            (0.17, self.bullet_list),
            (0.15, self.code_block),
            (0.08, self.table),
            (0.05, self.math_block),
            (0.06, self.quote),
            (0.03, lambda: "---"),
        ]
        roll = self.r.random() * sum(w for w, _ in kinds)
        for weight, make in kinds:
            roll -= weight
            if roll < 0:
                return make()
        return self.paragraph()


def llm_markdown(n_bytes: int, seed: int = 0) -> str:
    """An answer of about ``n_bytes`` UTF-8 bytes (never less, ending at a block end).

    The answer opens with a short paragraph, as models do, and then mixes every block
    type; a paragraph is followed directly by a list or a code block now and then (no
    blank line), which is what makes block splitting interesting.
    """
    w = _Writer(seed)
    blocks = [w.paragraph()]
    size = len(blocks[0].encode())
    while size < n_bytes:
        block = w.block()
        sep = "\n" if blocks[-1][-1] == ":" and block[:1] in "-1`" else "\n\n"
        blocks.append(sep + block)
        size += len(blocks[-1].encode())
    return "".join(blocks) + "\n"
