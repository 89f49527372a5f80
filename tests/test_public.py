"""The package's public surface: what `dir(claude_nb)` shows is what `__all__` promises."""

from __future__ import annotations

import importlib
import inspect
import typing

import claude_nb


def test_dir_shows_the_public_names_and_each_one_resolves():
    assert dir(claude_nb) == sorted(claude_nb.__all__)
    assert not {"Any", "TYPE_CHECKING", "annotations", "typing", "importlib"} & set(dir(claude_nb))
    for name in claude_nb.__all__:
        assert getattr(claude_nb, name) is not None
    for sub in ("offline", "sdk"):  # sub-packages users reach for, without importing them
        assert getattr(claude_nb, sub) is importlib.import_module(f"claude_nb.{sub}")


def test_show_takes_a_view_mode_literal():
    from claude_nb.views import VIEW_MODES, ViewMode

    assert inspect.signature(claude_nb.show).parameters["view"].annotation == "ViewMode"
    assert typing.get_args(ViewMode) == VIEW_MODES
    assert "auto" in VIEW_MODES and "quiet" in VIEW_MODES


def test_exceptions_are_exported():
    from claude_nb import errors

    for name in ("ClaudeNbError", "UsageError", "RunFailed", "RunInterrupted", "RunError"):
        assert name in claude_nb.__all__ and getattr(claude_nb, name) is getattr(errors, name)
