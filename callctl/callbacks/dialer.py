"""The callback dialer: hands due tasks to free agents, agent first, within a pacing limit.

Every ``poll_s`` it reads the open tasks and the calendars, asks the scheduler which are
due now, asks Asterisk (QueueStatus) which agents are logged in, not paused and not in
use, and starts at most ``max_in_flight`` attempts at once (the outbound trunk's
channels): Originate rings the agent and, once answered, the dialplan
(``callctl-callback``) dials the citizen. The result comes back as a ``CallctlCallback``
user event (DIALSTATUS), or as a failed OriginateResponse when the agent did not answer
(not counted as an attempt).

Recovery: an attempt left ``dialling`` when callctl stopped is settled when the dialer
starts again, before it dials anything: from the ``CallctlCallback`` user event if
ingest stored it (raw AMI events), else, if the agent's leg is still up in Asterisk,
it is watched again like any attempt in flight (never dialled twice), else it ends as
``interrupted`` (counted; retried after the spacing while attempts remain). An attempt
whose agent leg hangs up with no result event ends as ``interrupted`` too.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from ami import actions
from ami.connection import AmiNode, NodeConnection
from ami.errors import AmiError
from ami.events import AmiEvent, CoreShowChannel, Hangup, QueueMember, UserEvent
from ami.state import ConnectionState
from callctl.callbacks import repository
from callctl.callbacks.scheduler import (
    AttemptResult,
    CallbackTask,
    due_now,
    finish_attempt,
    pacing_slots,
    start_attempt,
)
from callctl.db_types import Pool
from callctl.nodes import NodesConfig
from callctl.settings import Settings
from routing.model import OutboundTrunk

TrunkLoader = Callable[[], Awaitable[OutboundTrunk | None]]

log = logging.getLogger(__name__)

CALLBACK_CONTEXT = "callctl-callback"
_INVALID_CAUSES = frozenset({1, 3, 22, 28})  # unallocated, no route, number changed, bad format
RESULT_GRACE_S = 2.0  # after the agent leg's Hangup, how long its result event may lag


def attempt_result(dial_status: str, cause: str) -> AttemptResult:
    """Dial's DIALSTATUS (and the cause) as a callback result."""
    if dial_status == "ANSWER":
        return AttemptResult.ANSWERED
    if dial_status == "BUSY":
        return AttemptResult.BUSY
    unreachable = dial_status in ("CHANUNAVAIL", "CONGESTION")
    if unreachable and cause.isdigit() and int(cause) in _INVALID_CAUSES:
        return AttemptResult.INVALID
    return AttemptResult.NO_ANSWER


def free_agents(members: list[QueueMember], busy: set[str]) -> list[str]:
    """Agents (ids) logged in to a queue, not paused, not in use, not already dialling."""
    seen: dict[str, bool] = {}
    for m in members:
        if not m.interface.startswith("PJSIP/"):
            continue
        agent = m.interface.removeprefix("PJSIP/")
        ok = m.paused is False and m.status == 1 and agent not in busy
        seen[agent] = seen.get(agent, True) and ok
    return sorted(a for a, ok in seen.items() if ok)


@dataclass
class InFlight:
    task: CallbackTask
    agent: str
    channel_id: str


@dataclass
class CallbackDialer:
    """``trunk``: the PJSIP endpoint to dial through; empty: the routing config's
    outbound trunk, read each round by ``trunk_of`` (its ``max_channels`` caps the
    pacing; none configured: nothing is dialled)."""

    pool: Pool
    node: AmiNode
    trunk: str
    trunk_host: str | None = None
    max_in_flight: int = 2
    poll_s: float = 5.0
    ring_s: int = 30
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    trunk_of: TrunkLoader | None = None
    in_flight: dict[int, InFlight] = field(default_factory=dict)
    peak_in_flight: int = 0
    _conn: NodeConnection | None = None
    _task: asyncio.Task[None] | None = None
    _pending: set[asyncio.Task[None]] = field(default_factory=set)

    def start(self) -> None:
        node = replace(self.node, event_mask=("system", "call", "user"), excluded_events=())
        self._conn = NodeConnection(node, on_event=self.on_event)
        self._conn.start()
        self._task = asyncio.create_task(self._run(), name="callback dialer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._conn is not None:
            await self._conn.stop()

    async def _run(self) -> None:
        assert self._conn is not None
        recovered = False
        while True:
            try:
                if self._conn.state is ConnectionState.CONNECTED:
                    if not recovered:
                        await self.recover(self._conn)
                        recovered = True
                    await self.tick(self._conn)
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad round (database down, AMI cut) must not end the loop
                log.exception("callback dialer round failed")
            await asyncio.sleep(self.poll_s)

    async def tick(self, conn: NodeConnection) -> int:
        """One round: start what is due within the limits; the number started."""
        now = self.clock()
        tasks = await repository.open_tasks(self.pool)
        due = due_now(tasks, await repository.calendars(self.pool), now)
        if not due:
            return 0
        trunk, limit = self.trunk, self.max_in_flight
        if not trunk:
            configured = await self.trunk_of() if self.trunk_of is not None else None
            if configured is None:
                log.warning("callback dialer: no outbound trunk configured; nothing dialled")
                return 0
            trunk, limit = configured.name, min(limit, configured.max_channels)
        in_db = await repository.in_flight(self.pool)
        result = await conn.action(actions.queue_status(), timeout_s=15)
        members = [e for e in result.events if isinstance(e, QueueMember)]
        agents = free_agents(members, {f.agent for f in self.in_flight.values()})
        slots = pacing_slots(max(in_db, len(self.in_flight)), limit, len(agents))
        started = 0
        for task, agent in zip(due[:slots], agents, strict=False):
            if await self._dial(conn, task, agent, now, trunk):
                started += 1
        return started

    async def recover(self, conn: NodeConnection) -> dict[int, AttemptResult | None]:
        """Settle the attempts left in flight when callctl stopped (see the module doc):
        task id → its result, or None for one still up and watched again."""
        left = await repository.left_dialling(self.pool)
        if not left:
            return {}
        channels = await conn.action(actions.core_show_channels(), timeout_s=15)
        live = {e.uniqueid for e in channels.events if isinstance(e, CoreShowChannel)}
        settled: dict[int, AttemptResult | None] = {}
        for item in left:
            task_id = item.task.task_id
            if task_id in self.in_flight:
                continue
            flight = InFlight(item.task, item.agent or "", item.channel_id or "")
            recorded = None
            if item.channel_id:
                recorded = await repository.recorded_outcome(
                    self.pool, item.channel_id, item.started_at
                )
            self.in_flight[task_id] = flight
            if recorded is None and item.channel_id in live:
                settled[task_id] = None
                log.info("callback task %s: attempt still up, watched again", task_id)
                continue
            if recorded is None:
                result = AttemptResult.INTERRUPTED
            else:
                status, cause = recorded
                result = attempt_result(status, cause) if status else AttemptResult.FAILED
            await self._finish(task_id, result)
            settled[task_id] = result
        return settled

    async def _dial(
        self, conn: NodeConnection, task: CallbackTask, agent: str, now: datetime, trunk: str
    ) -> bool:
        dialling = start_attempt(task, now)
        channel_id = f"callctl-cb-{task.task_id}-{dialling.attempts}-{secrets.token_hex(4)}"
        if not await repository.start_attempt(self.pool, dialling, agent, channel_id):
            return False
        variables = {
            "CALLCTL_TASK": str(task.task_id),
            "CALLCTL_ATTEMPT": str(dialling.attempts),
            "CALLCTL_TRUNK": trunk,
            "CALLCTL_RING_S": str(self.ring_s),
        }
        if self.trunk_host is not None:
            variables["CALLCTL_TRUNK_HOST"] = self.trunk_host
        self.in_flight[task.task_id] = InFlight(dialling, agent, channel_id)
        self.peak_in_flight = max(self.peak_in_flight, len(self.in_flight))
        try:
            action = actions.originate_to_extension(
                f"PJSIP/{agent}",
                CALLBACK_CONTEXT,
                task.number,
                timeout_ms=self.ring_s * 1000,
                caller_id_name="回访",
                caller_id_num=task.number,
                channel_id=channel_id,
                variables=variables,
            )
            reply = await conn.action(action, check=False)
            if not reply.ok:
                raise AmiError(reply.message or "Originate refused")
        except AmiError as exc:
            log.warning("callback task %s: Originate failed: %s", task.task_id, exc)
            await self._finish(task.task_id, AttemptResult.FAILED)
            return False
        return True

    def on_event(self, event: AmiEvent) -> None:
        if isinstance(event, UserEvent) and event.user_event == "CallctlCallback":
            task_ref = event.fields.get("Task", "")
            if task_ref.isdigit() and int(task_ref) in self.in_flight:
                status = event.fields.get("Status", "")
                result = attempt_result(status, event.fields.get("Cause", ""))
                if status == "":  # the agent's leg ended before the citizen was dialled
                    result = AttemptResult.FAILED
                self._spawn(int(task_ref), result)
        elif isinstance(event, Hangup):
            for flight_id, flight in self.in_flight.items():
                if flight.channel_id == event.uniqueid:
                    self._spawn_late(flight_id, flight)
                    break
        elif event.name == "OriginateResponse" and event.headers.get("Response") == "Failure":
            channel_id = event.headers.get("Uniqueid")
            for flight_id, flight in self.in_flight.items():
                if flight.channel_id == channel_id:
                    self._spawn(flight_id, AttemptResult.FAILED)
                    break

    def _spawn_late(self, task_id: int, flight: InFlight) -> None:
        """The agent leg hung up: its result event comes first (a hangup handler);
        if none has come shortly after, the attempt ends as interrupted."""

        async def settle() -> None:
            await asyncio.sleep(RESULT_GRACE_S)
            if self.in_flight.get(task_id) is flight:
                await self._finish(task_id, AttemptResult.INTERRUPTED)

        task = asyncio.get_running_loop().create_task(settle())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def _spawn(self, task_id: int, result: AttemptResult) -> None:
        task = asyncio.get_running_loop().create_task(self._finish(task_id, result))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _finish(self, task_id: int, result: AttemptResult) -> None:
        flight = self.in_flight.pop(task_id, None)
        if flight is None:
            return
        now = self.clock()
        done = finish_attempt(flight.task, result, now)
        await repository.finish_attempt(self.pool, done, flight.task.attempts, result, now)
        log.info("callback task %s attempt %s: %s", task_id, flight.task.attempts, result.value)


def callback_dialer(
    settings: Settings, pool: Pool, nodes: NodesConfig | None, trunk_of: TrunkLoader | None = None
) -> CallbackDialer | None:
    """The dialer when ingest runs and an outbound trunk is set (CALLCTL_CALLBACK_TRUNK,
    or CALLCTL_CALLBACK_DIALER with the routing config's); callbacks go through the
    first node (the agents' home node, like agent commands)."""
    if nodes is None or (settings.callback_trunk is None and not settings.callback_dialer):
        return None
    return CallbackDialer(
        pool,
        nodes.nodes[0].ami_node(),
        settings.callback_trunk or "",
        settings.callback_trunk_host,
        trunk_of=trunk_of,
        max_in_flight=settings.callback_max_in_flight,
        poll_s=settings.callback_poll_s,
        ring_s=settings.callback_ring_s,
    )
