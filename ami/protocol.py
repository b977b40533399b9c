"""One AMI session on the wire: panoramisk's ``AMIProtocol`` with safe framing and replies.

What is kept from panoramisk: the asyncio protocol itself (``connection_made`` sets up the
transport, the ``responses`` table of actions awaiting replies, ``version``, ``close``).
What is replaced, and why:

- ``data_received``: panoramisk decodes each TCP chunk on its own with ``errors='ignore'``
  (a Chinese name cut across two reads loses characters) and builds a slow
  case-insensitive ``Message`` per frame. Here :class:`~ami.frames.FrameParser` decodes
  incrementally and typed events are built straight from frames.
- ``send``: panoramisk writes whatever dict it is given. Here only a validated
  :class:`~ami.actions.Action` can be sent (``send_action``); ``send`` refuses.
- replies: list actions (``EventList: start`` ... ``EventList: Complete``) are collected
  by ActionID, and every wait has a timeout (panoramisk waits forever).

The reader never blocks: ``data_received`` is a plain callback that parses and hands each
event to a synchronous sink.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from panoramisk.ami_protocol import AMIProtocol

from ami.actions import Action
from ami.errors import ActionTimeoutError, ConnectionLostError, NotConnectedError
from ami.events import AmiEvent, parse_event
from ami.frames import Frame, FrameParser

log = logging.getLogger(__name__)

# Responses that mean the action was accepted.
_OK_RESPONSES = frozenset({"Success", "Follows", "Goodbye"})


@dataclass(frozen=True, slots=True)
class ActionResult:
    """Asterisk's answer to one action: the response frame and, for list actions, the
    events that came with its ActionID (``QueueStatusComplete`` and the like excluded)."""

    action: str
    action_id: str
    response: Frame
    events: tuple[AmiEvent, ...] = ()

    @property
    def ok(self) -> bool:
        return self.response.response in _OK_RESPONSES

    @property
    def message(self) -> str | None:
        return self.response.get("Message")


class PendingAction:
    """Frames gathered for one ActionID until its reply is complete."""

    __slots__ = ("_events", "_listing", "action", "action_id", "future", "on_complete", "response")

    def __init__(
        self,
        action: str,
        action_id: str,
        future: asyncio.Future[ActionResult],
        on_complete: Callable[[ActionResult], None] | None = None,
    ) -> None:
        self.action = action
        self.action_id = action_id
        self.future = future
        self.on_complete = on_complete
        self.response: Frame | None = None
        self._listing = False
        self._events: list[AmiEvent] = []

    @property
    def responded(self) -> bool:
        return self.response is not None

    def add(self, frame: Frame, event: AmiEvent | None) -> bool:
        """Take one frame with this ActionID; True once the reply is complete."""
        if event is None:  # a Response frame
            self.response = frame
            # Asterisk's list actions answer "EventList: start" and end with an event that
            # carries "EventList: Complete"; an Error ends the reply at once.
            self._listing = frame.response != "Error" and frame.get("EventList") == "start"
            if self._listing:
                return False
        elif frame.get("EventList") != "Complete":
            self._events.append(event)
            return False
        elif self.response is None:  # never seen from Asterisk; keep the frame as answer
            self.response = frame
        if not self.future.done():
            result = ActionResult(self.action, self.action_id, self.response, tuple(self._events))
            self.future.set_result(result)
            if self.on_complete is not None:
                self.on_complete(result)
        return True


EventSink = Callable[[AmiEvent], None]


class AmiProtocol(AMIProtocol):  # type: ignore[misc]  # panoramisk ships no type hints
    """The asyncio protocol of one session. Build one per TCP connection."""

    # Set by panoramisk's connection_made; declared for the type checker.
    transport: asyncio.Transport
    closed: bool
    responses: dict[str, PendingAction]
    version: str | None

    def __init__(self, node_id: str, on_event: EventSink) -> None:
        self.node_id = node_id
        self._on_event = on_event
        self.parser = FrameParser()
        self.last_received_at = 0.0
        self.reads = 0
        self.unmatched_responses = 0
        self._lost: asyncio.Future[None] | None = None

    # --- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # transport, closed, responses, version, log...
        self.log = log
        self.last_received_at = time.time()
        self._lost = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        # One clock read per TCP read: frames that arrived together share a time.
        now = time.time()
        self.last_received_at = now
        self.reads += 1
        frames = self.parser.feed(data)
        if self.version is None and self.parser.version is not None:
            self.version = self.parser.version
            log.info("node %s: AMI protocol version %s", self.node_id, self.version)
        responses = self.responses
        node_id = self.node_id
        on_event = self._on_event
        for frame in frames:
            headers = frame.headers
            is_event = "Event" in headers
            action_id = headers.get("ActionID")
            if action_id is not None:
                pending = responses.get(action_id)
                if pending is not None:
                    event = parse_event(frame, node_id, now) if is_event else None
                    if pending.add(frame, event):
                        del responses[action_id]
                    continue
            if is_event:
                on_event(parse_event(frame, node_id, now))
            else:
                # A late reply to an action that already timed out, most likely.
                self.unmatched_responses += 1
                log.debug("node %s: response for no waiting action: %r", node_id, frame)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        responses = self.responses
        for pending in responses.values():
            if not pending.future.done():
                pending.future.set_exception(
                    ConnectionLostError(f"node {self.node_id}: connection lost")
                )
        responses.clear()
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)

    # --- sending -----------------------------------------------------------------------------

    def send(self, data: Any, as_list: bool = False) -> Any:
        """Refused: panoramisk's send writes unvalidated dicts. Use :meth:`send_action`."""
        raise TypeError("send a validated ami.actions.Action with send_action()")

    def send_action(
        self,
        action: Action,
        action_id: str,
        on_complete: Callable[[ActionResult], None] | None = None,
    ) -> PendingAction:
        """Write the action now and register its reply; does not wait.

        ``on_complete`` runs inside the reader, right after the reply's last frame and
        before any later frame is dispatched: for work that must keep stream order.
        """
        if self.closed:
            raise NotConnectedError(f"node {self.node_id}: not connected")
        wire = action.to_wire(action_id)
        future = asyncio.get_running_loop().create_future()
        pending = PendingAction(action.name, action_id, future, on_complete)
        self.responses[action_id] = pending
        self.transport.write(wire)
        return pending

    async def wait(self, pending: PendingAction, timeout_s: float) -> ActionResult:
        """The complete reply, or ActionTimeoutError; the reply is forgotten either way."""
        try:
            return await asyncio.wait_for(pending.future, timeout_s)
        except TimeoutError:
            raise ActionTimeoutError(pending.action, pending.action_id, timeout_s) from None
        finally:
            self.discard(pending)

    async def wait_all(self, pending: list[PendingAction], timeout_s: float) -> list[ActionResult]:
        """Replies to actions sent back to back, each within ``timeout_s`` of the previous."""
        try:
            return [await self.wait(item, timeout_s) for item in pending]
        finally:
            for item in pending:  # after a failure, the others are no longer awaited
                self.discard(item)

    async def request(self, action: Action, action_id: str, timeout_s: float) -> ActionResult:
        return await self.wait(self.send_action(action, action_id), timeout_s)

    def discard(self, pending: PendingAction) -> None:
        """Stop waiting for a reply (a late one is then counted as unmatched)."""
        if self.responses.get(pending.action_id) is pending:
            del self.responses[pending.action_id]
        if not pending.future.done():
            pending.future.cancel()

    # --- closing -----------------------------------------------------------------------------

    async def wait_closed(self) -> None:
        if self._lost is not None:
            await asyncio.shield(self._lost)

    def abort(self) -> None:
        """Drop the socket now, without flushing: what a dead or half-open link needs."""
        if not self.closed:
            self.closed = True
            self.transport.abort()
