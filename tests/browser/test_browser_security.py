"""Hostile model output renders as inert text: live, static, and when shown again.

The page holds the Jupyter token, so script in an answer would own the server.
"""

from __future__ import annotations

import pytest
from jupyter_harness import FORBIDDEN, SETUP, read_sampler, start_sampler

pytestmark = pytest.mark.browser

# Every write to window.__cnb_xss is recorded, even one that is later undone.
WATCH_JS = """() => {
  window.__cnb_xss = 0;
  window.__cnb_xss_writes = [];
  let value = 0;
  Object.defineProperty(window, '__cnb_xss', {
    configurable: true,
    get() { return value; },
    set(v) { value = v; window.__cnb_xss_writes.push(String(v)); },
  });
}"""


def test_hostile_html_and_links_stay_inert(open_notebook):
    nbp = open_notebook(
        [SETUP, "%%claude --replay xss --speed 0.5\nReview these snippets.", "_claude"]
    )
    nbp.run_setup()
    nbp.page.evaluate(WATCH_JS)
    start_sampler(nbp.page, 1)
    nbp.run(1)
    rec = read_sampler(nbp.page)
    assert rec["liveTicks"] > 0, "the live view was never seen"
    nbp.run(2)  # _claude: the result object shown again (its static bundle)

    statics = nbp.page.locator(".cnb-static")
    statics.nth(1).wait_for()
    assert statics.count() == 2
    # An <img src=x> fails to load within milliseconds; give handlers a moment to fire.
    # (A short fixed wait is the only way to show that something does not happen.)
    nbp.page.wait_for_timeout(1500)

    assert nbp.page.evaluate("window.__cnb_xss") == 0
    assert nbp.page.evaluate("window.__cnb_xss_writes") == []
    assert rec["forbidden"] == [], f"active elements appeared in the live view: {rec['forbidden']}"
    bad = nbp.page.locator(".cnb").locator(FORBIDDEN)
    assert bad.count() == 0, bad.evaluate_all("es => es.map(e => e.outerHTML)")
    hrefs = nbp.page.locator(".cnb a[href]").evaluate_all(
        "as => as.map(a => a.getAttribute('href'))"
    )
    assert all(h.startswith(("https://", "http://", "#")) for h in hrefs), hrefs
    styled = nbp.page.locator(".cnb [style*='javascript' i], .cnb [style*='url(' i]")
    assert styled.count() == 0

    # Shown, as text, in both outputs.
    for n in range(2):
        text = statics.nth(n).inner_text()
        assert '<img src=x onerror="window.__cnb_xss=1">' in text
        assert "<script>window.__cnb_xss=2</script>" in text
        assert '<iframe src="javascript:window.__cnb_xss=5"></iframe>' in text
        assert '<svg onload="window.__cnb_xss=6">' in text
        assert "A renderer that sanitises correctly" in text
    nbp.snap("xss.png", nbp.cell(1))


# A recorded answer whose text would load a remote image and hold a script link if it
# were rendered as trusted markdown. Written by the notebook itself (the kernel's cwd).
HOSTILE_ANSWER = (
    "Here: ![chart](http://cnb-leak.invalid/leak.png?k=1) "
    '[click](javascript:window.__cnb_xss=9) <img src=x onerror="window.__cnb_xss=10">'
)
WRITE_TRANSCRIPT = f"""import json
def _ev(name, data):
    return f"event: {{name}}\\ndata: {{json.dumps(data)}}\\n\\n"
_msg = {{"id": "msg_hostile", "type": "message", "role": "assistant", "model": "m",
        "content": [], "stop_reason": None, "stop_sequence": None,
        "usage": {{"input_tokens": 5, "output_tokens": 1}}}}
_text = {HOSTILE_ANSWER!r}
with open("hostile.sse", "w") as f:
    f.write(_ev("message_start", {{"type": "message_start", "message": _msg}}))
    f.write(_ev("content_block_start", {{"type": "content_block_start", "index": 0,
            "content_block": {{"type": "text", "text": ""}}}}))
    for i in range(0, len(_text), 7):
        f.write(_ev("content_block_delta", {{"type": "content_block_delta", "index": 0,
                "delta": {{"type": "text_delta", "text": _text[i:i + 7]}}}}))
    f.write(_ev("content_block_stop", {{"type": "content_block_stop", "index": 0}}))
    f.write(_ev("message_delta", {{"type": "message_delta",
            "delta": {{"stop_reason": "end_turn", "stop_sequence": None}},
            "usage": {{"output_tokens": 40}}}}))
    f.write(_ev("message_stop", {{"type": "message_stop"}}))"""


def test_chat_history_shows_the_answer_inert(open_notebook):
    """%claude history showed the model's text as trusted markdown: a remote image
    loaded with no click and a javascript: link survived (seen in JupyterLab 4.6)."""
    nbp = open_notebook(
        [
            SETUP,
            WRITE_TRANSCRIPT,
            "%%claude --chat h --replay hostile.sse\nShow me the chart.",
            "%claude history h",
        ]
    )
    requested: list[str] = []
    nbp.page.on("request", lambda request: requested.append(request.url))
    nbp.run_setup()
    nbp.page.evaluate(WATCH_JS)
    nbp.run(1)
    nbp.run(2)
    nbp.run(3)
    history = nbp.output(3).locator(".jp-OutputArea-output")  # what the output renders
    history.get_by_text("claude:").first.wait_for()
    nbp.page.wait_for_timeout(1500)  # let an image load or a handler fire, if one could

    assert [u for u in requested if "cnb-leak" in u] == []
    assert nbp.page.evaluate("window.__cnb_xss") == 0
    assert nbp.page.evaluate("window.__cnb_xss_writes") == []
    bad = history.locator(FORBIDDEN)
    assert bad.count() == 0, bad.evaluate_all("es => es.map(e => e.outerHTML)")
    shown = history.inner_text()
    assert "![chart](http://cnb-leak.invalid/leak.png?k=1)" in shown  # as the text it is
    assert "[click](javascript:window.__cnb_xss=9)" in shown
    nbp.snap("history.png", nbp.cell(3))
