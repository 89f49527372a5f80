"""bench/run_all.py --quick runs end to end and reports every figure (no timing asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.kernel

# Figure id prefixes run_all.py must report, per measurement of issue 8.
REQUIRED = {
    1: ["render_cpu."],
    2: ["render_update.", "render_flat", "live_paint."],
    3: ["flicker."],
    4: ["overhead_cpu.", "overhead_wall.", "overhead_wall_uncontended."],
    5: ["bytes_payload.", "bytes_whole.", "bytes_model_payload.", "bytes_model_whole."],
    6: ["rate.", "iopub_rate"],
    7: ["ttfp.kernel", "ttfp.inproc", "first_code_block."],
    8: ["memory_rss_peak_delta.", "memory_traced_peak."],
    9: ["overhead_cpu.", "overhead_wall."],
    10: ["final_html."],
}


@pytest.mark.timeout(600)
def test_quick_run_reports_every_figure(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run_all.py"), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=540,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text())
    figures = data["figures"]
    assert {f["item"] for f in figures} == set(REQUIRED)
    for item, prefixes in REQUIRED.items():
        ids = [f["id"] for f in figures if f["item"] == item]
        for prefix in prefixes:
            assert any(i.startswith(prefix) for i in ids), (item, prefix, ids)
    for f in figures:
        assert set(f) >= {"item", "id", "name", "value", "target", "baseline", "status"}
        assert f["status"] in ("PASS", "FAIL", "info")
        assert f["name"] in proc.stdout  # every figure is in the printed table
