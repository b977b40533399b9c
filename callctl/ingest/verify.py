"""Compare the queue entries in PostgreSQL with those queue_log yields (``callctl verify``).

queue_log is folded into facts exactly as ``reconcile`` does; the database's
rows for the same node and window are loaded; ``compare_entries`` (pure)
matches them on the natural key ``(node, callid, queue, seq)`` and reports
entries missing from the database, extra ones (in the database but not in
queue_log: a duplicate under another key, or invented), and KPI fields that
differ. An entry still open at the end of the log is compared as it is then:
if the live path moved it on after the file was read, run verify again.

The window is ``[since, last event read]``, clamped to start at the first event
read: an older entry may sit in a rotated file that is gone, and a newer database
row may belong to a line written after the read. With ``since``, rotated files
that the window reaches back into are read first (``queue_log.window``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final, TypeVar

import asyncpg

from callctl.db import DatabaseNotConfiguredError, asyncpg_dsn, resolve_database_url
from callctl.db_types import Queryable
from callctl.facts.models import QueueEntryFact
from callctl.ingest.queue_log.fold import (
    assume_zone,
    iso_utc,
    to_epoch,
)
from callctl.ingest.queue_log.source import QueueLogSource, describe, fold_source
from callctl.ingest.queue_log.window import DEFAULT_MAX_CALL
from callctl.ingest.stored import ENTRY_COLUMNS, entry_from_row
from callctl.settings import Settings

KPI_FIELDS: Final[tuple[str, ...]] = (
    "entered_at",
    "caller_num",
    "position",
    "outcome",
    "wait_s",
    "agent",
    "ring_attempts",
    "talk_s",
    "hangup_side",
    "line",
)
"""What KPIs are computed from, hence what must agree."""

OPTIONAL_IN_QUEUE_LOG: Final[frozenset[str]] = frozenset({"line"})
"""Fields a queue_log line may lack (written before the dialplan passed the line
as Queue's URL argument): queue_log's silence there is no difference."""

EntryKey = tuple[str, str, str, int]
_T = TypeVar("_T")

DETAILS: Final = 20
"""Entries listed per kind of difference in ``format_report``."""


@dataclass(frozen=True, slots=True)
class FieldDifference:
    field: str
    queue_log: object
    db: object


@dataclass(frozen=True, slots=True)
class EntryDifference:
    key: EntryKey
    fields: tuple[FieldDifference, ...]


@dataclass(frozen=True, slots=True)
class Comparison:
    expected: int
    """Entries from queue_log."""
    actual: int
    """Rows from the database."""
    missing: tuple[QueueEntryFact, ...]
    extra: tuple[QueueEntryFact, ...]
    differing: tuple[EntryDifference, ...]

    @property
    def differences(self) -> int:
        return len(self.missing) + len(self.extra) + len(self.differing)


def compare_entries(
    from_queue_log: Iterable[QueueEntryFact],
    from_db: Iterable[QueueEntryFact],
    fields: tuple[str, ...] = KPI_FIELDS,
) -> Comparison:
    """Match entries on their key and compare ``fields`` (pure).

    A key seen twice on the database side counts as extra the second time.
    """
    expected = {entry.key: entry for entry in from_queue_log}
    seen: dict[EntryKey, QueueEntryFact] = {}
    extra: list[QueueEntryFact] = []
    actual_count = 0
    for row in from_db:
        actual_count += 1
        if row.key in seen or row.key not in expected:
            extra.append(row)
        else:
            seen[row.key] = row
    missing = [entry for key, entry in expected.items() if key not in seen]
    differing: list[EntryDifference] = []
    for key, entry in expected.items():
        stored = seen.get(key)
        if stored is None:
            continue
        diffs = tuple(
            FieldDifference(name, getattr(entry, name), getattr(stored, name))
            for name in fields
            if getattr(entry, name) != getattr(stored, name)
            and not (name in OPTIONAL_IN_QUEUE_LOG and getattr(entry, name) is None)
        )
        if diffs:
            differing.append(EntryDifference(key, diffs))
    return Comparison(
        expected=len(expected),
        actual=actual_count,
        missing=tuple(missing),
        extra=tuple(extra),
        differing=tuple(differing),
    )


@dataclass(frozen=True, slots=True)
class VerifyReport:
    path: Path
    node: str
    window_start: int | None
    """Epoch seconds; ``None`` when queue_log holds no event (nothing compared)."""
    window_end: int | None
    lines_read: int
    malformed: int
    comparison: Comparison
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.comparison.differences == 0


_LOAD_SQL = f"""
SELECT {ENTRY_COLUMNS}
FROM queue_entries
WHERE node = $1 AND entered_at >= to_timestamp($2) AND entered_at <= to_timestamp($3)
ORDER BY entered_at, callid, queue, seq
"""


async def load_entries(
    connection: Queryable, node: str, start: int, end: int
) -> list[QueueEntryFact]:
    """The node's queue entries that entered in ``[start, end]`` (epoch seconds)."""
    rows = await connection.fetch(_LOAD_SQL, node, start, end)
    return [entry_from_row(row) for row in rows]


async def verify(
    database_url: str,
    queue_log_path: QueueLogSource,
    node: str,
    since: datetime | None,
    *,
    agent_names: Mapping[str, str] | None = None,
    acw_reason: str = "acw",
    max_call: timedelta = DEFAULT_MAX_CALL,
) -> VerifyReport:
    """Compare; see the module docstring. Reads only, never writes.

    With ``since``, queue_log is read from ``since - max_call`` on (a file's
    rotated siblings too, when the window reaches back before it); without it,
    the whole current file, or all the node's shipped lines.
    """
    read_from = None if since is None else to_epoch(since - max_call)
    fold = await fold_source(
        database_url,
        queue_log_path,
        node,
        agent_names=agent_names,
        acw_reason=acw_reason,
        read_from=read_from,
    )
    queue_log_path = describe(queue_log_path, node)
    notes: list[str] = []
    if fold.first_time is None or fold.last_time is None:
        notes.append("queue_log holds no event: nothing compared")
        return VerifyReport(
            path=queue_log_path,
            node=node,
            window_start=None,
            window_end=None,
            lines_read=fold.lines,
            malformed=fold.malformed,
            comparison=compare_entries([], []),
            notes=tuple(notes),
        )
    start = fold.first_time
    if since is not None:
        if to_epoch(since) < start:
            notes.append(
                f"queue_log begins at {iso_utc(start)}, after --since: "
                "earlier entries are not compared"
            )
        start = max(start, to_epoch(since))
    end = fold.last_time
    expected = [e for e in fold.entries if start <= e.entered_at <= end]
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        stored = await load_entries(connection, node, start, end)
    finally:
        await connection.close()
    return VerifyReport(
        path=queue_log_path,
        node=node,
        window_start=start,
        window_end=end,
        lines_read=fold.lines,
        malformed=fold.malformed,
        comparison=compare_entries(expected, stored),
        notes=tuple(notes),
    )


def format_report(report: VerifyReport, *, details: int = DETAILS) -> str:
    """A short summary line, then up to ``details`` entries per kind of difference."""
    c = report.comparison
    window = (
        "no window"
        if report.window_start is None or report.window_end is None
        else f"{iso_utc(report.window_start)} → {iso_utc(report.window_end)}"
    )
    lines = [
        f"queue_log {report.path} (node {report.node}), {window}",
        f"queue_log entries: {c.expected}  db entries: {c.actual}  missing: {len(c.missing)}  "
        f"extra: {len(c.extra)}  differing: {len(c.differing)}",
    ]
    if report.malformed:
        lines.append(f"malformed queue_log lines: {report.malformed} (logged, skipped)")
    lines += [f"note: {note}" for note in report.notes]
    lines += _listed("missing in db", c.missing, _describe_entry, details)
    lines += _listed("extra in db", c.extra, _describe_entry, details)
    lines += _listed("differing", c.differing, _describe_difference, details)
    return "\n".join(lines)


def _listed(
    title: str, items: Sequence[_T], describe: Callable[[_T], str], details: int
) -> list[str]:
    if not items:
        return []
    shown = [f"{title}:"] + [f"  {describe(item)}" for item in items[:details]]
    if len(items) > details:
        shown.append(f"  … and {len(items) - details} more")
    return shown


def _key_text(key: EntryKey) -> str:
    _node, callid, queue, seq = key
    return f"{callid} {queue} #{seq}"


def _describe_entry(entry: QueueEntryFact) -> str:
    outcome = entry.outcome or "open"
    return f"{_key_text(entry.key)} entered {iso_utc(entry.entered_at)} {outcome}"


def _describe_difference(difference: EntryDifference) -> str:
    fields = ", ".join(
        f"{d.field} queue_log={_value(d.queue_log)} db={_value(d.db)}" for d in difference.fields
    )
    return f"{_key_text(difference.key)}: {fields}"


def _value(value: object) -> str:
    return "NULL" if value is None else str(value)


async def run_verify_cli(
    settings: Settings,
    since: datetime | None,
    *,
    node: str | None = None,
    source: QueueLogSource | None = None,
) -> int:
    """``callctl verify [--since ISO] [--node ID] [--queue-log PATH | --shipped]``:
    0 no difference, 1 differences, 2 could not run.

    A ``since`` without a time zone is read in ``settings.timezone``. Without
    ``node`` and ``source``, the configured node and its queue_log file.
    """
    try:
        report = await verify(
            resolve_database_url(settings),
            settings.queue_log_file if source is None else source,
            node or settings.node_id,
            assume_zone(since, settings.timezone),
        )
    except (DatabaseNotConfiguredError, OSError, asyncpg.PostgresError) as exc:
        print(f"callctl verify: {exc}", file=sys.stderr)
        return 2
    print(format_report(report))
    return 0 if report.ok else 1
