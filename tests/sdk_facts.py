"""Facts the tests take from the installed SDK, never from literals.

Model ids come and go between minor SDK releases (2.15 dropped ``claude-sonnet-4-5``), so
a test that names a model picks it from ``anthropic.types.Model`` here.
"""

from __future__ import annotations

import typing

from anthropic.types import Model


def _strings(tp: typing.Any) -> list[str]:
    out: list[str] = []
    for arg in typing.get_args(tp):
        out.extend([arg] if isinstance(arg, str) else _strings(arg))
    return out


SDK_MODELS: tuple[str, ...] = tuple(dict.fromkeys(_strings(Model)))
"""Every model id the installed SDK lists, in its order."""

_undated = [m for m in SDK_MODELS if not m[-8:].isdigit()]
MODEL = next((m for m in _undated if m.startswith("claude-sonnet-")), _undated[0])
"""A model a test sends (the newest Sonnet alias the SDK lists)."""
OTHER_MODEL = next(m for m in _undated if m != MODEL)
THIRD_MODEL = next(m for m in _undated if m not in (MODEL, OTHER_MODEL))
