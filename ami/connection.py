"""The connection manager of one Asterisk node: connect, log in, keep alive, resync, retry.

Life of a :class:`NodeConnection` (one supervisor task, started by :meth:`start`)::

    DOWN -> CONNECTING -> (Login ok) -> RESYNCING -> (snapshot delivered) -> CONNECTED
      ^          |                          |                                  |
      +-- backoff +------- any failure -----+----------------------------------+
                                  FullyBooted while CONNECTED -> RESYNCING again

While logged in, two tasks run in a TaskGroup beside the reader: the keepalive (a Ping
every ``ping_interval``, whose Pong must come within ``ping_timeout``, so a dead or
half-open socket is noticed within 1.5 ping intervals) and the resync worker. Any of
them failing ends the session; the supervisor logs why, waits a capped, jittered,
exponential delay and connects again. Nothing runs fire-and-forget.

Callbacks are synchronous and must not block (hand work to a queue): they run on the
reader's path, and Asterisk drops a session it cannot write to within ~100 ms. An
exception in a callback is logged and counted, never allowed to stop the reader.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import re
import secrets
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Final, TypeVar

from ami import actions
from ami.actions import DEFAULT_EVENT_MASK, Action
from ami.backoff import backoff_delay
from ami.errors import (
    ActionFailedError,
    AmiError,
    LoginFailedError,
    NotConnectedError,
    PingTimeoutError,
    TlsVerificationError,
)
from ami.events import (
    AmiEvent,
    CoreShowChannel,
    FullyBooted,
    QueueEntry,
    QueueMember,
    QueueParams,
    QueueSummary,
)
from ami.protocol import ActionResult, AmiProtocol, PendingAction
from ami.state import ConnectionState, StateChange, check_transition

log = logging.getLogger(__name__)

# Events of the classes callctl subscribes to (system, call, agent, user) that it does not
# use; dropped by Asterisk before they reach the socket. VarSet and Newexten belong to the
# "dialplan" class, which the login mask already leaves out; they are listed again in case
# a deployment widens the mask. Newstate is dropped: DialEnd and Hangup carry what ingest
# needs. So are DialBegin and DialState (AgentCalled and DialEnd tell the ring and its end)
# and BridgeEnter/BridgeLeave (AgentConnect and Hangup tell the talk): nothing consumes
# them, and they were 4 of the ~22 events of an answered call (a quarter of the volume)
# callctl parsed and stored for nothing; they no longer show in a call's drill-down.
# tests/unit/ami/test_excluded_events.py checks that no consumer handles an excluded
# event. ContactStatus/PeerStatus stay (agents' softphone registrations).
DEFAULT_EXCLUDED_EVENTS: Final = (
    "VarSet",
    "Newexten",
    "Newstate",
    "NewCallerid",
    "NewConnectedLine",
    "NewAccountCode",
    "DeviceStateChange",
    "ExtensionStatus",
    "PresenceStatus",
    "RTCPSent",
    "RTCPReceived",
    "LocalBridge",
    "LocalOptimizationBegin",
    "LocalOptimizationEnd",
    "MusicOnHoldStart",
    "MusicOnHoldStop",
    "ChannelTalkingStart",
    "ChannelTalkingStop",
    "BridgeCreate",
    "BridgeDestroy",
    "BridgeEnter",
    "BridgeLeave",
    "DialBegin",
    "DialState",
)
RESYNC_ON_RELOAD: Final = frozenset({"app_queue.so"})
"""Modules whose reload (a ``Reload`` event) changes what a resync reads."""
_NODE_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_E = TypeVar("_E", bound=AmiEvent)
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True, kw_only=True)
class AmiNode:
    """How to reach and watch one Asterisk node (times in seconds)."""

    node_id: str
    host: str
    port: int = 5038
    username: str
    secret: str = field(repr=False)
    ping_interval: float = 5.0
    ping_timeout: float | None = None  # None: half of ping_interval
    action_timeout: float = 5.0
    connect_timeout: float = 5.0
    resync_timeout: float = 15.0  # QueueStatus of a large hotline takes a while
    backoff_base: float = 0.5
    backoff_cap: float = 10.0
    backoff_jitter: float = 0.5  # each delay shortened by up to this fraction, at random
    event_mask: tuple[str, ...] = DEFAULT_EVENT_MASK
    # Needs write=system for the Filter action; without it a warning is logged and the
    # class mask alone cuts the volume.
    excluded_events: tuple[str, ...] = DEFAULT_EXCLUDED_EVENTS
    # AMI over TLS (manager.conf tlsenable, port 5039 by default): the context to verify
    # the node with, and the name its certificate must carry (None: ``host``).
    tls_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)
    server_hostname: str | None = None

    def __post_init__(self) -> None:
        if not _NODE_ID.fullmatch(self.node_id):
            raise ValueError("node_id must match [A-Za-z0-9_.-]{1,64}")
        timings = (self.ping_interval, self.action_timeout, self.connect_timeout)
        if min(timings) <= 0 or self.resync_timeout <= 0 or self.backoff_base <= 0:
            raise ValueError("timeouts and intervals must be positive")
        if self.ping_timeout is not None and not 0 < self.ping_timeout <= self.ping_interval:
            raise ValueError("ping_timeout must be in (0, ping_interval]")
        if not 0 <= self.backoff_jitter <= 1 or self.backoff_cap < self.backoff_base:
            raise ValueError("backoff_jitter must be in [0, 1] and backoff_cap >= backoff_base")

    @property
    def effective_ping_timeout(self) -> float:
        return self.ping_timeout if self.ping_timeout is not None else self.ping_interval / 2


@dataclass(frozen=True, slots=True)
class Gap:
    """A time span in which this node's events may have been missed: reconcile it from
    queue_log. ``started_at`` is when bytes last arrived on the lost session."""

    node: str
    started_at: float
    ended_at: float


@dataclass(frozen=True, slots=True)
class ResyncSnapshot:
    """Asterisk's state right after a (re)connect or a FullyBooted.

    Delivered in stream order: events handed to ``on_event`` before it may be older than
    the snapshot (rebuild live state from the snapshot), events after it came after it on
    the wire. Events Asterisk queued while it produced the lists can repeat what the
    snapshot already shows, so apply them idempotently (keyed by uniqueid, interface).
    """

    node: str
    trigger: str  # "login" (every new session) or "FullyBooted"
    started_at: float
    completed_at: float
    queue_status: tuple[AmiEvent, ...]  # QueueParams, QueueMember, QueueEntry
    queue_summary: tuple[AmiEvent, ...]  # QueueSummary
    channels: tuple[AmiEvent, ...]  # CoreShowChannel

    @property
    def queue_params(self) -> tuple[QueueParams, ...]:
        return _only(self.queue_status, QueueParams)

    @property
    def queue_members(self) -> tuple[QueueMember, ...]:
        return _only(self.queue_status, QueueMember)

    @property
    def queue_entries(self) -> tuple[QueueEntry, ...]:
        return _only(self.queue_status, QueueEntry)

    @property
    def summaries(self) -> tuple[QueueSummary, ...]:
        return _only(self.queue_summary, QueueSummary)

    @property
    def channel_list(self) -> tuple[CoreShowChannel, ...]:
        return _only(self.channels, CoreShowChannel)


def _only(events: tuple[AmiEvent, ...], kind: type[_E]) -> tuple[_E, ...]:
    return tuple(event for event in events if isinstance(event, kind))


@dataclass(slots=True)
class ConnectionStats:
    events: int = 0
    malformed_events: int = 0  # events with invalid_fields (logged at debug, counted here)
    callback_errors: int = 0
    sessions: int = 0  # successful logins
    resyncs: int = 0


EventCallback = Callable[[AmiEvent], None]
StateCallback = Callable[[StateChange], None]
ResyncCallback = Callable[[ResyncSnapshot], None]
GapCallback = Callable[[Gap], None]


class NodeConnection:
    """Keeps one AMI session to one node alive and delivers its events."""

    def __init__(
        self,
        node: AmiNode,
        *,
        on_event: EventCallback,
        on_state_change: StateCallback | None = None,
        on_resync: ResyncCallback | None = None,
        on_gap: GapCallback | None = None,
        since: float | None = None,
        rng: random.Random | None = None,
    ) -> None:
        """``since``: when this node was last known to be watched (e.g. the newest stored
        event); the first login then reports ``Gap(since, login time)``."""
        self._node = node
        self._on_event = on_event
        self._on_state_change = on_state_change
        self._on_resync = on_resync
        self._on_gap = on_gap
        self._gap_from = since
        self._rng = rng or random.Random()
        self._state = ConnectionState.DOWN
        self._protocol: AmiProtocol | None = None
        self._logged_in = False  # the current session got past Login
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._state_waiters: list[tuple[ConnectionState, asyncio.Future[None]]] = []
        self._resync_wanted = asyncio.Event()
        # Set by FullyBooted. AMI answers while Asterisk is still loading modules (after
        # a restart, QueueStatus is then an unknown command): resync only once booted.
        self._booted = asyncio.Event()
        self._resync_probe: PendingAction | None = None
        self._action_ids: Iterator[int] = itertools.count(1)
        self._action_prefix = f"{node.node_id}-{secrets.token_hex(4)}"
        # Explicit table of events the connection itself reacts to (besides delivering).
        self._own_handlers: dict[type[AmiEvent], Callable[[AmiEvent], None]] = {
            FullyBooted: self._fully_booted,
        }
        self.stats = ConnectionStats()
        # True while the node's last Login was refused (a wrong user or secret): the link
        # is up but useless, which /health and the startup check report as such.
        self.login_refused = False
        # Why the node's last TLS handshake failed (an unknown CA, a wrong name), or None:
        # retrying cannot help until the settings change, so it is reported, not hidden.
        self.tls_failure: str | None = None

    # --- public API ----------------------------------------------------------------------------

    @property
    def node(self) -> AmiNode:
        return self._node

    @property
    def node_id(self) -> str:
        return self._node.node_id

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def version(self) -> str | None:
        """The AMI protocol version from the banner of the current session."""
        protocol = self._protocol
        return None if protocol is None else protocol.version

    @property
    def session_reads(self) -> int:
        """TCP reads in the current session (diagnostics: shows how the stream was cut)."""
        protocol = self._protocol
        return 0 if protocol is None else protocol.reads

    def start(self) -> None:
        """Start the supervisor task (needs a running event loop). Returns at once."""
        if self._task is not None:
            raise RuntimeError(f"node {self.node_id}: already started")
        self._stopping = False
        self._task = asyncio.get_running_loop().create_task(
            self._supervise(), name=f"ami-{self.node_id}"
        )
        self._task.add_done_callback(self._supervisor_done)

    async def stop(self) -> None:
        """Log off politely if possible, then end the session and the supervisor."""
        task, self._task = self._task, None
        self._stopping = True
        protocol = self._protocol
        if protocol is not None and not protocol.closed and self._logged_in:
            with suppress(AmiError, OSError):
                await protocol.request(actions.logoff(), self._next_action_id(), 1.0)
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        # An aborted transport closes its socket in a callback on the next loop turn: let it
        # run, so a caller that closes its loop right after stop() leaks no socket.
        await asyncio.sleep(0)

    async def __aenter__(self) -> NodeConnection:
        self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def wait_for_state(self, state: ConnectionState, timeout_s: float | None = None) -> None:
        """Return once the connection is in ``state`` (TimeoutError after ``timeout_s``)."""
        if self._state is state:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (state, waiter)
        self._state_waiters.append(entry)
        try:
            await asyncio.wait_for(waiter, timeout_s)
        finally:
            self._state_waiters.remove(entry)

    async def action(
        self, action: Action, *, timeout_s: float | None = None, check: bool = True
    ) -> ActionResult:
        """Send one validated action and await its whole reply (list items included).

        Raises NotConnectedError when not logged in, ActionTimeoutError after ``timeout_s``
        (default ``action_timeout``), ActionFailedError on ``Response: Error`` when
        ``check`` is true. Async Originate returns at "successfully queued"; its
        OriginateResponse arrives later through ``on_event`` with the same ActionID.
        """
        protocol = self._protocol
        logged_in = self._state in (ConnectionState.RESYNCING, ConnectionState.CONNECTED)
        if protocol is None or protocol.closed or not logged_in:
            raise NotConnectedError(f"node {self.node_id}: not connected")
        wait = self._node.action_timeout if timeout_s is None else timeout_s
        result = await protocol.request(action, self._next_action_id(), wait)
        if check and not result.ok:
            raise ActionFailedError(action.name, result.message or "")
        return result

    # --- supervisor ----------------------------------------------------------------------------

    async def _supervise(self) -> None:
        attempt = 0
        try:
            while not self._stopping:
                self._set_state(ConnectionState.CONNECTING, "connecting")
                try:
                    await self._session()
                    reason = "session ended"
                except Exception as exc:  # the supervisor's edge: log, retry
                    reason = self._log_session_end(exc)
                finally:
                    was_logged_in = self._close_session()
                if was_logged_in:
                    attempt = 0
                self._set_state(ConnectionState.DOWN, reason)
                if self._stopping:
                    break
                delay = backoff_delay(
                    attempt,
                    base=self._node.backoff_base,
                    cap=self._node.backoff_cap,
                    jitter=self._node.backoff_jitter,
                    rng=self._rng,
                )
                attempt += 1
                log.info("node %s: reconnecting in %.2f s", self.node_id, delay)
                await asyncio.sleep(delay)
        finally:
            self._close_session()
            if self._state is not ConnectionState.DOWN:
                self._set_state(ConnectionState.DOWN, "stopped")

    def _supervisor_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("node %s: supervisor died", self.node_id, exc_info=task.exception())

    async def _session(self) -> None:
        """One session, from TCP connect to its end (always by an exception)."""
        node = self._node
        loop = asyncio.get_running_loop()
        self._logged_in = False
        self._resync_probe = None
        self._booted.clear()
        # Every session starts with a resync; a FullyBooted sent at login merges into it.
        self._resync_wanted.set()
        try:
            async with asyncio.timeout(node.connect_timeout):
                _, protocol = await loop.create_connection(
                    lambda: AmiProtocol(node.node_id, self._deliver),
                    node.host,
                    node.port,
                    ssl=node.tls_context,
                    server_hostname=(node.server_hostname or node.host)
                    if node.tls_context
                    else None,
                )
        except ssl.SSLError as exc:
            raise self._tls_failed(exc) from exc
        self.tls_failure = None
        self._protocol = protocol
        login = actions.login(node.username, node.secret, node.event_mask)
        reply = await protocol.request(login, self._next_action_id(), node.action_timeout)
        if not reply.ok:
            self.login_refused = True
            log.error(
                "node %s: AMI authentication failed for user %r on %s:%s (%s): check its secret",
                node.node_id,
                node.username,
                node.host,
                node.port,
                reply.message or "refused",
            )
            raise LoginFailedError("Login", f"authentication failed: {reply.message or 'refused'}")
        self.login_refused = False
        self._logged_in = True
        self.stats.sessions += 1
        logged_in_at = time.time()
        if self._gap_from is not None and self._on_gap is not None:
            self._notify(self._on_gap, Gap(node.node_id, self._gap_from, logged_in_at))
        self._gap_from = None
        self._set_state(ConnectionState.RESYNCING, "logged in")
        await self._exclude_events(protocol)
        async with asyncio.TaskGroup() as session_tasks:
            session_tasks.create_task(self._keepalive(protocol), name=f"ami-ping-{node.node_id}")
            session_tasks.create_task(
                self._resync_worker(protocol), name=f"ami-resync-{node.node_id}"
            )
            await protocol.wait_closed()
            raise ConnectionError("connection closed by Asterisk")

    def _close_session(self) -> bool:
        """Drop the session's socket; True if it had logged in."""
        protocol, self._protocol = self._protocol, None
        was_logged_in, self._logged_in = self._logged_in, False
        self._resync_probe = None
        if protocol is None:
            return was_logged_in
        if was_logged_in:
            # Events may be missing from the last bytes received until the next login.
            self._gap_from = protocol.last_received_at
        protocol.abort()
        return was_logged_in

    def _tls_failed(self, exc: ssl.SSLError) -> TlsVerificationError:
        node = self._node
        why = getattr(exc, "verify_message", None) or exc.reason or str(exc)
        self.tls_failure = f"TLS verification failed: {why}"
        log.error(
            "node %s: AMI TLS verification failed on %s:%s (%s): check its [node.tls] "
            "ca_file and server_hostname",
            node.node_id,
            node.host,
            node.port,
            why,
        )
        return TlsVerificationError(f"node {node.node_id}: {self.tls_failure}")

    def _log_session_end(self, exc: BaseException) -> str:
        causes = list(_leaves(exc))
        reason = "; ".join(f"{type(cause).__name__}: {cause}" for cause in causes)
        if all(isinstance(cause, AmiError | OSError | TimeoutError) for cause in causes):
            log.warning("node %s: session ended: %s", self.node_id, reason)
        else:
            log.error("node %s: session failed: %s", self.node_id, reason, exc_info=exc)
        return reason

    async def _exclude_events(self, protocol: AmiProtocol) -> None:
        pending = [
            protocol.send_action(actions.exclude_event(name), self._next_action_id())
            for name in self._node.excluded_events
        ]
        replies = await protocol.wait_all(pending, self._node.action_timeout)
        refused = sum(not reply.ok for reply in replies)
        if refused:
            log.warning(
                "node %s: Asterisk refused %d event filter(s) (the AMI user needs write=system);"
                " relying on the event class mask",
                self.node_id,
                refused,
            )

    async def _keepalive(self, protocol: AmiProtocol) -> None:
        timeout = self._node.effective_ping_timeout
        while True:
            await asyncio.sleep(self._node.ping_interval)
            try:
                await protocol.request(actions.ping(), self._next_action_id(), timeout)
            except TimeoutError as exc:
                protocol.abort()
                raise PingTimeoutError(f"no Pong within {timeout:g} s: link dead") from exc

    # --- resync --------------------------------------------------------------------------------

    async def _resync_worker(self, protocol: AmiProtocol) -> None:
        # Asterisk sends FullyBooted at login when it is up, or later when boot ends.
        await self._booted.wait()
        while True:
            await self._resync_wanted.wait()
            self._resync_wanted.clear()
            trigger = "login"
            if self._state is ConnectionState.CONNECTED:
                trigger = "FullyBooted"
                self._set_state(ConnectionState.RESYNCING, trigger)
            await self._resync(protocol, trigger)

    async def _resync(self, protocol: AmiProtocol, trigger: str) -> None:
        started_at = time.time()

        def deliver(last: ActionResult) -> None:
            # Runs inside the reader when CoreShowChannelsComplete arrives, before any
            # later frame is dispatched: every event delivered after the snapshot came
            # after it on the wire, so a consumer can rebuild from it and apply them.
            earlier = [item.future for item in pending[:-1]]
            if not all(f.done() and not f.cancelled() and f.exception() is None for f in earlier):
                return  # a timeout or error; the worker below raises it
            replies = [*(f.result() for f in earlier), last]
            if not all(reply.ok for reply in replies):
                return
            snapshot = ResyncSnapshot(
                node=self.node_id,
                trigger=trigger,
                started_at=started_at,
                completed_at=time.time(),
                queue_status=replies[0].events,
                queue_summary=replies[1].events,
                channels=replies[2].events,
            )
            self.stats.resyncs += 1
            if self._on_resync is not None:
                self._notify(self._on_resync, snapshot)
            self._set_state(ConnectionState.CONNECTED, "resynced")

        # Sent back to back; Asterisk answers them in order, CoreShowChannels last.
        pending = [
            protocol.send_action(actions.queue_status(), self._next_action_id()),
            protocol.send_action(actions.queue_summary(), self._next_action_id()),
            protocol.send_action(actions.core_show_channels(), self._next_action_id(), deliver),
        ]
        self._resync_probe = pending[0]
        replies = await protocol.wait_all(pending, self._node.resync_timeout)
        for reply in replies:
            if not reply.ok:
                raise ActionFailedError(reply.action, reply.message or "")

    def _reloaded(self) -> None:
        # A reload adds and removes queue members without a QueueMember* event for each
        # (static members): the consumers' boards are rebuilt from a fresh QueueStatus.
        if self._booted.is_set():
            self._want_resync()

    def _fully_booted(self, event: AmiEvent) -> None:
        self._booted.set()
        self._want_resync()

    def _want_resync(self) -> None:
        if self._resync_wanted.is_set():
            return  # a resync is queued and will see the booted state
        probe = self._resync_probe
        if probe is not None and not probe.responded:
            return  # the running resync's QueueStatus was answered after this event
        self._resync_wanted.set()

    # --- delivery ------------------------------------------------------------------------------

    def _deliver(self, event: AmiEvent) -> None:
        """The reader's sink: count, react to our own events, hand on. Never raises."""
        self.stats.events += 1
        if event.invalid_fields:
            self.stats.malformed_events += 1
            log.debug("node %s: malformed %s: %s", self.node_id, event.name, event.invalid_fields)
        handler = self._own_handlers.get(type(event))
        if handler is not None:
            handler(event)
        elif event.name == "Reload" and event.headers.get("Module") in RESYNC_ON_RELOAD:
            self._reloaded()
        self._notify(self._on_event, event)

    def _notify(self, callback: Callable[[_T], None], value: _T) -> None:
        try:
            callback(value)
        except Exception:
            self.stats.callback_errors += 1
            log.exception("node %s: callback %r failed", self.node_id, callback)

    def _set_state(self, new: ConnectionState, reason: str) -> None:
        old = self._state
        check_transition(old, new)
        self._state = new
        log.info("node %s: %s -> %s (%s)", self.node_id, old.name, new.name, reason)
        for wanted, waiter in self._state_waiters:
            if wanted is new and not waiter.done():
                waiter.set_result(None)
        if self._on_state_change is not None:
            self._notify(
                self._on_state_change, StateChange(self.node_id, old, new, time.time(), reason)
            )

    def _next_action_id(self) -> str:
        return f"{self._action_prefix}-{next(self._action_ids)}"


def _leaves(exc: BaseException) -> Iterator[BaseException]:
    """The real errors inside (possibly nested) exception groups."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _leaves(inner)
    else:
        yield exc
