"""Reconcile's fold cost: the whole queue_log versus only the window a gap needs.

Run from the repository root::

    .venv/bin/python -m benchmarks.bench_reconcile [--lines 250000] [--gap-hours 1]

Writes a synthetic day of queue_log (``callctl.ingest.queue_log.synth``: ~160 agents
in two queues, ACW pauses, transfers, long training pauses) to a temporary
file, then times the fold that ``reconcile`` runs for a gap that started
``--gap-hours`` before the last line: before, the whole file; after, from
``gap start - margin (2 h) - max call (4 h)`` with the agent lines before it.
Checks that both give the same facts for the window. No database: the upsert
cost is the same for both (the same facts are written).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from callctl.ingest.queue_log.fold import FileFold, fold_file
from callctl.ingest.queue_log.synth import synth_queue_log
from callctl.ingest.queue_log.window import DEFAULT_MAX_CALL
from callctl.ingest.reconcile import DEFAULT_MARGIN


def timed(path: Path, read_from: int | None, repeat: int) -> tuple[FileFold, float]:
    """The fold and its best time of ``repeat`` runs (the machine is shared)."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fold = fold_file(path, "bench", read_from=read_from)
        best = min(best, time.perf_counter() - started)
    return fold, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--lines", type=int, default=250_000)
    parser.add_argument("--gap-hours", type=float, nargs="+", default=[1.0, 6.0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "queue_log"
        path.write_text("".join(synth_queue_log(args.lines)), encoding="utf-8")
        whole, whole_s = timed(path, None, args.repeat)
        assert whole.last_time is not None
        print(
            f"queue_log: {whole.lines} lines, {path.stat().st_size / 1e6:.1f} MB, "
            f"{len(whole.facts)} facts"
        )
        print(f"before (whole file):            {whole_s:6.2f} s (best of {args.repeat})")
        margin_s = int(DEFAULT_MARGIN.total_seconds())
        max_call_s = int(DEFAULT_MAX_CALL.total_seconds())
        for gap_hours in args.gap_hours:
            horizon = whole.last_time - int(gap_hours * 3600) - margin_s
            window, window_s = timed(path, horizon - max_call_s, args.repeat)
            same = window.facts_since(horizon) == whole.facts_since(horizon)
            print(
                f"after, gap {gap_hours:4.1f} h before the end: {window_s:6.2f} s "
                f"({window.lines} lines read, {whole_s / window_s:.1f}x faster, "
                f"same facts: {same})"
            )
            if not same:
                raise SystemExit("windowed fold differs from the whole fold")


if __name__ == "__main__":
    main()
