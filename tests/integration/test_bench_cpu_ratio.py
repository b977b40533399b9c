"""The CPU-ratio benchmark runs end to end against the lab (a few calls) and reports
the figures it exists for. No timing is asserted: the machine is shared."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from callctl.settings import Settings

pytestmark = pytest.mark.integration
REPO_ROOT = Path(__file__).resolve().parents[2]
BENCH = (sys.executable, "-m", "benchmarks.bench_cpu_ratio")


def test_benchmark_places_calls_and_prints_the_ratio(lab: Settings) -> None:
    run = subprocess.run(
        [*BENCH, "--calls-per-s", "2", "--seconds", "3", "--settle-s", "1"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = run.stdout
    assert run.returncode == 0, run.stderr[-2000:] + out
    # Every call answered by an agent, and its events reached callctl.
    assert re.search(r": 6 calls, 6 answered, 0 failed; ([\d,]+) AMI events", out), out
    counted = re.search(r"failed; ([\d,]+) AMI events", out)
    assert counted is not None and int(counted[1].replace(",", "")) >= 6 * 10, out  # ~22 a call
    cpu = re.search(r"CPU, % of one core: callctl ([\d.]+)  asterisk ([\d.]+) \(lab ", out)
    assert cpu is not None and float(cpu[1]) > 0 and float(cpu[2]) > 0, out
    ratio = re.search(r"^ratio callctl ÷ asterisk: ([\d.]+)  \(postgresql ÷ asterisk: ", out, re.M)
    assert ratio is not None, out
    # The CPU figures are printed to 0.1: the ratio lies within what that rounding allows.
    callctl, asterisk = float(cpu[1]), float(cpu[2])
    low, high = (callctl - 0.05) / (asterisk + 0.05), (callctl + 0.05) / (asterisk - 0.05)
    assert low - 0.01 <= float(ratio[1]) <= high + 0.01, out
    assert re.search(r"events stored: [\d,]+ in \d+ kinds; .*AgentConnect 6\b", out), out
