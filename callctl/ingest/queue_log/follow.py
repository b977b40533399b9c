"""Fold one node's shipped queue_log lines into facts as they arrive (the service side).

queue_log is the truth (design principle 2): the facts folded here are
upserted with source ``queue_log``, whose values a later AMI snapshot does not
replace (``upserts``), and handed to ``on_facts`` (the live view) once
committed. The node's lines come from ``queue_log_lines`` whether a shipper on
the Asterisk host sent them or the service's own shipper read a local file:
one path for both modes.

The follower polls for lines after the last id it committed, folds them with
the same ``QueueLogFolder`` as reconcile, and commits the facts together with
that id (``queue_log_consumers``), so a crash replays at most one batch, which
the idempotent upserts absorb. Facts folded but not committed are kept and
committed again on the next try, never folded twice (the folder has moved on).
At start the folder is warmed up, without writing, on the lines already
committed from ``warm_up_s`` before the last one (and the agent lines before
that), so that calls open at the resume point keep their ENTERQUEUE.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from callctl.db import asyncpg_dsn
from callctl.db_types import Connection, Queryable
from callctl.facts.from_queue_log import QueueLogFolder
from callctl.facts.models import Fact
from callctl.ingest.queue_log.fold import fold_lines
from callctl.ingest.queue_log.shipped import (
    StoredLine,
    lines_after,
    lines_from_time,
    load_consumer,
    save_consumer,
)
from callctl.ingest.upserts import commit_facts, create_stage_tables

log = logging.getLogger(__name__)

DEFAULT_POLL_INTERVAL_S = 1.0
"""Between looks for new lines while caught up. Each look that finds lines is one
transaction and one live update, whatever the number of lines: at 10 calls/s a node
writes a line every ~50 ms, so a poll every 0.25 s cost 4 transactions a second per
node where one, a second later, gives the same facts (still "within seconds")."""

FactsSink = Callable[[list[Fact]], None]
"""Takes facts once committed (synchronous, non-blocking: ``LiveHub.on_corrections``)."""

_ATTEMPTS = 3
_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)


@dataclass(slots=True)
class FollowerStats:
    lines: int = 0
    facts: int = 0
    commits: int = 0
    failures: int = 0
    warm_up_lines: int = 0
    last_id: int = 0
    last_commit_at: float | None = None


@dataclass(frozen=True, slots=True)
class _Pending:
    facts: list[Fact]
    last_id: int


class QueueLogFollower:
    """Follows ``node``'s lines in ``queue_log_lines``; see the module docstring."""

    def __init__(
        self,
        database_url: str,
        node: str,
        *,
        on_facts: FactsSink | None = None,
        warm_up_s: int = 4 * 3600,
        poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
        batch_lines: int = 5000,
        retry_s: float = 2.0,
        agent_names: Mapping[str, str] | None = None,
        acw_reason: str = "acw",
    ) -> None:
        self.node = node
        self.on_facts = on_facts
        self.stats = FollowerStats()
        self._dsn = asyncpg_dsn(database_url)
        self._warm_up_s = warm_up_s
        self._poll_interval_s = poll_interval_s
        self._batch_lines = batch_lines
        self._retry_s = retry_s
        self._agent_names = agent_names
        self._acw_reason = acw_reason
        self._folder: QueueLogFolder | None = None
        self._last_id = 0
        self._pending: _Pending | None = None
        self.caught_up = asyncio.Event()
        """Set once every line shipped so far has been folded and committed."""

    async def run(self) -> None:
        """Follow until cancelled, reconnecting while PostgreSQL is away."""
        while True:
            try:
                await self._run_connected()
            except _ERRORS as exc:
                self.stats.failures += 1
                log.warning(
                    "queue_log follower %s: %s; retrying in %.0f s", self.node, exc, self._retry_s
                )
                await asyncio.sleep(self._retry_s)

    async def _run_connected(self) -> None:
        connection = await asyncpg.connect(self._dsn, timeout=5, command_timeout=30)
        try:
            await create_stage_tables(connection)
            if self._folder is None:
                await self._warm_up(connection)
            while True:
                if self._pending is None and not await self._fold_next(connection):
                    self.caught_up.set()
                    await asyncio.sleep(self._poll_interval_s)
                    continue
                await self._commit(connection)
        finally:
            await connection.close(timeout=2)

    async def _warm_up(self, connection: Queryable) -> None:
        last_id = await load_consumer(connection, self.node) or 0
        folder = QueueLogFolder(
            self.node, agent_names=self._agent_names, acw_reason=self._acw_reason
        )
        if last_id:
            newest = await connection.fetchval(
                "SELECT logged_at FROM queue_log_lines WHERE node = $1 AND id = $2",
                self.node,
                last_id,
            )
            read_from = None if newest is None else int(newest) - self._warm_up_s
            before, lines = await lines_from_time(connection, self.node, read_from, last_id)
            fold_lines(
                _label(self.node),
                self.node,
                before,
                (line.line for line in lines),
                folder=folder,
            )
            self.stats.warm_up_lines = len(before) + len(lines)
            log.info(
                "queue_log follower %s: resuming after line %d (warmed up on %d lines)",
                self.node,
                last_id,
                self.stats.warm_up_lines,
            )
        self._folder, self._last_id = folder, last_id
        self.stats.last_id = last_id

    async def _fold_next(self, connection: Queryable) -> bool:
        lines = await lines_after(connection, self.node, self._last_id, self._batch_lines)
        if not lines:
            return False
        self._pending = _Pending(self._fold(lines), lines[-1].id)
        self.stats.lines += len(lines)
        return True

    def _fold(self, lines: list[StoredLine]) -> list[Fact]:
        assert self._folder is not None
        fold = fold_lines(
            _label(self.node), self.node, (), (line.line for line in lines), folder=self._folder
        )
        return fold.facts

    async def _commit(self, connection: Connection) -> None:
        pending = self._pending
        assert pending is not None
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                async with connection.transaction():
                    await commit_facts(connection, [(f, "queue_log") for f in pending.facts])
                    await save_consumer(connection, self.node, pending.last_id)
                break
            except asyncpg.TransactionRollbackError:
                # A deadlock with the AMI writer's batch: the loser retries at once.
                if attempt == _ATTEMPTS:
                    raise
                await asyncio.sleep(0.05 * attempt)
        self._pending = None
        self._last_id = pending.last_id
        self.stats.last_id = pending.last_id
        self.stats.commits += 1
        self.stats.facts += len(pending.facts)
        self.stats.last_commit_at = time.time()
        if self.on_facts is not None and pending.facts:
            self.on_facts(pending.facts)


def _label(node: str) -> Path:
    return Path(f"shipped:{node}")
