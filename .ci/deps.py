"""Constraints for the three dependency sets the suite runs against.

    python .ci/deps.py lock     # print the checked-in lock (what CI installs)
    python .ci/deps.py lowest   # print `name==lower` for every declared lower bound
    python .ci/deps.py freeze VENV  # write requirements-lock.txt from VENV's packages

``latest`` needs no file: ``.ci/test`` installs without constraints, with ``--upgrade``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements-lock.txt"
HEADER = """\
# Every package CI installs, pinned: `.ci/test` runs `pip install -c requirements-lock.txt`,
# so an upstream release cannot change a submission's test run. Regenerate with
# `CLAUDE_NB_DEPS=latest .ci/test` (suite green on the newest releases), then
# `python .ci/deps.py freeze .venv-latest`. Python 3.11 (CI's Python); see README "Dependencies".
"""


def declared() -> list[str]:
    """Runtime and test requirements from pyproject.toml (no TOML parser needed on 3.10)."""
    text = (ROOT / "pyproject.toml").read_text()
    reqs: list[str] = []
    for block in re.findall(r"(?:^dependencies|^test) = \[(.*?)\]", text, re.S | re.M):
        reqs += re.findall(r'"([^"]+)"', block)
    return reqs


def lowest() -> str:
    lines = []
    for req in declared():
        m = re.match(r"([A-Za-z0-9_.\-\[\]]+?)(\[[^\]]*\])?\s*>=\s*([^,;\s]+)", req)
        if m:
            lines.append(f"{m.group(1)}=={m.group(3)}")
    return "\n".join(lines) + "\n"


def freeze(venv: str) -> None:
    out = subprocess.run(
        [f"{venv}/bin/python", "-m", "pip", "freeze", "--exclude-editable", "--all"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    keep = [
        line
        for line in out.splitlines()
        if line and not line.startswith(("#", "-e ", "claude-nb", "claude_nb", "setuptools=="))
    ]
    LOCK.write_text(HEADER + "\n".join(sorted(keep, key=str.lower)) + "\n")
    print(f"wrote {LOCK} ({len(keep)} packages)")


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "lock"
    if what == "lowest":
        sys.stdout.write(lowest())
    elif what == "freeze":
        freeze(sys.argv[2])
    elif what == "lock":
        sys.stdout.write(LOCK.read_text())
    else:
        sys.exit(f"usage: {sys.argv[0]} lock|lowest|freeze VENV")
