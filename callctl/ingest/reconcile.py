"""Fill in, from queue_log, what the AMI path missed (design principle 2).

``reconcile`` folds queue_log from ``since - margin - max_call`` on (an entry
that began before ``since`` needs its ENTERQUEUE, and no call lasts longer
than ``max_call``; see ``queue_log.window`` for how that start is found, how agent
lines before it are still folded, and how rotated files are read when the
window reaches back before the current file), keeps the facts that an event
changed at or after ``since - margin``, and upserts them with source ``queue_log`` through the
writer's own SQL (``upserts.commit_facts``). Its merge is what makes this
safe next to the AMI path: a stored value is never replaced by a NULL,
``ring_attempts`` only grows, and a fact identical to the stored row is not
written at all (so the row keeps source ``ami``). Where both know a value of
a queue entry, queue_log's wins: it is Asterisk's durable record. Calls are
the exception: queue_log knows only the caller number and a late bound of the
start (``callctl.facts.calls``), so it fills a call in where AMI left a
blank and never replaces what AMI told (``upserts.Merge.AMI_FIRST``, LEAST).

Reconciling is idempotent; run it after a start, after a recorded gap
(``reconcile_pending_gaps``) or by hand (``callctl reconcile --since``).
``ingest_gaps`` rows that the run covers get ``reconciled_at``.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from callctl.db import DatabaseNotConfiguredError, asyncpg_dsn, resolve_database_url
from callctl.db_types import Connection, Queryable
from callctl.facts.from_queue_log import FoldStats
from callctl.facts.models import Fact, QueueEntryFact
from callctl.ingest.queue_log.fold import (
    FileFold,
    assume_zone,
    from_epoch,
    iso_utc,
    to_epoch,
)
from callctl.ingest.queue_log.source import QueueLogSource, describe, fold_source
from callctl.ingest.queue_log.window import DEFAULT_MAX_CALL
from callctl.ingest.upserts import commit_facts, create_stage_tables
from callctl.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_MARGIN = timedelta(hours=2)
CHUNK_FACTS = 20_000
"""Facts per transaction: bounds locks held next to the live writer."""
_ATTEMPTS = 3

EntryKey = tuple[str, str, int]
"""(callid, queue, seq) within one node."""

# Rows of the given keys, and whether this transaction wrote them: the upsert
# sets updated_at = now() (the transaction's start) only on a real change.
_ENTRY_KEYS_SQL = """
SELECT e.callid, e.queue, e.seq, e.updated_at = now() AS written
FROM unnest($2::text[], $3::text[], $4::integer[]) AS k(callid, queue, seq)
JOIN queue_entries e
  ON e.node = $1 AND e.callid = k.callid AND e.queue = k.queue AND e.seq = k.seq
"""

_MARK_GAPS_SQL = """
UPDATE ingest_gaps SET reconciled_at = now()
WHERE node = $1 AND reconciled_at IS NULL AND started_at >= $2 AND ended_at <= $3
"""

_PENDING_GAPS_SQL = """
SELECT min(started_at) FROM ingest_gaps WHERE node = $1 AND reconciled_at IS NULL
"""


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    path: Path
    node: str
    since: datetime | None
    lines_read: int
    """Non-blank lines, malformed included."""
    malformed: int
    facts_folded: int
    facts_upserted: int
    """Facts in the window sent to the database (all tables)."""
    entries_upserted: int
    entries_inserted: int
    """Queue entries that were not in the database."""
    entries_updated: int
    """Queue entries the run changed (filled in or corrected)."""
    gaps_reconciled: int
    first_time: int | None
    last_time: int | None
    stats: FoldStats

    @property
    def entries_unchanged(self) -> int:
        return self.entries_upserted - self.entries_inserted - self.entries_updated


@dataclass(frozen=True, slots=True)
class _EntryCounts:
    inserted: int = 0
    updated: int = 0


async def reconcile(
    database_url: str,
    queue_log_path: QueueLogSource,
    node: str,
    since: datetime | None,
    *,
    margin: timedelta = DEFAULT_MARGIN,
    agent_names: Mapping[str, str] | None = None,
    acw_reason: str = "acw",
    max_call: timedelta = DEFAULT_MAX_CALL,
) -> ReconcileReport:
    """Upsert the facts queue_log holds for ``[since - margin, now]`` (all of it if ``None``).

    Raises ``QueueLogMissingError``, ``ValueError`` for a naive ``since``, and
    asyncpg/OS errors when the database is unreachable.
    """
    horizon = None if since is None else to_epoch(since - margin)
    read_from = None if since is None else to_epoch(since - margin - max_call)
    read_at = datetime.now(UTC)
    fold = await fold_source(
        database_url,
        queue_log_path,
        node,
        agent_names=agent_names,
        acw_reason=acw_reason,
        read_from=read_from,
    )
    facts = fold.facts_since(horizon)
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await create_stage_tables(connection)
        inserted = updated = 0
        for start in range(0, len(facts), CHUNK_FACTS):
            counts = await _upsert_retrying(connection, node, facts[start : start + CHUNK_FACTS])
            inserted += counts.inserted
            updated += counts.updated
        gaps = await _mark_gaps(connection, node, _covered_from(fold, since), read_at)
    finally:
        await connection.close()
    report = ReconcileReport(
        path=describe(queue_log_path, node),
        node=node,
        since=since,
        lines_read=fold.lines,
        malformed=fold.malformed,
        facts_folded=len(fold.facts),
        facts_upserted=len(facts),
        entries_upserted=sum(1 for f in facts if isinstance(f, QueueEntryFact)),
        entries_inserted=inserted,
        entries_updated=updated,
        gaps_reconciled=gaps,
        first_time=fold.first_time,
        last_time=fold.last_time,
        stats=fold.stats,
    )
    log.info(
        "reconciled %s: %d facts, entries %d new / %d updated, %d gaps",
        report.path,
        report.facts_upserted,
        inserted,
        updated,
        gaps,
    )
    return report


async def reconcile_pending_gaps(
    database_url: str,
    queue_log_path: QueueLogSource,
    node: str,
    *,
    margin: timedelta = DEFAULT_MARGIN,
    agent_names: Mapping[str, str] | None = None,
    acw_reason: str = "acw",
    max_call: timedelta = DEFAULT_MAX_CALL,
) -> ReconcileReport | None:
    """Reconcile from the start of the oldest unreconciled gap; ``None`` if there is none."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        since: datetime | None = await connection.fetchval(_PENDING_GAPS_SQL, node)
    finally:
        await connection.close()
    if since is None:
        return None
    return await reconcile(
        database_url,
        queue_log_path,
        node,
        since,
        margin=margin,
        agent_names=agent_names,
        acw_reason=acw_reason,
        max_call=max_call,
    )


def _covered_from(fold: FileFold, since: datetime | None) -> datetime | None:
    """Gaps from here on are covered; before the first event read they may lie
    in an older rotated file this run did not (or could not) read."""
    if fold.first_time is None:
        return None
    start = fold.first_time if since is None else max(to_epoch(since), fold.first_time)
    return from_epoch(start)


async def _mark_gaps(
    connection: Queryable, node: str, covered_from: datetime | None, read_at: datetime
) -> int:
    if covered_from is None:
        return 0
    status: str = await connection.execute(_MARK_GAPS_SQL, node, covered_from, read_at)
    return int(status.split()[-1])


async def _upsert_retrying(
    connection: Connection, node: str, facts: Sequence[Fact]
) -> _EntryCounts:
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            return await _upsert(connection, node, facts)
        except asyncpg.TransactionRollbackError as exc:
            # A deadlock with the live writer's batch: the loser retries.
            if attempt == _ATTEMPTS:
                raise
            log.warning("reconcile batch rolled back (%r), retrying", exc)
            await asyncio.sleep(0.1 * attempt)
    raise AssertionError("unreachable")


async def _upsert(connection: Connection, node: str, facts: Sequence[Fact]) -> _EntryCounts:
    keys = [(f.callid, f.queue, f.seq) for f in facts if isinstance(f, QueueEntryFact)]
    columns = ([k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys])
    async with connection.transaction():
        before = await connection.fetch(_ENTRY_KEYS_SQL, node, *columns)
        existing = {(r["callid"], r["queue"], r["seq"]) for r in before}
        # commit_facts opens a savepoint here: one call per transaction, as
        # its stage tables empty only at commit.
        await commit_facts(connection, [(fact, "queue_log") for fact in facts])
        after = await connection.fetch(_ENTRY_KEYS_SQL, node, *columns)
    written = {(r["callid"], r["queue"], r["seq"]) for r in after if r["written"]}
    return _EntryCounts(inserted=len(written - existing), updated=len(written & existing))


def format_reconcile_report(report: ReconcileReport) -> str:
    span = (
        "no events"
        if report.first_time is None or report.last_time is None
        else f"events {iso_utc(report.first_time)} → {iso_utc(report.last_time)}"
    )
    since = "the whole file" if report.since is None else f"since {report.since.isoformat()}"
    lines = [
        f"queue_log {report.path} (node {report.node}): {report.lines_read} lines, "
        f"{report.malformed} malformed, {span}",
        f"reconciled {since}: {report.facts_upserted} of {report.facts_folded} facts upserted",
        f"queue entries: {report.entries_upserted}  new: {report.entries_inserted}  "
        f"updated: {report.entries_updated}  unchanged: {report.entries_unchanged}",
        f"ingest gaps reconciled: {report.gaps_reconciled}",
    ]
    stats = report.stats
    if stats.orphans or stats.illegal:
        lines.append(f"not folded: {stats.orphans} orphan events, {stats.illegal} out of order")
    if stats.lost_on_restart:
        lines.append(
            f"Asterisk restarted with {stats.lost_on_restart} queue entries open "
            "(the waiting ones closed as lost)"
        )
    return "\n".join(lines)


async def run_reconcile_cli(
    settings: Settings,
    since: datetime | None,
    *,
    node: str | None = None,
    source: QueueLogSource | None = None,
) -> int:
    """``callctl reconcile [--since ISO] [--node ID] [--queue-log PATH | --shipped]``:
    0 done, 2 could not run.

    A ``since`` without a time zone is read in ``settings.timezone``. Without
    ``node`` and ``source``, the configured node and its queue_log file.
    """
    try:
        report = await reconcile(
            resolve_database_url(settings),
            settings.queue_log_file if source is None else source,
            node or settings.node_id,
            assume_zone(since, settings.timezone),
            max_call=timedelta(seconds=settings.reconcile_max_call_s),
        )
    except (DatabaseNotConfiguredError, OSError, asyncpg.PostgresError) as exc:
        print(f"callctl reconcile: {exc}", file=sys.stderr)
        return 2
    print(format_reconcile_report(report))
    return 0
