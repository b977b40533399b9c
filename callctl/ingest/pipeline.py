"""The ingest pipeline of one service: AMI events → facts → writer, gaps → reconcile.

AMI callbacks run on the reader's path and must not block: ``on_event`` only folds
the event (pure, microseconds) and hands facts to the writer's in-memory queue;
``on_gap`` only queues the gap. One supervised worker records gaps in
``ingest_gaps`` and reconciles them from queue_log, retrying while PostgreSQL is
down; it also reconciles once at start, which covers the time callctl was not running.

queue_log is also followed continuously (``queue_log.follow``): each node's lines,
shipped into ``queue_log_lines`` by ``callctl ship-queue-log`` on its host or, for
a node whose file is local, by a shipper running here (``queue_log.ship``), are
folded as they arrive, and their facts correct what AMI said within seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from ami.connection import Gap
from ami.events import AmiEvent, FullyBooted
from callctl.db import asyncpg_dsn
from callctl.facts.models import Fact
from callctl.ingest.normalizer import AmiNormalizer
from callctl.ingest.queue_log.follow import FactsSink, QueueLogFollower
from callctl.ingest.queue_log.ship import PostgresLineSink, QueueLogShipper, StateFile
from callctl.ingest.queue_log.shipped import Shipped
from callctl.ingest.queue_log.source import QueueLogSource
from callctl.ingest.queue_log.window import DEFAULT_MAX_CALL
from callctl.ingest.raw_events import RawEventWriter, drop_expired_partitions
from callctl.ingest.reconcile import reconcile, reconcile_pending_gaps
from callctl.ingest.rollup_refresher import RollupRefresher
from callctl.ingest.writer import FactWriter
from kpi.inputs import AcwCapsLoader

log = logging.getLogger(__name__)

_INSERT_GAP = """
INSERT INTO ingest_gaps (node, started_at, ended_at, reason)
VALUES ($1, $2, $3, $4)
ON CONFLICT (node, started_at, reason) DO UPDATE SET ended_at = EXCLUDED.ended_at
"""
_LAST_SEEN = "SELECT max(entered_at) FROM queue_entries WHERE node = $1"
# Entries that began before a gap ended and were still open when it was reconciled:
# their end may come on AMI for a call the normalizer never saw, so queue_log must
# finish them.
_STILL_OPEN = """
SELECT count(*) FROM queue_entries
WHERE node = $1 AND entered_at <= $2 AND entered_at >= $3
  AND (outcome IS NULL OR (outcome = 'answered' AND completed_at IS NULL))
"""


LiveSink = Callable[[AmiEvent, list[Fact]], None]
"""Takes each event and its facts on the reader's path (``callctl.live.hub.LiveHub``)."""


@dataclass(frozen=True, slots=True)
class PendingGap:
    node: str
    started_at: datetime
    ended_at: datetime
    reason: str


@dataclass(slots=True)
class PipelineStats:
    events: int = 0
    facts: int = 0
    callback_errors: int = 0
    gaps_recorded: int = 0
    reconciles: int = 0
    reconcile_failures: int = 0
    last_event_at: float | None = None
    by_event: dict[str, int] = field(default_factory=dict)


class IngestPipeline:
    def __init__(
        self,
        database_url: str,
        spool_dir: Path,
        queue_log_paths: Mapping[str, Path],
        *,
        retry_s: float = 5.0,
        follow_up_s: float = 5.0,
        follow_up_horizon: timedelta = timedelta(hours=4),
        raw_event_retention_months: int = 13,
        reconcile_max_call: timedelta = DEFAULT_MAX_CALL,
        acw_caps: AcwCapsLoader,
        shipped_nodes: Sequence[str] = (),
        follow_queue_log: bool = True,
        rollup_quiet_s: float = 0.0,
    ) -> None:
        """``queue_log_paths``: nodes whose queue_log file is readable here (a shipper
        runs in this process, its position in ``spool_dir``); ``shipped_nodes``:
        nodes whose lines ``callctl ship-queue-log`` ships from their host."""
        self._url = database_url
        self._queue_logs: dict[str, QueueLogSource] = dict(queue_log_paths)
        self._queue_logs.update({node: Shipped() for node in shipped_nodes})
        self._normalizers = {node: AmiNormalizer(node) for node in self._queue_logs}
        self.writer = FactWriter(database_url, spool_dir)
        self.raw_events = RawEventWriter(database_url)
        # KPI rollups: dirty 15-minute intervals refreshed in the background.
        self.rollups = RollupRefresher(database_url, acw_caps, quiet_s=rollup_quiet_s)
        self._retention_months = raw_event_retention_months
        self._max_call = reconcile_max_call
        self._retention: asyncio.Task[None] | None = None
        self.stats = PipelineStats()
        self._gaps: asyncio.Queue[PendingGap] = asyncio.Queue()
        self._retry_s = retry_s
        self._follow_up_s = follow_up_s
        self._follow_up_horizon = follow_up_horizon
        # node -> (reconcile from, gap end): calls open across a gap, to finish later.
        self._follow_ups: dict[str, tuple[datetime, datetime]] = {}
        self._worker: asyncio.Task[None] | None = None
        self.startup_reconciled = asyncio.Event()
        self._restarts_seen: dict[str, int] = {}
        self.live: LiveSink | None = None
        self.corrections: FactsSink | None = None
        """Takes the facts the queue_log followers committed (the live view)."""
        self.shippers: dict[str, QueueLogShipper] = {}
        self.followers: dict[str, QueueLogFollower] = {}
        if follow_queue_log:
            self._build_followers(dict(queue_log_paths), spool_dir)
        self._queue_log_tasks: list[asyncio.Task[None]] = []

    def _build_followers(self, local: dict[str, Path], spool_dir: Path) -> None:
        for node, path in local.items():
            self.shippers[node] = QueueLogShipper(
                node,
                path,
                PostgresLineSink(self._url, node),
                StateFile(spool_dir / f"queue_log-{node}.position", node),
            )
        for node in self._queue_logs:
            self.followers[node] = QueueLogFollower(
                self._url,
                node,
                on_facts=self._on_corrections,
                warm_up_s=int(self._max_call.total_seconds()),
            )

    def _on_corrections(self, facts: list[Fact]) -> None:
        if self.corrections is not None:
            self.corrections(facts)

    async def start(self) -> None:
        await self.writer.start()
        await self.raw_events.start()
        await self.rollups.start()  # KPI rollups
        self._worker = asyncio.create_task(self._gap_worker(), name="callctl-gap-worker")
        self._worker.add_done_callback(_log_crash)
        self._retention = asyncio.create_task(self._retention_loop(), name="callctl-retention")
        self._retention.add_done_callback(_log_crash)
        for node, shipper in self.shippers.items():
            task = asyncio.create_task(shipper.run(), name=f"callctl-ship-queue-log-{node}")
            task.add_done_callback(_log_crash)
            self._queue_log_tasks.append(task)
        for node, follower in self.followers.items():
            task = asyncio.create_task(follower.run(), name=f"callctl-follow-queue-log-{node}")
            task.add_done_callback(_log_crash)
            self._queue_log_tasks.append(task)

    async def close(self) -> None:
        for task in (*self._queue_log_tasks, self._worker, self._retention):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._worker = self._retention = None
        self._queue_log_tasks = []
        await self.rollups.close()  # KPI rollups
        await self.raw_events.close()
        await self.writer.close()

    # --- AMI callbacks (must not block) ----------------------------------------------

    def on_event(self, event: AmiEvent) -> None:
        self.stats.events += 1
        self.stats.last_event_at = event.received_at
        self.stats.by_event[event.name] = self.stats.by_event.get(event.name, 0) + 1
        self.raw_events.submit(event)
        normalizer = self._normalizers.get(event.node)
        facts = normalizer.feed(event) if normalizer is not None else []
        if isinstance(event, FullyBooted) and normalizer is not None:
            self._after_restart(event, normalizer)
        for fact in facts:
            self.writer.submit(fact, "ami")
            self.stats.facts += 1
        # Live state (callctl.live): every event, in the reader's order, with the very
        # facts just handed to the writer. Synchronous and non-blocking by contract.
        if self.live is not None:
            self.live(event, facts)

    def on_gap(self, gap: Gap) -> None:
        self._gaps.put_nowait(
            PendingGap(
                node=gap.node,
                started_at=datetime.fromtimestamp(gap.started_at, UTC),
                ended_at=datetime.fromtimestamp(gap.ended_at, UTC),
                reason="ami",
            )
        )

    def _after_restart(self, event: AmiEvent, normalizer: AmiNormalizer) -> None:
        """The node restarted (it lost its callers and members): for a node without a
        queue_log follower, reconcile from queue_log once the AMI facts of the restart are
        written, so that QUEUESTART's exact time is what stays."""
        restarts = normalizer.stats.restarts
        if restarts <= self._restarts_seen.get(event.node, 0):
            return
        self._restarts_seen[event.node] = restarts
        if event.node in self.followers:
            return  # its follower folds QUEUESTART as it is written: nothing to reconcile
        at = datetime.fromtimestamp(event.received_at, UTC)
        self._gaps.put_nowait(PendingGap(event.node, at, at, "restart"))

    # --- worker ------------------------------------------------------------------------

    async def _gap_worker(self) -> None:
        await self._startup_reconcile()
        self.startup_reconciled.set()
        while True:
            wait = self._follow_up_s if self._follow_ups else None
            try:
                gap = await asyncio.wait_for(self._gaps.get(), timeout=wait)
            except TimeoutError:
                await self._retrying(self._follow_up)
                continue
            await self._retrying(self._record_and_reconcile, gap)

    async def _startup_reconcile(self) -> None:
        """callctl was not running before now: reconcile from the last fact it stored."""
        now = datetime.now(UTC)
        for node in self._queue_logs:
            await self._retrying(self._startup_node, node, now)

    async def _startup_node(self, node: str, now: datetime) -> None:
        conn = await asyncpg.connect(asyncpg_dsn(self._url), timeout=5)
        try:
            last: datetime | None = await conn.fetchval(_LAST_SEEN, node)
        finally:
            await conn.close()
        started = last or (now - timedelta(days=1))
        await self._insert_gap(PendingGap(node, started, now, "startup"))
        await reconcile_pending_gaps(
            self._url, self._queue_logs[node], node, max_call=self._max_call
        )
        self.stats.reconciles += 1
        self._watch_open_calls(node, started, now)

    async def _insert_gap(self, gap: PendingGap) -> None:
        conn = await asyncpg.connect(asyncpg_dsn(self._url), timeout=5)
        try:
            await conn.execute(_INSERT_GAP, gap.node, gap.started_at, gap.ended_at, gap.reason)
        finally:
            await conn.close()
        self.stats.gaps_recorded += 1

    async def _record_and_reconcile(self, gap: PendingGap) -> None:
        await self._insert_gap(gap)
        # The AMI facts of the gap's neighbourhood may still sit in the writer: let them
        # land first so reconcile only fills in what is missing.
        await self.writer.flush()
        await reconcile(
            self._url,
            self._queue_logs[gap.node],
            gap.node,
            gap.started_at,
            max_call=self._max_call,
        )
        self.stats.reconciles += 1
        self._watch_open_calls(gap.node, gap.started_at, gap.ended_at)

    def _watch_open_calls(self, node: str, since: datetime, gap_end: datetime) -> None:
        # A node's queue_log follower folds the lines of calls open across the gap as
        # they are written: reconciling again would only repeat its work.
        if node not in self.followers:
            self._follow_ups[node] = (since, gap_end)

    async def _follow_up(self) -> None:
        """Reconcile again while calls that straddled a gap are still open."""
        now = datetime.now(UTC)
        for node, (since, gap_end) in list(self._follow_ups.items()):
            conn = await asyncpg.connect(asyncpg_dsn(self._url), timeout=5)
            try:
                still_open = await conn.fetchval(
                    _STILL_OPEN, node, gap_end, since - timedelta(hours=2)
                )
            finally:
                await conn.close()
            if not still_open or now - gap_end > self._follow_up_horizon:
                del self._follow_ups[node]
                continue
            await self.writer.flush()
            await reconcile(self._url, self._queue_logs[node], node, since, max_call=self._max_call)
            self.stats.reconciles += 1

    async def _retrying(self, step: Callable[..., Awaitable[None]], *args: object) -> None:
        while True:
            try:
                await step(*args)
                return
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                self.stats.reconcile_failures += 1
                log.warning("reconcile step failed (%s); retrying in %.0f s", exc, self._retry_s)
                await asyncio.sleep(self._retry_s)

    async def _retention_loop(self) -> None:
        """Drop raw-event partitions past the retention, at start and then daily."""
        while True:
            try:
                dropped = await drop_expired_partitions(
                    self._url, self._retention_months, datetime.now(UTC).date()
                )
                if dropped:
                    log.info("raw events: dropped expired partitions %s", dropped)
                    self.raw_events.metrics.partitions_dropped += len(dropped)
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                log.warning("raw events: retention failed (%s); next try in an hour", exc)
                await asyncio.sleep(3600)
                continue
            await asyncio.sleep(86_400)


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s crashed", task.get_name(), exc_info=task.exception())
