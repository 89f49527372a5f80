"""Small facts about the Jupyter front-end the code runs under."""

from __future__ import annotations

from typing import Any


def in_kernel() -> bool:
    """True inside a Jupyter kernel (where a front-end may render widgets)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def close_widgets(*widgets: Any) -> None:
    """Close ipywidgets and the helper widgets they own (``layout``, ``style``).

    A DOMWidget's Layout and a Button's or HTML's Style are widgets of their own: left
    open, their state stays in the kernel and in a notebook saved by nbclient.
    """
    for w in widgets:
        if w is None:
            continue
        parts = [getattr(w, "layout", None), getattr(w, "style", None)]
        w.close()
        for p in parts:
            if p is not None and hasattr(p, "close"):
                p.close()
