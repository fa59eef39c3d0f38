"""The torch-free half of scripts/compare_torch_mist.py runs: a mib arm in its worker subprocess,
its row in results.jsonl, and the table. torch-mist itself needs the separate torch venv
(docs/torch-mist.md), which CI does not build."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "compare_torch_mist.py"


def run(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_mib_arm_row_and_table(tmp_path):
    out = tmp_path / "ctm"
    run("--datasets", "mfeat", "--arms", "mib-default", "--rounds", "1", "--iterations", "200",
        "--out", str(out))  # fmt: skip
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 1
    row = rows[0]
    assert row["dataset"] == "mfeat" and row["arm"] == "mib-default" and row["round"] == 0
    assert row["iterations"] == 200 and row["fit_s"] > 0 and row["peak_rss_mib"] > 0
    assert abs(row["steps_per_s"] - 200 / row["fit_s"]) < 1e-6 * row["steps_per_s"] + 1e-9
    acc = row["accuracy"]
    assert set(acc) == {"1", "10", "100"}
    # mfeat has 10 classes: 200 iterations of MIB are far above chance at 100 labels per class
    assert 0.3 < acc["100"] <= 1.0
    table = run("--table", "--out", str(out))
    assert "mib-default" in table and "mfeat" in table


def test_unknown_arm_is_an_error(tmp_path):
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--arms", "no-such-arm", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "unknown arm 'no-such-arm'" in done.stderr and "mib-default" in done.stderr
