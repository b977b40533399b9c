"""Each three-way call's members and end, seen on AMI (ConfbridgeJoin/Leave/End).

Like a monitoring session, a conference keeps the short AMI connection that started it
(conferences are few) and stays to record who joined and left, and when it ended, in
``call_conferences`` / ``call_conference_members``. At shutdown the watches are
cancelled and the conference ends as ``callctl_stopped`` in the audit (Asterisk keeps
the conference going; it never waits for callctl).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ami.connection import NodeConnection
from ami.events import AmiEvent
from callctl.calls.conference import Member, role_of

log = logging.getLogger(__name__)

MAX_CONFERENCE_S = 4 * 3600.0
OnJoin = Callable[[int, Member, datetime], Awaitable[None]]
OnLeave = Callable[[int, str, datetime], Awaitable[None]]
OnEnd = Callable[[int, str, datetime], Awaitable[None]]


def _at(event: AmiEvent) -> datetime:
    return datetime.fromtimestamp(event.timestamp or event.received_at, UTC)


class ConferenceEvents:
    """Collects one conference's Confbridge* events (and the third party's failed
    Originate) from a connection, in order, for the watch to store."""

    def __init__(
        self, conference_id: int, name: str, caller_uniqueid: str, agent_uniqueid: str
    ) -> None:
        self.conference_id = conference_id
        self.name = name
        self.caller_uniqueid = caller_uniqueid
        self.agent_uniqueid = agent_uniqueid
        self.party_channel_id: str | None = None
        self.queue: asyncio.Queue[AmiEvent] = asyncio.Queue()

    def on_event(self, event: AmiEvent) -> None:
        if event.name in ("ConfbridgeJoin", "ConfbridgeLeave", "ConfbridgeEnd"):
            if event.headers.get("Conference") == self.name:
                self.queue.put_nowait(event)
        elif (
            event.name == "OriginateResponse"
            and event.headers.get("Response") == "Failure"
            and self.party_channel_id is not None
            and event.headers.get("Uniqueid") == self.party_channel_id
        ):
            self.queue.put_nowait(event)

    def member(self, event: AmiEvent) -> Member | None:
        uniqueid = event.headers.get("Uniqueid")
        channel = event.headers.get("Channel")
        if not uniqueid or not channel:
            return None
        return Member(
            uniqueid, channel, role_of(uniqueid, self.caller_uniqueid, self.agent_uniqueid)
        )


@dataclass
class ConferenceWatches:
    on_join: OnJoin
    on_leave: OnLeave
    on_end: OnEnd
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def watch(self, conn: NodeConnection, events: ConferenceEvents) -> None:
        task = asyncio.create_task(self._run(conn, events), name=f"conference {events.name}")
        self.tasks.add(task)
        task.add_done_callback(self._done)

    async def _run(self, conn: NodeConnection, events: ConferenceEvents) -> None:
        reason, at = "watch_timeout", datetime.now(UTC)
        deadline = asyncio.get_running_loop().time() + MAX_CONFERENCE_S
        try:
            while True:
                left = deadline - asyncio.get_running_loop().time()
                try:
                    event = await asyncio.wait_for(events.queue.get(), max(left, 0.0))
                except TimeoutError:
                    break
                at = _at(event)
                if event.name == "ConfbridgeEnd":
                    reason = "ended"
                    break
                member = events.member(event)
                if event.name == "ConfbridgeJoin" and member is not None:
                    await self.on_join(events.conference_id, member, at)
                elif event.name == "ConfbridgeLeave" and member is not None:
                    await self.on_leave(events.conference_id, member.uniqueid, at)
                elif event.name == "OriginateResponse":
                    log.info(
                        "conference %s: third party not reached (%s)",
                        events.name,
                        event.headers.get("Reason", "?"),
                    )
        except asyncio.CancelledError:
            reason, at = "callctl_stopped", datetime.now(UTC)
            raise
        finally:
            await conn.stop()
            await asyncio.shield(self.on_end(events.conference_id, reason, at))

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("conference watch failed", exc_info=task.exception())

    async def stop(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
