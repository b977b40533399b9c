"""The fact writer: batched, idempotent commits, with an on-disk spool when needed.

``submit`` is synchronous and O(1): the AMI reader never waits for PostgreSQL
(design principle 1). One background task does everything else, one step at a
time, which keeps commit order equal to submission order:

* a batch is flushed when ``batch_size`` facts are queued or the oldest has
  waited ``flush_interval_s``; each batch is one transaction;
* when PostgreSQL is unreachable, or the in-memory queue holds ``max_queue``
  facts, queued facts are appended to the spool (fsync'd) instead;
* while the spool holds anything, it is drained (oldest segment first) before
  any in-memory batch, so every spooled fact commits before every queued one.
  A segment is deleted only after all its records committed; a retry after a
  failure mid-segment replays it, which the merging upserts make harmless
  (design principle 2);
* reachability is detected by trying: a failed connect or commit marks the
  database down and the next attempt waits with exponential backoff.

The queue is checked against ``max_queue`` between the task's awaits, so it can
overshoot by what arrives during one commit (bounded by ``command_timeout_s``),
one connect attempt (``connect_timeout_s``) or one spool append.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import asyncpg

from callctl.db_types import Pool
from callctl.facts.models import Fact
from callctl.ingest.connection import DATA_ERRORS, DatabaseTarget, create_writer_pool
from callctl.ingest.fact_codec import (
    FACT_TYPES,
    FactRecordError,
    FactSource,
    decode_fact_record,
    encode_fact_record,
    is_fact_source,
)
from callctl.ingest.metrics import LatencyReservoir, WriterMetrics
from callctl.ingest.spool import DeadLetters, SegmentContents, Spool
from callctl.ingest.upserts import commit_facts

logger = logging.getLogger(__name__)

Sourced = tuple[Fact, FactSource]
_Queued = tuple[Fact, FactSource, float]
"""A submitted fact, its source and its ``time.monotonic()`` at submit."""

_FACT_CLASSES = frozenset(FACT_TYPES.values())


@dataclass(frozen=True, slots=True)
class WriterConfig:
    batch_size: int = 2_000
    flush_interval_s: float = 0.5
    """How long a fact may wait for its batch. Each batch is a transaction of several
    round trips (BEGIN, COPY and upsert per table, COMMIT): at 20 calls/s, 0.5 s rather
    than 0.2 s cut them from 5 to 2 a second. The live view gets facts on the reader's
    path, not from the database, so it does not wait for this."""
    max_queue: int = 50_000
    drain_batch_size: int = 10_000
    """Spooled facts per transaction when draining: bigger batches catch up faster."""
    retry_initial_s: float = 0.25
    retry_max_s: float = 2.0
    """Caps how long a returned database goes unnoticed."""
    connect_timeout_s: float = 5.0
    command_timeout_s: float = 10.0
    segment_max_bytes: int = 8 << 20
    latency_samples: int = 8_192
    rollback_attempts: int = 3
    """Tries of a batch PostgreSQL rolls back as a deadlock or serialization victim
    before the writer treats the database as unavailable (and spools)."""


class WriterClosedError(RuntimeError):
    error_id = "ingest.writer_closed"


class _Unavailable(Exception):
    """The database could not take a batch now; the batch is intact."""


class _Refused(Exception):
    """PostgreSQL refused a batch's content (see ``DATA_ERRORS``)."""


class FactWriter:
    """Writes facts to PostgreSQL; see the module docstring.

    ``async with FactWriter(url, spool_dir) as writer: writer.submit(fact)``, or
    ``await start()`` … ``await close()``.
    """

    def __init__(
        self,
        database_url: DatabaseTarget,
        spool_dir: Path,
        config: WriterConfig | None = None,
    ) -> None:
        self.config = config or WriterConfig()
        self.metrics = WriterMetrics(latency=LatencyReservoir(self.config.latency_samples))
        self._target = database_url
        self._spool = Spool(spool_dir, segment_max_bytes=self.config.segment_max_bytes)
        self._dead_letters = DeadLetters(spool_dir)
        self._queue: deque[_Queued] = deque()
        self._wake = asyncio.Event()
        self._stepped = asyncio.Event()
        self._flush_requested = False
        self._stepping = False
        self._closing = False
        self._closed = False
        self._task: asyncio.Task[None] | None = None
        self._pool: Pool | None = None
        self._retry_at = 0.0
        self._backoff_s = self.config.retry_initial_s

    # --- lifecycle -----------------------------------------------------------

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("writer already started")
        await asyncio.to_thread(self._spool.open)
        self.metrics.spool_pending = self._spool.pending_records
        self.metrics.spool_corrupt_segments = self._spool.corrupt_segments
        if self._spool.corrupt_segments:
            logger.warning("spool: %d segment(s) with a torn tail", self._spool.corrupt_segments)
        self._task = asyncio.create_task(self._run(), name="callctl-fact-writer")
        self._task.add_done_callback(self._on_task_done)

    async def close(self) -> None:
        """Commit (or, if the database is down, spool) what is queued, then stop."""
        if self._closed:
            return
        self._closed = True
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        else:  # never started: nothing may be lost either
            await asyncio.to_thread(self._spool.open)
            await self._spill(self._take_all())
            await asyncio.to_thread(self._spool.close)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            logger.error("fact writer stopped", exc_info=task.exception())

    # --- the producer side -----------------------------------------------------

    def submit(self, fact: Fact, source: FactSource = "ami") -> None:
        """Queue ``fact``; never blocks, never waits for the database."""
        if self._closed:
            raise WriterClosedError("fact writer is closed")
        if type(fact) not in _FACT_CLASSES:
            raise TypeError(f"not a fact: {type(fact).__name__}")
        if not is_fact_source(source):
            raise ValueError(f"unknown fact source {source!r}")
        queue = self._queue
        queue.append((fact, source, time.monotonic()))
        self.metrics.facts_submitted += 1
        depth = len(queue)
        self.metrics.queue_depth = depth
        if depth == 1 or depth % self.config.batch_size == 0:
            self._wake.set()

    async def flush(self) -> None:
        """Wait until every fact submitted so far is committed (queue and spool empty).

        Waits as long as the database is down: bound it with ``asyncio.timeout``.
        """
        # ``_stepping``: a batch taken from the queue may still be in flight.
        while self._queue or self._spool.pending_records or self._stepping:
            if self._task is None or self._task.done():
                raise WriterClosedError("fact writer is not running")
            # Wake the task only to start a flush: waking it on every step
            # would spin it while the database is down.
            if not self._flush_requested:
                self._flush_requested = True
                self._wake.set()
            self._stepped.clear()
            await self._stepped.wait()

    # --- the background task ---------------------------------------------------

    async def _run(self) -> None:
        try:
            while not self._closing:
                await self._wait_for_work()
                if self._closing:
                    break
                self._stepping = True
                try:
                    await self._step()
                finally:
                    self._stepping = False
                self._stepped.set()
            await self._shutdown()
        finally:
            self._stepped.set()
            self._drop_pool()
            await asyncio.to_thread(self._spool.close)

    async def _wait_for_work(self) -> None:
        self._wake.clear()
        now = time.monotonic()
        timeout: float | None = None
        if self._queue:
            if self._flush_due(now):
                return
            timeout = self._queue[0][2] + self.config.flush_interval_s - now
        if self._spool.pending_records:
            if self._pool is not None:
                return
            retry_in = max(0.0, self._retry_at - now)
            timeout = retry_in if timeout is None else min(timeout, retry_in)
        try:
            async with asyncio.timeout(timeout):
                await self._wake.wait()
        except TimeoutError:
            pass

    def _flush_due(self, now: float) -> bool:
        queue = self._queue
        return bool(queue) and (
            len(queue) >= self.config.batch_size
            or now - queue[0][2] >= self.config.flush_interval_s
            or self._flush_requested
            or self._closing
        )

    async def _step(self) -> None:
        if not await self._connect():
            if self._flush_due(time.monotonic()):
                await self._spill(self._take_all())
            return
        try:
            if self._spool.pending_records:
                try:
                    await self._drain_spool()
                except OSError as exc:
                    # Unreadable spool: keep it for an operator, retry later.
                    logger.error("spool drain failed: %r", exc)
                    self.metrics.spool_errors += 1
                    self.metrics.last_error = repr(exc)
                    await asyncio.sleep(self.config.retry_max_s)
                    return
            while self._flush_due(time.monotonic()) and not self._spool.pending_records:
                batch = self._take(self.config.batch_size)
                try:
                    await self._commit_queued(batch)
                except _Unavailable:
                    self._queue.extendleft(reversed(batch))
                    raise
                if len(self._queue) >= self.config.max_queue:
                    # Backpressure: PostgreSQL is slower than the submitters.
                    await self._spill(self._take_all())
        except _Unavailable:
            await self._spill(self._take_all())
        if not self._queue:
            self._flush_requested = False

    async def _shutdown(self) -> None:
        remaining = self._take_all()
        if not remaining:
            return
        # Commit directly only if that keeps order (nothing spooled) and the
        # database is up; otherwise the spool keeps them for the next start.
        if not self._spool.pending_records and await self._connect():
            size = self.config.batch_size
            while remaining:
                batch, remaining = remaining[:size], remaining[size:]
                try:
                    await self._commit_queued(batch)
                except _Unavailable:
                    remaining = batch + remaining
                    break
        if remaining and not await self._spill(remaining):
            logger.error(
                "fact writer closed with %d facts neither committed nor spooled", len(remaining)
            )

    # --- queue ---------------------------------------------------------------

    def _take(self, count: int) -> list[_Queued]:
        queue = self._queue
        batch = [queue.popleft() for _ in range(min(count, len(queue)))]
        self.metrics.queue_depth = len(queue)
        return batch

    def _take_all(self) -> list[_Queued]:
        batch = list(self._queue)
        self._queue.clear()
        self.metrics.queue_depth = 0
        return batch

    # --- database --------------------------------------------------------------

    async def _connect(self) -> bool:
        if self._pool is not None:
            return True
        if time.monotonic() < self._retry_at:
            return False
        try:
            self._pool = await create_writer_pool(
                self._target,
                connect_timeout_s=self.config.connect_timeout_s,
                command_timeout_s=self.config.command_timeout_s,
            )
        except Exception as exc:  # any failure to connect means "not reachable now"
            self._mark_down(exc)
            return False
        if not self.metrics.db_available:
            logger.info("fact writer: database reachable")
        self.metrics.db_available = True
        self._backoff_s = self.config.retry_initial_s
        return True

    def _mark_down(self, exc: BaseException) -> None:
        if self.metrics.db_available:
            logger.warning("fact writer: database unavailable, spooling: %r", exc)
        else:
            logger.debug("fact writer: database still unavailable: %r", exc)
        self.metrics.db_available = False
        self.metrics.last_error = repr(exc)
        self._retry_at = time.monotonic() + self._backoff_s
        self._backoff_s = min(self._backoff_s * 2, self.config.retry_max_s)
        self._drop_pool()

    def _drop_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            # terminate, not close: close would wait on a hung connection.
            pool.terminate()

    async def _commit(self, facts: Sequence[Sourced]) -> None:
        """One transaction; raises ``_Unavailable`` or ``_Refused``.

        A batch PostgreSQL rolled back as a deadlock or serialization victim (another
        transaction, e.g. the queue_log follower's, held rows it needed) is tried
        again at once on the same connection: the database is up, and treating it as
        down would spool every queued fact and reconnect, seconds of lag for nothing.
        """
        for attempt in range(1, self.config.rollback_attempts + 1):
            if self._pool is None:
                raise _Unavailable("not connected")
            try:
                async with asyncio.timeout(self.config.command_timeout_s):
                    async with self._pool.acquire() as connection:
                        await commit_facts(connection, facts)
                return
            except DATA_ERRORS as exc:
                raise _Refused(repr(exc)) from exc
            except asyncpg.TransactionRollbackError as exc:
                self.metrics.rollback_retries += 1
                if attempt < self.config.rollback_attempts:
                    logger.info("fact writer: batch rolled back (%r), retrying", exc)
                    continue
                self._mark_down(exc)
                raise _Unavailable(repr(exc)) from exc
            except Exception as exc:  # lost connection, timeout, server error: retry later
                self._mark_down(exc)
                raise _Unavailable(repr(exc)) from exc

    async def _commit_isolating(self, facts: Sequence[Sourced]) -> None:
        """Commit; if PostgreSQL refuses the content, bisect to set aside only the culprits."""
        try:
            await self._commit(facts)
        except _Refused as refused:
            if len(facts) == 1:
                await self._reject(facts[0], str(refused))
                return
            middle = len(facts) // 2
            await self._commit_isolating(facts[:middle])
            await self._commit_isolating(facts[middle:])

    async def _commit_queued(self, batch: list[_Queued]) -> None:
        await self._commit_isolating([(fact, source) for fact, source, _ in batch])
        now = time.monotonic()
        self.metrics.facts_committed += len(batch)
        self.metrics.batches_committed += 1
        self.metrics.last_commit_lag_s = now - batch[0][2]
        self.metrics.latency.extend(now - submitted for _, _, submitted in batch)
        for _, _, submitted in batch:
            self.metrics.event_to_fact.observe(now - submitted)

    async def _reject(self, fact: Sourced, error: str) -> None:
        logger.error(
            "fact refused by PostgreSQL, kept in %s: %s %s", self._dead_letters.path, fact[0], error
        )
        await asyncio.to_thread(self._dead_letters.append, encode_fact_record(*fact), error)
        self.metrics.facts_rejected += 1

    # --- spool -----------------------------------------------------------------

    async def _spill(self, batch: list[_Queued]) -> bool:
        """Append queued facts to the spool; on a disk error they go back in the queue."""
        if not batch:
            return True
        facts = [(fact, source) for fact, source, _ in batch]
        try:
            await asyncio.to_thread(self._append_to_spool, facts)
        except OSError as exc:
            logger.error("spool append failed, %d facts kept in memory: %r", len(batch), exc)
            self.metrics.spool_errors += 1
            self.metrics.last_error = repr(exc)
            self._queue.extendleft(reversed(batch))
            self.metrics.queue_depth = len(self._queue)
            # A full or failing disk does not heal in a millisecond: pause the
            # writer task (never the submitters) instead of spinning.
            if not self._closing:
                await asyncio.sleep(self.config.retry_max_s)
            return False
        self.metrics.spooled_records += len(batch)
        self.metrics.spool_pending = self._spool.pending_records
        return True

    def _append_to_spool(self, facts: list[Sourced]) -> None:
        # Runs in a worker thread: encoding 50k facts would stall the event loop.
        self._spool.append([encode_fact_record(fact, source) for fact, source in facts])

    async def _drain_spool(self) -> None:
        """Commit spooled segments oldest first; raises ``_Unavailable``.

        Reading ahead in a thread was tried and measured slower: decoding holds
        the GIL and delays the loop thread's handling of PostgreSQL's replies.
        """
        started, drained = time.monotonic(), 0
        while (segments := self._spool.segments()) and not self._closing:
            loaded = await asyncio.to_thread(self._load_segment, segments[0])
            await self._commit_segment(loaded)
            drained += len(loaded.contents.records)
        if drained:
            logger.info("spool: %d facts committed in %.1f s", drained, time.monotonic() - started)

    def _load_segment(self, path: Path) -> _LoadedSegment:
        return _decode_segment(self._spool.read_segment(path))

    async def _commit_segment(self, loaded: _LoadedSegment) -> None:
        size = self.config.drain_batch_size
        for start in range(0, len(loaded.facts), size):
            await self._commit_isolating(loaded.facts[start : start + size])
            self.metrics.batches_committed += 1
            if len(self._queue) >= self.config.max_queue:
                await self._spill(self._take_all())
        # Counted only now: a failure above replays the whole segment later.
        self.metrics.facts_committed += len(loaded.facts)
        for payload, error in loaded.undecodable:
            logger.error("spool record does not decode, set aside: %s", error)
            await asyncio.to_thread(self._dead_letters.append, payload, error)
            self.metrics.facts_rejected += 1
        await asyncio.to_thread(self._spool.remove, loaded.contents)
        self.metrics.spool_pending = self._spool.pending_records


@dataclass(frozen=True, slots=True)
class _LoadedSegment:
    contents: SegmentContents
    facts: list[Sourced]
    undecodable: list[tuple[bytes, str]]


def _decode_segment(contents: SegmentContents) -> _LoadedSegment:
    facts: list[Sourced] = []
    undecodable: list[tuple[bytes, str]] = []
    for payload in contents.records:
        try:
            facts.append(decode_fact_record(payload))
        except FactRecordError as exc:
            undecodable.append((payload, str(exc)))
    return _LoadedSegment(contents, facts, undecodable)
