"""The lab load benchmark, short (30 s at 5 calls/s), end to end: 40 agents put in
force through the routing API, every call answered, queue_log and the stored entries
agree, and every figure the benchmark exists for is printed. No timing is asserted:
the machine is shared."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from callctl.settings import Settings

pytestmark = pytest.mark.integration
REPO_ROOT = Path(__file__).resolve().parents[2]  # benchmarks/ is not in the package
BENCH = (sys.executable, "-m", "benchmarks.bench_lab_load")


def test_smoke_load_has_no_failed_call_and_no_verify_difference(lab: Settings) -> None:
    run = subprocess.run(
        [
            *BENCH,
            *("--agents", "40", "--calls-per-s", "5", "--seconds", "30"),
            *("--talk-s", "3", "--ring-s", "0.5", "--settle-s", "1"),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = run.stdout
    assert run.returncode == 0, run.stderr[-2000:] + out
    assert re.search(r"^40 agents applied in [\d.]+ s$", out, re.M), out
    assert re.search(r"^calls: 150 placed, 150 answered, 0 failed; most in the system", out, re.M)
    assert re.search(r"^verify differences: 0$", out, re.M), out
    assert "queue_log entries: 150  db entries: 150  missing: 0  extra: 0  differing: 0" in out
    cpu = re.search(r"asterisk ([\d.]+)  callctl ([\d.]+)  postgresql [\d.]+  ratio", out)
    assert cpu is not None and float(cpu[1]) > 0 and float(cpu[2]) > 0, out
    assert re.search(r"callctl RSS: [\d.]+ MiB at the start, [\d.]+ MiB at the end", out), out
    assert re.search(r"event → fact commit: p50 [\d.]+ ms  p99 [\d.]+ ms", out), out
    frames = re.search(r"AMI event → wallboard frame: p50 [\d.]+ ms  p99 [\d.]+ ms \((\d+)", out)
    assert frames is not None and int(frames[1]) >= 150, out  # a few deltas a call at least
    assert "lab back to its own model" in out
