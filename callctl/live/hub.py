"""The live state's publisher: numbers each delta and fans it out to subscribers.

Everything here runs on the event loop and never awaits on the AMI reader's path:
``on_event`` folds the event into the state, gives each delta the next ``seq``,
encodes it once (if anyone watches) and offers the text to every subscriber's
bounded buffer. A subscriber that falls ``limit`` frames behind loses its buffer
and is marked stale; its sender then sends a fresh snapshot instead (and skips any frame the
snapshot already covers), so a slow client never holds up the event path and
never sees a gap it does not know about.

``seq`` increases by one per delta for the life of the server process; a
snapshot carries the ``seq`` of the last delta it includes. A client that sees
``seq`` jump (or go back, after a server restart) asks for a fresh snapshot.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ami.connection import ResyncSnapshot
from ami.events import AmiEvent
from callctl.facts.models import Fact
from callctl.ingest.metrics import LatencyHistogram
from callctl.live.state import Delta, LiveState
from kpi.inputs import AcwCaps

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 1000
"""Frames a subscriber may fall behind before it is resynced with a snapshot."""


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def encode(message: dict[str, Any]) -> str:
    # One encoder for the process: json.dumps with options builds a new one per call.
    return _ENCODER.encode(message)


class Subscription:
    """One client's bounded buffer of encoded frames."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._frames: deque[tuple[int, str]] = deque()
        self._wake = asyncio.Event()
        self.stale = False
        self.overflows = 0

    def offer(self, seq: int, text: str) -> None:
        if self.stale:
            return  # a snapshot comes next anyway
        if len(self._frames) >= self._limit:
            self._frames.clear()
            self.stale = True
            self.overflows += 1
        else:
            self._frames.append((seq, text))
        self._wake.set()

    def want_snapshot(self) -> None:
        """The client asked for a fresh snapshot (it saw a gap)."""
        self._frames.clear()
        self.stale = True
        self._wake.set()

    async def next(self) -> tuple[int, str] | None:
        """The next frame, or ``None`` when a fresh snapshot must be sent instead."""
        while not self._frames and not self.stale:
            self._wake.clear()
            await self._wake.wait()
        if self.stale:
            self.stale = False
            self._frames.clear()
            return None
        return self._frames.popleft()

    @property
    def pending(self) -> int:
        return len(self._frames)


@dataclass(slots=True)
class HubStats:
    deltas: int = 0
    errors: int = 0
    resnapshots: int = 0
    event_to_frame: LatencyHistogram = field(default_factory=LatencyHistogram)
    """From an AMI event's arrival to a wallboard frame of its delta being sent."""


# How many recent deltas keep the arrival time of the event that made them.
EVENT_TIMES_KEPT = 4096


class LiveHub:
    """The live state of this process and the clients watching it."""

    def __init__(
        self,
        state: LiveState,
        *,
        limit: int = DEFAULT_LIMIT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state = state
        self.seq = 0
        self.stats = HubStats()
        self._limit = limit
        self._clock = clock
        self._subscribers: set[Subscription] = set()
        # Arrival time of the event behind each recent delta, by seq (None: not an event's).
        self._event_times: deque[float | None] = deque(maxlen=EVENT_TIMES_KEPT)
        # Panels fed from outside the AMI path (e.g. staffing): the last value of each is
        # in every snapshot, and each change goes out as a delta ``{"type": key, key: value}``.
        self.extras: dict[str, Any] = {}

    # --- input (synchronous, on the reader's path) ---------------------------------------

    def on_event(self, event: AmiEvent, facts: Iterable[Fact] = ()) -> None:
        self._guarded(lambda: self.state.apply(event, facts), event.received_at)

    def on_corrections(self, facts: Iterable[Fact]) -> None:
        """Facts the queue_log follower committed (``callctl.ingest.queue_log.follow``)."""
        self._guarded(lambda: self.state.on_corrections(facts))

    def on_resync(self, snapshot: ResyncSnapshot) -> None:
        self._guarded(lambda: self.state.on_resync(snapshot))

    def on_node_link(self, node: str, ami: str) -> None:
        self._guarded(lambda: self.state.on_node_link(node, ami, self._clock()))

    def seed(self, facts: Iterable[Fact]) -> None:
        self._guarded(lambda: self.state.seed(facts))

    def set_acw_caps(self, caps: AcwCaps) -> None:
        self._guarded(lambda: self.state.set_acw_caps(caps))

    def set_satisfied_keys(self, by_line: Mapping[str, frozenset[int]]) -> None:
        self._guarded(lambda: self.state.set_satisfied_keys(by_line))

    def put_extra(self, key: str, value: Any) -> None:
        """Set a panel's value; a delta goes out only when it changed."""
        if self.extras.get(key) == value:
            return
        self.extras[key] = value
        self.publish([{"type": key, key: value, "at": self._clock()}])

    def tick(self) -> None:
        self._guarded(lambda: self.state.tick(self._clock()))

    def _guarded(self, change: Callable[[], list[Delta]], event_at: float | None = None) -> None:
        # A bug in the live view must never stop ingest: log it, count it, carry on.
        try:
            deltas = change()
        except Exception:
            self.stats.errors += 1
            log.exception("live state update failed")
            return
        self.publish(deltas, event_at)

    def publish(self, deltas: list[Delta], event_at: float | None = None) -> None:
        subscribers = self._subscribers
        for delta in deltas:
            self.seq += 1
            self._event_times.append(event_at)
            delta["seq"] = self.seq
            if subscribers:  # encoded once for all, and not at all when nobody watches
                text = encode(delta)
                for subscriber in subscribers:
                    subscriber.offer(self.seq, text)
        self.stats.deltas += len(deltas)

    # --- output --------------------------------------------------------------------------

    def snapshot(self, node: str | None = None) -> dict[str, Any]:
        return {**self.state.snapshot(self._clock(), node), **self.extras, "seq": self.seq}

    def subscribe(self) -> tuple[Subscription, int, str]:
        """A new subscriber, and its first frame (a snapshot) with the ``seq`` it is at.

        Taken together, with no await in between: every later delta reaches the
        subscriber, none that the snapshot already holds does."""
        subscription = Subscription(self._limit)
        self._subscribers.add(subscription)
        return subscription, self.seq, encode(self.snapshot())

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    async def next_frame(self, subscription: Subscription, after: int) -> tuple[int, str]:
        """The subscriber's next frame after ``seq`` ``after``: a delta, or a fresh
        snapshot when it fell behind or asked for one."""
        while True:
            item = await subscription.next()
            if item is None:
                self.stats.resnapshots += 1
                return self.seq, encode(self.snapshot())
            if item[0] > after:
                return item

    def frame_sent(self, seq: int) -> None:
        """A subscriber was sent the delta ``seq``: count its event's delay."""
        index = seq - (self.seq - len(self._event_times) + 1)
        if 0 <= index < len(self._event_times):
            event_at = self._event_times[index]
            if event_at is not None:
                self.stats.event_to_frame.observe(max(0.0, self._clock() - event_at))

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)
