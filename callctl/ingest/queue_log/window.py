"""Which bytes of queue_log a reconcile window needs (blocking file reads, small).

Reconciling a gap needs the lines of every call that may have been open in it,
not the whole file: a call lasts at most ``max_call`` (default 4 h), so reading
from the first line stamped at or after ``gap start - margin - max_call``
gives every fact that changed since ``gap start - margin`` exactly as a fold of
the whole file would. That line is found by binary search on the epoch that
starts each line: queue_log is written in time order, give or take the second
or two between Asterisk taking the time and writing the line, which the
``max_call`` slack absorbs.

Agents are the exception: a login or a pause can be older than any call. So
the part before that line is scanned for agent lines only (ADDMEMBER,
REMOVEMEMBER, PAUSE, UNPAUSE, PAUSEALL, UNPAUSEALL) with ``bytes.find``, at
memory speed, and ``AgentLines`` keeps what the agents' state at the window's
start depends on: every login and logoff, and each agent's pause lines since
its last unpause (a pause that ended before the window makes no fact the
window keeps). Those are folded first. The one thing this cannot rebuild is
the call an after-call-work pause belongs to when the pause began more than
``max_call`` before the window; the stored row keeps its link (the upsert never
erases a value).

When the window starts before the current file's first line, the rotated
siblings (``queue_log.rotation``) are read first, newest back to the one that
reaches the window, so that a gap across a rotation loses nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Final

from callctl.ingest.queue_log.rotation import rotated_siblings

DEFAULT_MAX_CALL: Final = timedelta(hours=4)

_PROBE = 64
"""Bytes read to find a line's epoch (``1795291045|`` is 11)."""
_SCAN = 4096
_AGENT_EVENTS: Final = (
    b"ADDMEMBER",
    b"REMOVEMEMBER",
    b"PAUSE",
    b"UNPAUSE",
    b"PAUSEALL",
    b"UNPAUSEALL",
)
_AGENT_MARKERS: Final = tuple(
    b"|" + name + end for name in _AGENT_EVENTS for end in (b"|", b"\n", b"\r")
)


@dataclass(frozen=True, slots=True)
class ReadFrom:
    """Read ``path`` from byte ``offset`` (a line start) to its end."""

    path: Path
    offset: int


def line_epoch(head: bytes) -> int | None:
    """The epoch a queue_log line starts with (``1795291045|...``), or None."""
    bar = head.find(b"|")
    digits = head[:bar] if bar > 0 else b""
    return int(digits) if digits.isdigit() else None


def next_line_start(fd: int, pos: int, size: int) -> int:
    """The first line start at or after ``pos`` (``size`` if none)."""
    if pos <= 0:
        return 0
    at = pos - 1
    while at < size:
        chunk = os.pread(fd, _SCAN, at)
        if not chunk:
            break
        newline = chunk.find(b"\n")
        if newline >= 0:
            return at + newline + 1
        at += len(chunk)
    return size


def _timed_line_at(fd: int, pos: int, size: int) -> int | None:
    """The epoch of the first line starting at or after ``pos`` that has one."""
    start = next_line_start(fd, pos, size)
    while start < size:
        epoch = line_epoch(os.pread(fd, _PROBE, start))
        if epoch is not None:
            return epoch
        start = next_line_start(fd, start + 1, size)
    return None


def offset_of_time(fd: int, size: int, target: int) -> int:
    """The start of the first line stamped at or after ``target`` (binary search).

    ``size`` if every line is older. Lines without a readable epoch are skipped
    while searching.
    """
    lo, hi = 0, size
    while lo < hi:
        mid = (lo + hi) // 2
        epoch = _timed_line_at(fd, mid, size)
        if epoch is None or epoch >= target:
            hi = mid
        else:
            lo = mid + 1
    return next_line_start(fd, lo, size)


def first_epoch(path: Path) -> int | None:
    try:
        with path.open("rb") as file:
            size = os.fstat(file.fileno()).st_size
            return _timed_line_at(file.fileno(), 0, size)
    except FileNotFoundError:
        return None


def plan_reads(path: Path, start: int) -> list[ReadFrom]:
    """The files to read, oldest first, for a window from epoch ``start``.

    The current file is always read; rotated siblings are added, newest first,
    while the oldest file so far begins after ``start``. The oldest file read
    starts at the first line stamped ``start`` or later, the others at 0.
    """
    files = [path]
    oldest = first_epoch(path)
    if oldest is None or oldest > start:
        for sibling in rotated_siblings(path):
            files.insert(0, sibling.path)
            oldest = first_epoch(sibling.path)
            if oldest is not None and oldest <= start:
                break
    plan = [ReadFrom(p, 0) for p in files]
    if oldest is not None and oldest <= start:
        with files[0].open("rb") as file:
            size = os.fstat(file.fileno()).st_size
            plan[0] = ReadFrom(files[0], offset_of_time(file.fileno(), size, start))
    return plan


class AgentLines:
    """The agent lines before a window that its agents' state depends on (pure).

    Feed it the candidate lines of ``agent_lines`` in file order, chunk after
    chunk; ``lines()`` gives the ones to fold, in file order.
    """

    def __init__(self, agent_names: Mapping[str, str] | None = None) -> None:
        self._agent_names: Mapping[str, str] = agent_names or {}
        self._count = 0
        self._membership: list[tuple[int, bytes]] = []
        self._paused: dict[bytes, list[tuple[int, bytes]]] = {}

    def add(self, line: bytes) -> None:
        parts = line.split(b"|", 5)
        if len(parts) < 5:
            return
        self._count += 1
        event = parts[4].rstrip(b"\r")
        raw_agent = parts[3]
        name = self._agent_names.get(raw_agent.decode("utf-8", errors="replace"))
        agent = raw_agent if name is None else name.encode()
        if event in (b"ADDMEMBER", b"REMOVEMEMBER"):
            self._membership.append((self._count, line))
        elif event in (b"UNPAUSE", b"UNPAUSEALL"):
            self._paused.pop(agent, None)  # what came before ended before the window
        elif event in (b"PAUSE", b"PAUSEALL"):
            self._paused.setdefault(agent, []).append((self._count, line))

    def lines(self) -> list[bytes]:
        kept = [*self._membership, *(item for run in self._paused.values() for item in run)]
        return [line for _, line in sorted(kept)]


def agent_lines(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(offset in ``data``, line) of the lines that may be agent events, in order.

    ``data`` holds complete lines. A marker like ``|PAUSE|`` inside another
    line's data gives a false candidate, which the parser then rejects.
    """
    starts: set[int] = set()
    for marker in _AGENT_MARKERS:
        at = data.find(marker)
        while at >= 0:
            starts.add(data.rfind(b"\n", 0, at) + 1)
            at = data.find(marker, at + 1)
    for start in sorted(starts):
        end = data.find(b"\n", start)
        yield start, data[start : len(data) if end < 0 else end]
