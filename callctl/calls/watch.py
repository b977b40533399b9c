"""Each monitoring session's end, seen on AMI: the spy channel's Hangup.

One short-lived AMI connection per session (supervisors are few): it sent the
session's actions and stays to see the spy channel end, then closes the audit row.
The tasks are held here and cancelled at shutdown (their rows then end as
``callctl_stopped``; Asterisk keeps the spy going, it never waits for callctl).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ami.connection import NodeConnection
from ami.events import AmiEvent, Hangup

log = logging.getLogger(__name__)

MAX_SESSION_S = 4 * 3600.0
CloseSession = Callable[[str, str], Awaitable[None]]


class SpyEnd:
    """Collects the end of one spy channel from a connection's events."""

    def __init__(self, spy_uniqueid: str) -> None:
        self.spy_uniqueid = spy_uniqueid
        self.ended = asyncio.Event()
        self.reason = "hangup"

    def on_event(self, event: AmiEvent) -> None:
        if isinstance(event, Hangup) and event.uniqueid == self.spy_uniqueid:
            self.reason = "hangup" if event.cause in (16, None) else f"cause {event.cause}"
            self.ended.set()
        elif (
            event.name == "OriginateResponse"
            and event.headers.get("Response") == "Failure"
            and event.headers.get("Uniqueid") == self.spy_uniqueid
        ):
            self.reason = f"not answered ({event.headers.get('Reason', '?')})"
            self.ended.set()


@dataclass
class MonitorWatches:
    close: CloseSession
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def watch(self, conn: NodeConnection, end: SpyEnd) -> None:
        task = asyncio.create_task(self._run(conn, end), name=f"monitor {end.spy_uniqueid}")
        self.tasks.add(task)
        task.add_done_callback(self._done)

    async def _run(self, conn: NodeConnection, end: SpyEnd) -> None:
        reason = end.reason
        try:
            try:
                await asyncio.wait_for(end.ended.wait(), MAX_SESSION_S)
                reason = end.reason
            except TimeoutError:
                reason = "watch_timeout"
        except asyncio.CancelledError:
            reason = "callctl_stopped"
            raise
        finally:
            await conn.stop()
            await asyncio.shield(self.close(end.spy_uniqueid, reason))

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("monitor session watch failed", exc_info=task.exception())

    async def stop(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
