"""Puts agents' logins and pauses back after their node restarts (the I/O edge of
``agents.restore``): one per AMI node, fed the node's events and resync snapshots.

A restart is seen on the first FullyBooted of the new boot (a later start time);
the resync snapshot that follows it is the state to repair. The actions go out
from this watch's own task, in order, right after that snapshot: that is as soon
as callctl can know what the new boot lost. Calls that reach the queue between
app_queue's start and these actions (the node's boot, callctl's reconnect delay,
the resync) can still ring an agent who should be paused; only dynamic members
with ``persistentmembers`` are paused again by Asterisk itself before any call.
Agents homed on another node (``home_node`` in the routing config in force, read
when the restore is planned) are not logged in again here (agents.restore).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from agents.restore import (
    DEFAULT_MAX_SILENCE_S,
    KnownMember,
    MemberBook,
    MemberKey,
    RestorePlan,
    plan_after_restart,
)
from ami.boot import BootClock
from ami.connection import NodeConnection, ResyncSnapshot
from ami.errors import AmiError
from ami.events import AmiEvent, FullyBooted, QueueMember

log = logging.getLogger(__name__)
HomesLoader = Callable[[], Awaitable[frozenset[str]]]


@dataclass(slots=True)
class RestoreStats:
    restarts: int = 0
    restores: int = 0
    skipped: int = 0
    actions_sent: int = 0
    actions_failed: int = 0


@dataclass(frozen=True, slots=True)
class _Restart:
    at: int
    last_heard_at: float | None
    before: dict[MemberKey, KnownMember]


@dataclass(frozen=True, slots=True)
class _Repair:
    restart: _Restart
    after: tuple[QueueMember, ...]


class RestartRestorer:
    def __init__(
        self,
        node: str,
        *,
        max_silence_s: float = DEFAULT_MAX_SILENCE_S,
        homed_elsewhere: HomesLoader | None = None,
    ) -> None:
        """``homed_elsewhere``: loads the interfaces of the agents whose home is another
        node (from the routing config in force), asked at each restore."""
        self._node = node
        self._max_silence_s = max_silence_s
        self._homed_elsewhere = homed_elsewhere
        self._book = MemberBook()
        self._boot = BootClock()
        self._last_heard_at: float | None = None
        self._restart: _Restart | None = None
        self._outbox: asyncio.Queue[_Repair] = asyncio.Queue()
        self._conn: NodeConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self.stats = RestoreStats()
        self.done = asyncio.Event()
        """Set each time a restore's actions have all been sent (tests wait on it)."""

    # --- inputs (called from the connection's reader: never block) ------------------------

    def on_event(self, event: AmiEvent) -> None:
        heard_before, self._last_heard_at = self._last_heard_at, event.received_at
        if isinstance(event, FullyBooted):
            restarted_at = self._boot.observe(event)
            if restarted_at is not None:
                self.stats.restarts += 1
                self._restart = _Restart(restarted_at, heard_before, dict(self._book.members))
            return
        self._book.on_event(event)

    def on_resync(self, snapshot: ResyncSnapshot) -> None:
        restart, self._restart = self._restart, None
        if restart is not None:
            self._outbox.put_nowait(_Repair(restart, snapshot.queue_members))
        self._book.resynced(snapshot.queue_members)

    async def _plan(self, repair: _Repair) -> RestorePlan:
        elsewhere: frozenset[str] = frozenset()
        if self._homed_elsewhere is not None:
            try:
                elsewhere = await asyncio.wait_for(self._homed_elsewhere(), 3.0)
            except Exception as exc:  # whatever the loader hit (database down): restore all
                log.warning("node %s: agents' home nodes not loaded: %s", self._node, exc)
        restart = repair.restart
        plan = plan_after_restart(
            restart.before,
            repair.after,
            last_heard_at=restart.last_heard_at,
            restarted_at=restart.at,
            max_silence_s=self._max_silence_s,
            homed_elsewhere=elsewhere,
        )
        for refused in plan.refused:
            log.warning("node %s: not restored, value refused: %s", self._node, refused)
        if plan.skipped is not None:
            self.stats.skipped += 1
            log.warning("node %s restarted: agents not restored: %s", self._node, plan.skipped)
        else:
            log.warning(
                "node %s restarted at %d: restoring %d member states",
                self._node,
                restart.at,
                len(plan.actions),
            )
        return plan

    # --- the task -------------------------------------------------------------------------

    def start(self, conn: NodeConnection) -> None:
        self._conn = conn
        self._task = asyncio.get_running_loop().create_task(
            self._run(conn), name=f"agent-restore-{self._node}"
        )
        self._task.add_done_callback(self._crashed)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def _crashed(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("agent restore stopped", exc_info=task.exception())

    async def _run(self, conn: NodeConnection) -> None:
        while True:
            repair = await self._outbox.get()
            self.done.clear()
            plan = await self._plan(repair)
            for action in plan.actions:
                try:
                    await conn.action(action)
                    self.stats.actions_sent += 1
                except AmiError as exc:
                    self.stats.actions_failed += 1
                    log.warning("node %s: restore %s failed: %s", self._node, action.name, exc)
            self.stats.restores += 1
            self.done.set()
