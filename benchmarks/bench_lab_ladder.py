"""A rate ladder on the real lab: ``bench_lab_load`` at rising calls/s, one table.

    .venv/bin/python -m benchmarks.bench_lab_ladder \
        [--rates 10,20,25,30,35,40] [--seconds 60] [--talk-s 5] [--agents 340] [--cluster]

Each rung is one ``bench_lab_load`` run (its own callctl, scratch database and lab
model), taken under the lab lock (``flock -o /tmp/callctl-lab.lock``) and released
before the next, so that other users of the lab are not held out for the whole
ladder. A rung *holds* when it has 0 failed calls, 0 ``verify`` differences and an
event → fact commit p99 under ``--fact-p99-ms`` (1,000 ms). The ladder stops at the
first rung that does not hold (``--keep-going`` runs every rung) and prints the
highest rate that held. The load average next to each row is the machine's at the
start and the end of the rung's load (other work included). ``--cluster`` runs every
rung over the lab's two nodes behind Kamailio (``bench_lab_load --cluster``: the rate
in total, ``--agents`` per node, Asterisk's CPU summed over the nodes).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LAB_LOCK = "/tmp/callctl-lab.lock"
REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True, slots=True)
class Rung:
    rate: float
    figures: dict[str, Any] | None
    """``bench_lab_load --json``'s figures; ``None`` when the run gave none."""
    exit_code: int


def holds(figures: dict[str, Any] | None, fact_p99_ms: float) -> bool:
    """0 failed calls, 0 verify differences, fact commit p99 under the bound (pure)."""
    if figures is None:
        return False
    p99 = figures.get("fact_p99_ms")
    return (
        figures["failed"] == 0
        and figures["verify_differences"] == 0
        and isinstance(p99, int | float)
        and not math.isnan(p99)
        and p99 < fact_p99_ms
    )


def _ms(value: Any) -> str:
    if not isinstance(value, int | float) or math.isnan(value):
        return "—"
    return f"{value:,.0f}"


def row(rung: Rung, fact_p99_ms: float) -> str:
    f = rung.figures
    if f is None:
        return f"| {rung.rate:g} | no figures (exit {rung.exit_code}) |" + " |" * 10
    cpu = f["cpu"]
    rss = f"{f['rss_start_kib'] / 1024:.0f} → {f['rss_end_kib'] / 1024:.0f}"
    load = f"{f['load_avg'][0]:.1f} → {f['load_avg'][1]:.1f}"
    verdict = "holds" if holds(f, fact_p99_ms) else "**no**"
    return (
        f"| {rung.rate:g} | {f['placed']} | {f['answered']} | {f['failed']} | "
        f"{f['max_in_system']} | {cpu.get('asterisk', 0):.0f}% / {cpu.get('callctl', 0):.0f}% / "
        f"{cpu.get('postgresql', 0):.0f}% | {_ms(f['fact_p50_ms'])} / {_ms(f['fact_p99_ms'])} | "
        f"{_ms(f['frame_p50_ms'])} / {_ms(f['frame_p99_ms'])} | {f['verify_differences']} | "
        f"{rss} | {load} | {verdict} |"
    )


HEADER = (
    "| calls/s | placed | answered | failed | most in system | CPU asterisk / callctl / "
    "postgresql | event → fact p50 / p99 ms | AMI → wallboard p50 / p99 ms | verify "
    "differences | callctl RSS MiB | load average | verdict |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def run_rung(rate: float, args: argparse.Namespace, work: Path) -> Rung:
    out = work / f"rung-{rate:g}.json"
    command = [
        "flock", "-o", args.lock, sys.executable, "-m", "benchmarks.bench_lab_load",
        "--agents", str(args.agents), "--calls-per-s", f"{rate:g}",
        "--seconds", f"{args.seconds:g}", "--talk-s", f"{args.talk_s:g}",
        "--json", str(out),
    ]  # fmt: skip
    if args.cluster:
        command.append("--cluster")
    print(f"rung {rate:g} calls/s: {' '.join(command)}", flush=True)
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    log = work / f"rung-{rate:g}.log"
    log.write_text(done.stdout + done.stderr)
    for line in done.stdout.splitlines():
        if line.startswith(("calls:", "window", "event →", "AMI event", "verify", "facts spooled")):
            print(f"  {line}", flush=True)
    figures = json.loads(out.read_text()) if out.exists() else None
    if figures is None:
        print(f"  no figures; the run's output is in {log}:\n{done.stderr[-1500:]}", flush=True)
    return Rung(rate, figures, done.returncode)


def parse_rates(text: str) -> list[float]:
    rates = [float(part) for part in text.split(",") if part.strip()]
    if not rates or any(rate <= 0 for rate in rates):
        raise argparse.ArgumentTypeError("--rates: positive calls/s, comma-separated")
    return sorted(rates)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=parse_rates, default=parse_rates("10,20,25,30,35,40"))
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--talk-s", type=float, default=5.0)
    parser.add_argument("--agents", type=int, default=340)
    parser.add_argument("--fact-p99-ms", type=float, default=1000.0)
    parser.add_argument("--keep-going", action="store_true", help="run every rung")
    parser.add_argument(
        "--cluster", action="store_true", help="each rung over the lab's two nodes (Kamailio)"
    )
    parser.add_argument("--lock", default=LAB_LOCK)
    parser.add_argument("--keep-logs", type=Path, help="keep each rung's output here")
    args = parser.parse_args(argv)
    rungs: list[Rung] = []
    with tempfile.TemporaryDirectory(prefix="bench-ladder-") as tmp:
        work = args.keep_logs or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for rate in args.rates:
            rung = run_rung(rate, args, work)
            rungs.append(rung)
            if not holds(rung.figures, args.fact_p99_ms) and not args.keep_going:
                break
    print(
        f"\nladder: {args.seconds:g} s per rung, talk {args.talk_s:g} s, {args.agents} agents"
        f"{' per node, two nodes behind Kamailio' if args.cluster else ''}; "
        f"holds = 0 failed, 0 verify differences, event → fact p99 < {args.fact_p99_ms:g} ms"
    )
    print(HEADER)
    for rung in rungs:
        print(row(rung, args.fact_p99_ms))
    held = [r.rate for r in rungs if holds(r.figures, args.fact_p99_ms)]
    best = f"{max(held):g} calls/s" if held else "none of the rates run"
    print(f"highest rate that held: {best}")
    return 0 if held else 1


if __name__ == "__main__":
    raise SystemExit(main())
