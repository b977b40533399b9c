"""A whole queue_log folded into facts, and the time window helpers reconcile and verify share.

``fold_file`` reads the file as it is now, complete lines only (a line being
written is left out, as the tailer would), with the same decoding and parsing
as the tailer, and keeps only the last value of each fact: memory follows the
number of facts, not of lines. The calls that queue_log tells of
(``callctl.facts.calls``) follow the other facts. It blocks; run it with
``asyncio.to_thread``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO
from zoneinfo import ZoneInfo

from callctl.facts.calls import calls_from_entries
from callctl.facts.from_queue_log import FoldStats, QueueLogFolder
from callctl.facts.models import (
    CallbackTaskFact,
    CallFact,
    Fact,
    IvrStepFact,
    QueueEntryFact,
    SurveyAnswerFact,
)
from callctl.facts.queue_log import (
    AddMember,
    Malformed,
    Pause,
    QueueLogEvent,
    RemoveMember,
    Unpause,
    parse_line,
)
from callctl.ingest.queue_log.tail import split_complete_lines
from callctl.ingest.queue_log.window import AgentLines, ReadFrom, agent_lines, plan_reads

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_LOGGED_MALFORMED = 20
"""Malformed lines logged one by one per fold; the rest are only counted."""


AgentLine = AddMember | RemoveMember | Pause | Unpause
"""What the part of a file before a reconcile window is scanned for."""


class QueueLogMissingError(FileNotFoundError):
    error_id = "queue_log.missing"


def to_epoch(moment: datetime) -> int:
    """Whole UTC seconds, floored like queue_log's and AMI's times."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment.isoformat()}: give a time zone")
    return int(moment.timestamp() // 1)


def from_epoch(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def iso_utc(epoch: int) -> str:
    return from_epoch(epoch).isoformat().replace("+00:00", "Z")


def assume_zone(moment: datetime | None, zone: str) -> datetime | None:
    """A time typed without a zone (``--since 2026-11-21T08:00``) is local to ``zone``."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=ZoneInfo(zone))


def last_time(fact: Fact) -> int:
    """The latest time the fact carries: when an event last changed it (roughly)."""
    times: tuple[int | None, ...]
    if isinstance(fact, QueueEntryFact):
        times = (fact.entered_at, fact.ended_wait_at, fact.completed_at)
    elif isinstance(fact, SurveyAnswerFact):
        times = (fact.answered_at,)
    elif isinstance(fact, IvrStepFact):
        times = (fact.at,)
    elif isinstance(fact, CallbackTaskFact):
        times = (fact.created_at,)
    else:
        times = (fact.started_at, fact.ended_at)
    return max(t for t in times if t is not None)


@dataclass(frozen=True, slots=True)
class FileFold:
    path: Path
    inode: int
    end_offset: int
    """Just after the last complete line read."""
    facts: list[Fact]
    """The last value of every fact, in order of first appearance; then the calls."""
    lines: int
    """Non-blank lines parsed, malformed included."""
    malformed: int
    stats: FoldStats
    first_time: int | None
    """Time of the first event; ``None`` when the file holds none."""
    last_time: int | None
    malformed_samples: list[Malformed] = field(default_factory=list)
    read: tuple[ReadFrom, ...] = ()
    """The files read and where each began, oldest first."""

    @property
    def entries(self) -> list[QueueEntryFact]:
        return [fact for fact in self.facts if isinstance(fact, QueueEntryFact)]

    def facts_since(self, horizon: int | None) -> list[Fact]:
        """Facts an event changed at or after ``horizon`` (all if ``None``), and the
        calls of the entries among them."""
        if horizon is None:
            return list(self.facts)
        kept: list[Fact] = [
            f for f in self.facts if not isinstance(f, CallFact) and last_time(f) >= horizon
        ]
        callids = {f.callid for f in kept if isinstance(f, QueueEntryFact)}
        kept += [f for f in self.facts if isinstance(f, CallFact) and f.linkedid in callids]
        return kept


def fold_file(
    path: Path,
    node: str,
    *,
    agent_names: Mapping[str, str] | None = None,
    acw_reason: str = "acw",
    read_from: int | None = None,
) -> FileFold:
    """Fold ``path`` (blocking); raises ``QueueLogMissingError``.

    Without ``read_from``, the whole current file. With it, only what a window
    from epoch ``read_from`` needs (``queue_log.window``): rotated siblings first
    if the window reaches back before the current file, the oldest file from
    its first line stamped ``read_from`` or later, and before that line its
    agent lines only. Facts of calls that began at or after ``read_from`` are
    then those of a whole fold.
    """
    run = _Fold(QueueLogFolder(node, agent_names=agent_names, acw_reason=acw_reason), agent_names)
    if not path.exists():
        raise QueueLogMissingError(f"queue_log not found: {path}")
    plan = [ReadFrom(path, 0)] if read_from is None else plan_reads(path, read_from)
    inode = end_offset = 0
    for number, source in enumerate(plan):
        try:
            file = source.path.open("rb")
        except FileNotFoundError as exc:
            raise QueueLogMissingError(f"queue_log not found: {source.path}") from exc
        with file:
            line_no = 1
            if number == 0 and source.offset:
                line_no = run.agents_before(file, source.offset)
            inode = os.fstat(file.fileno()).st_ino
            end_offset = run.read(source.path, file, source.offset, line_no)
    if run.malformed_count > _LOGGED_MALFORMED:
        log.warning("queue_log %s: %d malformed lines in all", path, run.malformed_count)
    facts = list(run.latest.values())
    facts += calls_from_entries(f for f in facts if isinstance(f, QueueEntryFact))
    return FileFold(
        path=path,
        inode=inode,
        end_offset=end_offset,
        facts=facts,
        lines=run.lines,
        malformed=run.malformed_count,
        stats=run.folder.stats,
        first_time=run.first,
        last_time=run.newest,
        malformed_samples=run.malformed,
        read=tuple(plan),
    )


def fold_lines(
    label: Path,
    node: str,
    agent_lines_before: Iterable[str],
    lines: Iterable[str],
    *,
    agent_names: Mapping[str, str] | None = None,
    acw_reason: str = "acw",
    folder: QueueLogFolder | None = None,
) -> FileFold:
    """``fold_file`` for lines already read (shipped lines, ``queue_log.shipped``).

    ``agent_lines_before`` are the candidate agent lines before the window (as
    ``fold_file`` scans them), ``lines`` the window's lines in file order. Pass
    ``folder`` to keep its state afterwards (a follower's warm-up).
    """
    if folder is None:
        folder = QueueLogFolder(node, agent_names=agent_names, acw_reason=acw_reason)
    run = _Fold(folder, agent_names)
    run.agents_of(raw.encode() for raw in agent_lines_before)
    run.feed_texts(label, lines)
    facts = list(run.latest.values())
    facts += calls_from_entries(f for f in facts if isinstance(f, QueueEntryFact))
    return FileFold(
        path=label,
        inode=0,
        end_offset=0,
        facts=facts,
        lines=run.lines,
        malformed=run.malformed_count,
        stats=run.folder.stats,
        first_time=run.first,
        last_time=run.newest,
        malformed_samples=run.malformed,
    )


class _Fold:
    """One fold's running state across the files it reads."""

    def __init__(self, folder: QueueLogFolder, agent_names: Mapping[str, str] | None) -> None:
        self.folder = folder
        self._agent_names = agent_names
        self.latest: dict[tuple[object, ...], Fact] = {}
        self.malformed: list[Malformed] = []
        self.malformed_count = 0
        self.lines = 0
        self.first: int | None = None
        self.newest: int | None = None

    def _keep(self, facts: list[Fact]) -> None:
        for fact in facts:
            self.latest[(type(fact).__name__, *fact.key)] = fact

    def agents_before(self, file: BinaryIO, end: int) -> int:
        """Fold the agent lines of ``file`` before ``end``; returns the line number at ``end``."""
        offset, newlines = 0, 0
        needed = AgentLines(self._agent_names)
        while offset < end:
            data = os.pread(file.fileno(), min(_CHUNK, end - offset), offset)
            complete = data.rfind(b"\n") + 1
            if complete == 0:
                break  # ``end`` is a line start: only a line longer than a chunk gets here
            data = data[:complete]
            for _, raw in agent_lines(data):
                needed.add(raw)
            newlines += data.count(b"\n")
            offset += complete
        self._fold_agents(needed)
        return 1 + newlines

    def agents_of(self, candidates: Iterable[bytes]) -> None:
        """Fold what the agents' state depends on among ``candidates`` (in file order)."""
        needed = AgentLines(self._agent_names)
        for raw in candidates:
            needed.add(raw)
        self._fold_agents(needed)

    def _fold_agents(self, needed: AgentLines) -> None:
        for raw in needed.lines():
            item = parse_line(raw.decode("utf-8", errors="replace"), 0)
            if isinstance(item, AgentLine):
                self._keep(self.folder.feed(item))

    def feed_texts(self, label: Path, texts: Iterable[str]) -> None:
        for line_no, text in enumerate(texts, start=1):
            if not text.strip():
                continue
            self.lines += 1
            self._item(label, parse_line(text, line_no))

    def read(self, path: Path, file: BinaryIO, offset: int, line_no: int) -> int:
        """Fold every line of ``file`` from ``offset``; returns the offset after the last."""
        carry = b""
        file.seek(offset)
        while chunk := file.read(_CHUNK):
            data = carry + chunk
            split = split_complete_lines(data, offset, line_no)
            carry = data[split.consumed :]
            offset += split.consumed
            line_no += split.newlines
            self.lines += len(split.lines)
            for line in split.lines:
                self._item(path, line.item)
        return offset

    def _item(self, path: Path, item: QueueLogEvent | Malformed) -> None:
        if isinstance(item, Malformed):
            self._malformed(path, item)
            return
        self.first = item.time if self.first is None else self.first
        self.newest = item.time if self.newest is None else max(self.newest, item.time)
        self._keep(self.folder.feed(item))

    def _malformed(self, path: Path, item: Malformed) -> None:
        self.malformed_count += 1
        if self.malformed_count <= _LOGGED_MALFORMED:
            self.malformed.append(item)
            log.warning(
                "queue_log %s line %d malformed (%s): %.200r",
                path,
                item.line_no,
                item.why,
                item.raw,
            )
