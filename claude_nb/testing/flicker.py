"""The flicker metric of the streaming view (tests and benchmarks only).

A frame *flickers* when its visible text is not a prefix of the final document's visible
text, i.e. the reader saw characters (a raw ``**``, a table pipe, half a URL) that later
vanished or changed. Markup that only restyles text (bold, a link, a heading) does not
count; math delimiters are markup too, since MathJax replaces them.
"""

from __future__ import annotations

from claude_nb.render.visible import SPACE, raw_visible, visible_text


class FlickerMeter:
    """Counts flickering frames of a stream against its final HTML, in O(tail) per frame.

    Frozen HTML is converted once as it arrives; only the tail is converted per frame.
    """

    def __init__(self, final_html: str) -> None:
        self.final = visible_text(final_html)
        self._frozen = ""  # collapsed visible text of the frozen HTML, left-stripped
        self._frozen_ok = True  # is it (right-stripped) a prefix of the final text?
        self._frozen_exact = True  # ... and with its trailing space too?
        self.frames = 0
        self.flickers = 0

    def frame(self, frozen: str, tail: str) -> bool:
        """Record one frame (new frozen HTML, current tail); True if it flickers."""
        if frozen:
            self._frozen = _join(self._frozen, SPACE.sub(" ", raw_visible(frozen))).lstrip()
            self._frozen_ok = self.final.startswith(self._frozen.rstrip())
            self._frozen_exact = self.final.startswith(self._frozen)
        shown = SPACE.sub(" ", raw_visible(tail))
        if not self._frozen:
            bad = not self.final.startswith(shown.strip())
        elif not shown.strip():
            bad = not self._frozen_ok
        else:
            if self._frozen.endswith(" ") and shown.startswith(" "):
                shown = shown[1:]
            bad = not (
                self._frozen_exact and self.final.startswith(shown.rstrip(), len(self._frozen))
            )
        self.frames += 1
        self.flickers += bad
        return bad

    @property
    def rate(self) -> float:
        return self.flickers / self.frames if self.frames else 0.0


def _join(left: str, right: str) -> str:
    if left.endswith(" ") and right.startswith(" "):
        return left + right[1:]
    return left + right
