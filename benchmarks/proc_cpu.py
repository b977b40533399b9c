"""CPU time of process trees from ``/proc``: utime+stime, reaped children included.

A tree's CPU over a window is the change in the sum, over its live processes, of
utime+stime+cutime+cstime: a process that exits is reaped by its parent, whose
cutime/cstime then hold all it used (so PostgreSQL backends that come and go, or
short-lived helpers, are counted, not lost between two samples).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class ProcStat:
    pid: int
    ppid: int
    ticks: int  # utime + stime + cutime + cstime


def parse_stat(text: str) -> ProcStat:
    """One ``/proc/PID/stat`` line (pure); the command name may hold spaces and ')'."""
    pid_part, _, rest = text.partition(" (")
    fields = rest[rest.rindex(") ") + 2 :].split()
    # fields[0] is field 3 (state): ppid is field 4, utime..cstime fields 14-17.
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return ProcStat(int(pid_part), int(fields[1]), utime + stime + cutime + cstime)


def read_all(proc: Path = Path("/proc")) -> dict[int, ProcStat]:
    stats: dict[int, ProcStat] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = parse_stat((entry / "stat").read_text())
        except (OSError, ValueError, IndexError):
            continue  # exited while we read
        stats[stat.pid] = stat
    return stats


def tree_ticks(stats: Mapping[int, ProcStat], roots: Iterable[int]) -> int:
    """CPU ticks of ``roots`` and all their live descendants (pure)."""
    children: dict[int, list[int]] = {}
    for stat in stats.values():
        children.setdefault(stat.ppid, []).append(stat.pid)
    seen: set[int] = set()
    todo = [pid for pid in roots if pid in stats]
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        todo.extend(children.get(pid, ()))
    return sum(stats[pid].ticks for pid in seen)


@dataclass(frozen=True, slots=True)
class Sample:
    at: float  # time.monotonic()
    ticks: dict[str, int]  # group name -> ticks


def sample(groups: Mapping[str, Iterable[int]], at: float) -> Sample:
    stats = read_all()
    return Sample(at, {name: tree_ticks(stats, roots) for name, roots in groups.items()})


def percent_of_core(before: Sample, after: Sample) -> dict[str, float]:
    """Each group's CPU between two samples, as % of one core (pure)."""
    seconds = after.at - before.at
    return {
        name: 100.0 * (after.ticks[name] - before.ticks[name]) / CLOCK_TICKS / seconds
        for name in after.ticks
    }


def thread_ticks(pid: int, proc: Path = Path("/proc")) -> dict[int, int]:
    """utime+stime of each live thread of ``pid`` (tid -> ticks); the main thread's tid
    is ``pid``. Threads that ended are not listed (their time stays in the process's)."""
    ticks: dict[int, int] = {}
    for entry in (proc / str(pid) / "task").iterdir():
        try:
            stat = parse_stat((entry / "stat").read_text())
        except (OSError, ValueError, IndexError):
            continue
        ticks[stat.pid] = stat.ticks
    return ticks
