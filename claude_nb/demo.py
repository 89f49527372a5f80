"""``claude-nb demo``: the real ``%%claude`` magic in a real IPython shell, streaming from the
offline server to this terminal. No API key, no browser: a first look in one command."""

from __future__ import annotations

import textwrap

CELLS = [
    ("A markdown answer", "%%claude\nHow do I find outliers in a sales table?"),
    (
        "Extended thinking",
        "%%claude --thinking adaptive\nMean or median for a skewed income column?",
    ),
    (
        "Your Python function as a tool",
        "%%claude --tools total_sales\nWhat were total sales in the north region?",
    ),
    ("Server-side web search with citations", "%%claude --web-search\nWhat changed in pandas 3.0?"),
]

SETUP = '''
from typing import Literal

def total_sales(region: Literal["north", "south", "east", "west"]) -> float:
    """Total sales of a region, in euros.

    Args:
        region: north, south, east or west
    """
    return {"north": 1250.5, "south": 980.0, "east": 1104.25, "west": 870.75}[region]
'''


def run_demo(speed: float = 1.0) -> int:
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_cell("%load_ext claude_nb", store_history=False)
    shell.run_cell("%config Claude.view = 'plain'", store_history=False)
    shell.run_cell(f"%claude offline --speed {speed}", store_history=False)
    shell.run_cell(SETUP, store_history=False)
    for title, source in CELLS:
        print(f"\n\x1b[1m━━ {title} ━━\x1b[0m")
        print(textwrap.indent(source, "  In: "), "\n")
        result = shell.run_cell(source, store_history=False)
        if not result.success:
            return 1
        r = shell.user_ns["_claude"]
        ttft = f"{r.ttft:.2f} s" if r.ttft is not None else "–"
        print(
            f"\x1b[2m  _claude: {r.status}, {len(r.text):,} chars, TTFT {ttft}, {r.duration:.2f} s\x1b[0m"
        )
    print("\nNext: open notebooks/quickstart.ipynb in JupyterLab for the live view.")
    return 0
