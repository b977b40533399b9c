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
REPO_ROOT = Path(__file__).resolve().parents[2]  # benchmarks/ is not in the package


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


def test_cluster_benchmark_loads_both_nodes_through_kamailio(lab: Settings) -> None:
    """The issue's case, small: two nodes behind Kamailio, callctl serving both from the
    cluster's nodes file; each node gets its share of the calls and its events stored."""
    run = subprocess.run(
        [*BENCH, "--cluster", "--calls-per-s", "1", "--seconds", "4", "--settle-s", "1"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    out = run.stdout
    assert run.returncode == 0, run.stderr[-2000:] + out
    assert re.search(
        r"on 2 node\(s\) \[a,b\] through Kamailio 127\.0\.0\.9:5060: 8 calls, 8 answered, "
        r"0 failed",
        out,
    ), out
    cpu = re.search(r"asterisk ([\d.]+) \(a ([\d.]+)  b ([\d.]+)\)", out)
    assert cpu is not None and float(cpu[2]) > 0 and float(cpu[3]) > 0, out
    assert re.search(r"^ratio callctl ÷ asterisk: [\d.]+ ", out, re.M), out
    # Kamailio's round robin: 4 calls a node, each with its AgentConnect among its events.
    by_node = re.search(r"events stored by node: a ([\d,]+), b ([\d,]+)", out)
    assert by_node is not None, out
    assert int(by_node[1].replace(",", "")) >= 4 * 10, out
    assert int(by_node[2].replace(",", "")) >= 4 * 10, out
    assert re.search(r"events stored: [\d,]+ in \d+ kinds; .*AgentConnect 8\b", out), out
