"""The service's ACW watcher: ends an after-call-work pause that exceeds its line's
``acw_max_s`` (the thin I/O edge around ``agents.acw_timer``).

It also keeps the dialplan's "in ACW" astdb mark honest: any pause change that is
not the ACW pause (a supervisor's pause, another AMI client) clears the mark, so
the end-ACW feature code never ends another kind of pause.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from agents.acw_timer import (
    ACW_TIMEOUT_REASON,
    FALLBACK_ACW_MAX_S,
    AcwLimits,
    AcwSpell,
    AcwTracker,
    MemberPause,
    is_acw,
)
from ami import actions
from ami.connection import NodeConnection, ResyncSnapshot
from ami.errors import AmiError
from ami.events import (
    AmiEvent,
    QueueMember,
    QueueMemberEvent,
    QueueMemberPause,
    QueueMemberStatus,
    UserEvent,
)
from ami.state import ConnectionState

log = logging.getLogger(__name__)

LimitsLoader = Callable[[], Awaitable[AcwLimits]]
ACW_MARK_FAMILY = "callctl-acw"
ACW_USER_EVENT = "CallctlAcw"
_PJSIP_PREFIX = "PJSIP/"


def _member(event: QueueMemberEvent) -> MemberPause:
    return MemberPause(
        interface=event.interface,
        paused=bool(event.paused),
        reason=event.paused_reason,
        last_pause=float(event.last_pause) if event.last_pause else None,
    )


class AcwWatch:
    """One per AMI node. Feed it events and resync snapshots; ``start`` its task."""

    def __init__(
        self,
        load_limits: LimitsLoader,
        *,
        tick_s: float = 0.2,
        limits_retry_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._load_limits = load_limits
        self._tick_s = tick_s
        self._limits_retry_s = limits_retry_s
        self._limits_retry_at = 0.0
        self._clock = clock
        self._tracker = AcwTracker()
        self._limits = AcwLimits({}, {}, FALLBACK_ACW_MAX_S)
        self._limits_loaded_at: float | None = None
        self._limits_wanted = True
        self._marks_to_clear: set[str] = set()
        self._conn: NodeConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._handlers: dict[type[AmiEvent], Callable[[AmiEvent], None]] = {
            QueueMemberPause: self._on_pause,
            QueueMemberStatus: self._on_status,
            UserEvent: self._on_user_event,
        }

    # --- inputs (called from the connection's reader: never block) ------------------------

    def on_event(self, event: AmiEvent) -> None:
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)

    def on_resync(self, snapshot: ResyncSnapshot) -> None:
        members = [_member(e) for e in snapshot.queue_status if isinstance(e, QueueMember)]
        if self._tracker.resynced(members, self._clock()):
            self._limits_wanted = True

    def _on_pause(self, event: AmiEvent) -> None:
        assert isinstance(event, QueueMemberPause)
        at = event.timestamp or event.received_at
        paused = bool(event.paused)
        if is_acw(paused, event.paused_reason):
            self._marks_to_clear.discard(event.interface)
        else:
            self._marks_to_clear.add(event.interface)
        if self._tracker.pause_changed(event.interface, paused, event.paused_reason, at):
            self._limits_wanted = True

    def _on_status(self, event: AmiEvent) -> None:
        assert isinstance(event, QueueMemberStatus)
        if self._tracker.member_seen(_member(event), self._clock()):
            self._limits_wanted = True

    def _on_user_event(self, event: AmiEvent) -> None:
        assert isinstance(event, UserEvent)
        if event.user_event != ACW_USER_EVENT:
            return
        interface, line = event.fields.get("Interface"), event.fields.get("Line")
        if interface and line:
            self._tracker.line_reported(interface, line)

    @property
    def spells(self) -> tuple[AcwSpell, ...]:
        return self._tracker.spells

    # --- the task -------------------------------------------------------------------------

    def start(self, conn: NodeConnection) -> None:
        self._conn = conn
        self._task = asyncio.get_running_loop().create_task(self._run(), name="acw-watch")
        self._task.add_done_callback(self._done)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def _done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("ACW watch stopped", exc_info=task.exception())

    async def _run(self) -> None:
        while True:
            conn = self._conn
            if conn is not None and conn.state is ConnectionState.CONNECTED:
                try:
                    await self.tick(conn)
                except AmiError as exc:
                    log.warning("ACW watch: %s", exc)
            await asyncio.sleep(self._tick_s)

    async def tick(self, conn: NodeConnection) -> None:
        await self._refresh_limits()
        while self._marks_to_clear:
            await self._clear_mark(conn, self._marks_to_clear.pop())
        for spell in self._tracker.due(self._clock(), self._limits):
            await self._end(conn, spell)

    async def _refresh_limits(self) -> None:
        """Load the limits at start, when an ACW begins (the config may have changed) and
        now and then; after a failure (database down) wait a while before trying again."""
        now = time.monotonic()
        if now < self._limits_retry_at:
            return
        periodic = self._limits_loaded_at is None or now - self._limits_loaded_at >= 60.0
        if not (self._limits_wanted or periodic):
            return
        self._limits_wanted = False
        try:
            self._limits = await asyncio.wait_for(self._load_limits(), 3.0)
            self._limits_loaded_at = now
        except Exception as exc:  # whatever the loader hit: keep the limits known
            self._limits_retry_at = now + self._limits_retry_s
            log.warning("ACW watch: routing config not loaded, keeping the last limits: %s", exc)

    async def _clear_mark(self, conn: NodeConnection, interface: str) -> None:
        if interface.startswith(_PJSIP_PREFIX):
            agent = interface.removeprefix(_PJSIP_PREFIX)
            await conn.action(actions.db_del(ACW_MARK_FAMILY, agent), check=False)

    async def _end(self, conn: NodeConnection, spell: AcwSpell) -> None:
        """Unpause, but only if Asterisk still has this member paused for ACW."""
        listed = await conn.action(actions.queue_status(member=spell.interface), timeout_s=15)
        still = any(
            isinstance(e, QueueMember)
            and e.interface == spell.interface
            and is_acw(e.paused, e.paused_reason)
            for e in listed.events
        )
        if not still:
            self._tracker.released(spell.interface)
            return
        limit = self._limits.limit_for(spell.interface, spell.line)
        log.info(
            "ending %s's ACW after its line's limit of %d s (line %s)",
            spell.interface,
            limit,
            spell.line or "unknown",
        )
        await conn.action(actions.queue_pause(spell.interface, False, reason=ACW_TIMEOUT_REASON))
        self._tracker.released(spell.interface)
        await self._clear_mark(conn, spell.interface)
