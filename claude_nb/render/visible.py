"""What a reader sees of rendered HTML: its text, without tags, entities or math delimiters.

The stepper shows it as an event's effect; :mod:`claude_nb.testing.flicker` measures
flicker with it.
"""

from __future__ import annotations

import html
import re

__all__ = ["SPACE", "raw_visible", "visible_text"]

_MATH = re.compile(
    r'(<(span|div) class="cnb-math[^"]*">)\\[(\[]([^<]*)\\[)\]](</\2>)',
)
# Block-level tags separate words (a code block's language label from its code);
# inline tags do not ("<strong>a</strong>b" reads "ab").
_BLOCK_TAG = re.compile(
    r"</?(?:address|blockquote|br|dd|details|div|dl|dt|figure|h[1-6]|hr|li|ol|p|pre|"
    r"summary|table|tbody|td|tfoot|th|thead|tr|ul)\b[^>]*>",
    re.IGNORECASE,
)
_TAG = re.compile(r"<[^>]*>")
SPACE = re.compile(r"\s+")


def raw_visible(fragment: str) -> str:
    """Visible text before whitespace is collapsed (so fragments can be joined)."""
    fragment = _MATH.sub(r"\3", fragment)
    return html.unescape(_TAG.sub("", _BLOCK_TAG.sub(" ", fragment)))


def visible_text(fragment: str) -> str:
    """Tags stripped, entities decoded, math delimiters dropped, whitespace collapsed."""
    return SPACE.sub(" ", raw_visible(fragment)).strip()
