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
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from callctl.facts.calls import calls_from_entries
from callctl.facts.from_queue_log import FoldStats, QueueLogFolder
from callctl.facts.models import CallFact, Fact, QueueEntryFact
from callctl.facts.queue_log import Malformed
from callctl.ingest.queue_log_tail import split_complete_lines

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_LOGGED_MALFORMED = 20
"""Malformed lines logged one by one per fold; the rest are only counted."""


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
) -> FileFold:
    """Fold the whole of ``path`` (blocking); raises ``QueueLogMissingError``."""
    folder = QueueLogFolder(node, agent_names=agent_names, acw_reason=acw_reason)
    latest: dict[tuple[object, ...], Fact] = {}
    malformed: list[Malformed] = []
    malformed_count = lines = 0
    first: int | None = None
    newest: int | None = None
    try:
        file = path.open("rb")
    except FileNotFoundError as exc:
        raise QueueLogMissingError(f"queue_log not found: {path}") from exc
    with file:
        inode = os.fstat(file.fileno()).st_ino
        offset, line_no, carry = 0, 1, b""
        while chunk := file.read(_CHUNK):
            data = carry + chunk
            split = split_complete_lines(data, offset, line_no)
            carry = data[split.consumed :]
            offset += split.consumed
            line_no += split.newlines
            lines += len(split.lines)
            for line in split.lines:
                item = line.item
                if isinstance(item, Malformed):
                    malformed_count += 1
                    if malformed_count <= _LOGGED_MALFORMED:
                        malformed.append(item)
                        log.warning(
                            "queue_log %s line %d malformed (%s): %.200r",
                            path,
                            item.line_no,
                            item.why,
                            item.raw,
                        )
                    continue
                first = item.time if first is None else first
                newest = item.time if newest is None else max(newest, item.time)
                for fact in folder.feed(item):
                    latest[(type(fact).__name__, *fact.key)] = fact
    if malformed_count > _LOGGED_MALFORMED:
        log.warning("queue_log %s: %d malformed lines in all", path, malformed_count)
    facts = list(latest.values())
    facts += calls_from_entries(f for f in facts if isinstance(f, QueueEntryFact))
    return FileFold(
        path=path,
        inode=inode,
        end_offset=offset,
        facts=facts,
        lines=lines,
        malformed=malformed_count,
        stats=folder.stats,
        first_time=first,
        last_time=newest,
        malformed_samples=malformed,
    )
