"""Where a ``Run``'s time goes, by sampling: the SDK's own work against claude_nb's.

cProfile inflates many small Python calls (the reducer's) far more than the SDK's C-backed
parsing, so it misattributes; a sampling profiler does not. Record, then attribute::

    pip install py-spy
    py-spy record -r 300 -f raw -o /tmp/spy.txt -- \\
        python bench/profile_consume.py '{"kind": "text", "kb": 200}' 2
    python bench/profile_consume.py --attribute /tmp/spy.txt

The first form streams the answer (a ``bench/serve.py`` SPEC) through a ``Run`` with a
``LiveView`` N times, in this process (the comm is a no-op outside a kernel); ``raw`` as a
third argument consumes it with the bare SDK instead.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from claude_nb.sdk import default_model


def stream(spec: dict, reps: int, mode: str) -> None:
    import anthropic
    from serve import ServerProcess

    from claude_nb.notebook.runner import Run

    request = {
        "model": default_model(),
        "max_tokens": 64_000,
        "messages": [{"role": "user", "content": "q"}],
    }
    with ServerProcess() as server:
        server.set(spec)
        client = anthropic.Anthropic(base_url=server.url, api_key="offline")
        c0 = time.process_time()
        for _ in range(reps):
            if mode == "raw":
                with client.messages.stream(**request) as s:
                    for _event in s:
                        pass
            else:
                run = Run(model="m", view="widget", offline=True)
                with contextlib.redirect_stdout(io.StringIO()):
                    run.stream_turn(lambda: client.messages.create(**request, stream=True))
                    run.close()
        print(f"{mode}: {(time.process_time() - c0) / reps:.2f} s CPU per stream", file=sys.stderr)


def attribute(path: str) -> None:
    """Split py-spy raw samples: SDK below ``Run.consume`` (and its accumulator, called by the
    state step), claude_nb's ``Run.step``, the rest."""
    top: Counter[str] = Counter()
    inside: Counter[str] = Counter()
    marks: Counter[str] = Counter()
    total = 0
    for line in Path(path).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        frames = stack.split(";")
        total += n
        for key in ("Painter.paint", "StreamingMarkdown.render", "LiveWidget.send", "Run.close"):
            if any(f.startswith(key) for f in frames):
                marks[key] += n
        at = next((i for i, f in enumerate(frames) if f.startswith("Run.consume")), None)
        if at is None:
            top["outside Run.consume (start, close, setup)"] += n
            continue
        below = frames[at + 1] if at + 1 < len(frames) else ""
        if any(f.startswith("accumulate_event") for f in frames[at:]):
            # the state step calls the SDK's own accumulator: the SDK's work, not ours
            top["SDK: accumulate_event (called by the state step)"] += n
        elif below.startswith("Run.step"):
            top["claude_nb: Run.step (reducer, layout, painter)"] += n
            deeper = frames[at + 2] if at + 2 < len(frames) else "Run.step itself"
            inside[deeper.split(" (")[0]] += n
        elif "anthropic/" in below:
            top["SDK: stream iteration (SSE, JSON, event objects)"] += n
        else:
            top["Run.consume itself"] += n
    print(f"{total} samples")
    for key, n in top.most_common():
        print(f"  {n / total * 100:5.1f}%  {key}")
    print("  inside Run.step:")
    for key, n in inside.most_common(8):
        print(f"    {n / total * 100:5.1f}%  {key}")
    print("  anywhere in the stack:")
    for key, n in marks.most_common():
        print(f"    {n / total * 100:5.1f}%  {key}")


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
    elif sys.argv[1] == "--attribute":
        attribute(sys.argv[2])
    else:
        stream(json.loads(sys.argv[1]), int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else "")
