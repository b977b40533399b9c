"""Call-control use cases over AMI: supervisor monitoring and transfers.

Everything from outside is checked before any AMI action is built: the call must
be one the facts show an agent talking on (a finished or unknown call is refused
from the database alone, with no AMI action sent), the supervisor's endpoint must
be a configured seat, and a transfer target must be a configured queue or agent or
an allowed external number.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from ami import actions
from ami.connection import NodeConnection
from ami.errors import AmiError
from ami.events import AmiEvent, CoreShowChannel
from ami.state import ConnectionState
from callctl.calls import repository
from callctl.calls.conference import (
    CALLER_CONTEXT,
    LEADER_CONTEXT,
    PARTY_CONTEXT,
    ConferenceKind,
    caller_leg,
    conference_name,
    party_channel,
)
from callctl.calls.conference_watch import ConferenceEvents, ConferenceWatches
from callctl.calls.monitor import AgentLeg, MonitorMode, agent_leg, chanspy_data
from callctl.calls.transfer import InvalidTargetError, TransferTarget, transfer_destination
from callctl.calls.watch import MonitorWatches, SpyEnd
from callctl.db_types import Pool
from callctl.errors import ReportedError
from callctl.nodes import NodesConfigError, load_nodes
from callctl.routing_config.service import RoutingService
from callctl.settings import Settings

SPY_RING_TIMEOUT_MS = 30_000
PARTY_RING_TIMEOUT_MS = 30_000


class CallControlError(ReportedError):
    """A call-control command was refused or failed."""


@dataclass(frozen=True, slots=True)
class MonitorStarted:
    session_id: int
    agent: str
    agent_channel: str
    spy_uniqueid: str
    mode: MonitorMode
    endpoint: str


@dataclass(frozen=True, slots=True)
class TransferDone:
    transfer_id: int
    agent_channel: str
    context: str
    exten: str


@dataclass(frozen=True, slots=True)
class ConferenceStarted:
    conference_id: int
    conference: str
    agent: str
    agent_channel: str
    caller_channel: str
    party_channel: str
    party_channel_id: str


@asynccontextmanager
async def _connection(node: Any, on_event: Any) -> AsyncIterator[NodeConnection]:
    conn = NodeConnection(node, on_event=on_event)
    conn.start()
    try:
        await conn.wait_for_state(ConnectionState.CONNECTED, timeout_s=10)
    except TimeoutError:
        await conn.stop()
        raise CallControlError(
            503, "ami.unavailable", f"Asterisk's AMI on node {node.node_id} does not answer"
        ) from None
    yield conn


@dataclass
class CallControlService:
    pool: Pool
    settings: Settings
    routing: RoutingService
    watches: MonitorWatches
    conferences: ConferenceWatches | None = None

    def _ami_node(self, node: str) -> Any:
        try:
            nodes = load_nodes(self.settings.nodes_file)
            settings = nodes.node(node)
        except NodesConfigError as exc:
            raise CallControlError(503, "config.no_target", str(exc)) from None
        except KeyError:
            raise CallControlError(404, "node.not_found", f"no node {node!r}") from None
        # Only call events (and FullyBooted): the session watches one channel's end.
        return replace(settings.ami_node(), event_mask=("system", "call"), excluded_events=())

    async def _connected_entry(self, node: str, callid: str) -> repository.ConnectedEntry:
        state = await repository.call_state(self.pool, node, callid)
        if not state.known:
            raise CallControlError(404, "calls.not_found", f"no call {callid} on node {node}")
        if state.connected is None:
            raise CallControlError(
                409, "calls.not_connected", f"call {callid} has no agent on it now (finished?)"
            )
        return state.connected

    async def _seat(self, endpoint: str, field: str) -> str:
        model = await self.routing.model_in_force()
        try:
            return model.agent(endpoint).agent_id
        except KeyError:
            raise CallControlError(
                422, "calls.unknown_endpoint", f"{field}: no seat {endpoint!r}", {"field": field}
            ) from None

    @staticmethod
    async def _agent_leg(
        conn: NodeConnection, entry: repository.ConnectedEntry, callid: str
    ) -> tuple[AgentLeg, list[CoreShowChannel]]:
        result = await conn.action(actions.core_show_channels(), timeout_s=10)
        channels = [e for e in result.events if isinstance(e, CoreShowChannel)]
        leg = agent_leg(channels, entry.linkedid, entry.agent)
        if leg is None:
            raise CallControlError(
                409, "calls.not_connected", f"call {callid}: agent {entry.agent} is not on it now"
            )
        return leg, channels

    async def monitor(
        self,
        *,
        user_id: int,
        username: str,
        node: str,
        callid: str,
        mode: MonitorMode,
        endpoint: str,
    ) -> MonitorStarted:
        await self._seat(endpoint, "endpoint")
        entry = await self._connected_entry(node, callid)
        ami_node = self._ami_node(node)
        spy_uniqueid = f"callctl-spy-{secrets.token_hex(8)}"
        end = SpyEnd(spy_uniqueid)
        async with _connection(ami_node, end.on_event) as conn:
            try:
                leg, channels = await self._agent_leg(conn, entry, callid)
                # A new request by the same supervisor on the same call replaces the last.
                mine = await repository.open_monitors_of(self.pool, user_id, node, callid)
                for channel in channels:
                    if channel.uniqueid in mine and channel.channel:
                        await conn.action(actions.hangup(channel.channel), check=False)
                async with self.pool.acquire() as db:
                    session_id = await repository.open_monitor(
                        db,
                        user_id=user_id,
                        username=username,
                        node=node,
                        callid=callid,
                        agent=entry.agent,
                        agent_channel=leg.channel,
                        mode=mode.value,
                        endpoint=endpoint,
                        spy_uniqueid=spy_uniqueid,
                    )
                originate = actions.originate_to_application(
                    f"PJSIP/{endpoint}",
                    "ChanSpy",
                    chanspy_data(leg.uniqueid, mode),
                    timeout_ms=SPY_RING_TIMEOUT_MS,
                    caller_id_name=f"monitor {entry.agent}",
                    caller_id_num=entry.agent,
                    channel_id=spy_uniqueid,
                )
                result = await conn.action(originate, check=False)
            except AmiError as exc:
                await conn.stop()
                raise CallControlError(502, "ami.action_failed", str(exc)) from exc
            except BaseException:
                await conn.stop()
                raise
            if not result.ok:
                await conn.stop()
                await repository.close_monitor(self.pool, spy_uniqueid, "originate_refused")
                raise CallControlError(
                    502, "ami.action_refused", f"Asterisk refused Originate: {result.message}"
                )
            self.watches.watch(conn, end)
        return MonitorStarted(session_id, entry.agent, leg.channel, spy_uniqueid, mode, endpoint)

    async def _check_caller(self, entry: repository.ConnectedEntry, only_agent: str | None) -> None:
        if only_agent is not None and entry.agent != only_agent:
            raise CallControlError(403, "auth.forbidden", "an agent may act only on its own call")

    async def conference(
        self,
        *,
        user_id: int,
        username: str,
        node: str,
        callid: str,
        kind: ConferenceKind,
        target: str,
        only_agent: str | None = None,
    ) -> ConferenceStarted:
        """A three-way call: the caller and its agent into a new ConfBridge conference
        (the agent leads it), the third party (a seat or an allowed number) rung into it.
        ``only_agent``: the requester is an agent, who may do this only on its own call."""
        model = await self.routing.model_in_force()
        try:
            party = party_channel(model, kind, target)
        except InvalidTargetError as exc:
            raise CallControlError(
                422, "calls.invalid_target", str(exc), {"field": exc.field}
            ) from None
        entry = await self._connected_entry(node, callid)
        await self._check_caller(entry, only_agent)
        if kind is ConferenceKind.AGENT and target == entry.agent:
            raise CallControlError(
                422,
                "calls.invalid_target",
                "target: the call's own agent is already on it",
                {"field": "target"},
            )
        if await repository.open_conference_of(self.pool, node, callid) is not None:
            raise CallControlError(
                409, "calls.in_conference", f"call {callid} is already in a three-way call"
            )
        if self.conferences is None:
            raise CallControlError(503, "service.starting", "call control is not ready")
        ami_node = self._ami_node(node)
        party_id = f"callctl-conf-party-{secrets.token_hex(8)}"
        events: ConferenceEvents | None = None

        def on_event(event: AmiEvent) -> None:
            if events is not None:
                events.on_event(event)

        async with _connection(ami_node, on_event) as conn:
            conference_id: int | None = None
            try:
                leg, channels = await self._agent_leg(conn, entry, callid)
                caller = caller_leg(channels, leg)
                if caller is None:
                    raise CallControlError(
                        409, "calls.not_connected", f"call {callid}: the agent has no caller now"
                    )
                async with self.pool.acquire() as db, db.transaction():
                    conference_id = await repository.open_conference(
                        db,
                        node=node,
                        callid=callid,
                        entry=entry,
                        target_kind=kind.value,
                        target=target,
                        requested_by=user_id,
                        username=username,
                    )
                name = conference_name(conference_id)
                events = ConferenceEvents(conference_id, name, caller.uniqueid, leg.uniqueid)
                events.party_channel_id = party_id
                exten = str(conference_id)
                # Both at once: moving one would end the bridge (and the call) for the other.
                moved = await conn.action(
                    actions.redirect(
                        caller.channel,
                        CALLER_CONTEXT,
                        exten,
                        extra=(leg.channel, LEADER_CONTEXT, exten),
                    ),
                    check=False,
                )
                if not moved.ok:
                    await self._fail_conference(conference_id, "redirect_refused")
                    raise CallControlError(
                        409,
                        "calls.conference_refused",
                        f"Asterisk refused to move the call: {moved.message}",
                    )
                rung = await conn.action(
                    actions.originate_to_extension(
                        party,
                        PARTY_CONTEXT,
                        exten,
                        timeout_ms=PARTY_RING_TIMEOUT_MS,
                        caller_id_name="三方通话",
                        caller_id_num=entry.agent,
                        channel_id=party_id,
                    ),
                    check=False,
                )
            except AmiError as exc:
                await conn.stop()
                if conference_id is not None:
                    await self._fail_conference(conference_id, "ami_failed")
                raise CallControlError(502, "ami.action_failed", str(exc)) from exc
            except BaseException:
                await conn.stop()
                raise
            assert events is not None
            self.conferences.watch(conn, events)
        if not rung.ok:
            # Caller and agent are in the conference already: it goes on without.
            raise CallControlError(
                502,
                "ami.action_refused",
                f"Asterisk refused to call the third party: {rung.message}",
            )
        return ConferenceStarted(
            conference_id, name, entry.agent, leg.channel, caller.channel, party, party_id
        )

    async def _fail_conference(self, conference_id: int, reason: str) -> None:
        await repository.close_conference(self.pool, conference_id, reason, datetime.now(UTC))

    async def transfer(
        self,
        *,
        user_id: int,
        node: str,
        callid: str,
        target: TransferTarget,
        only_agent: str | None = None,
        attended: bool = False,
    ) -> TransferDone:
        """``only_agent``: the caller is an agent, who may transfer only its own call.
        ``attended``: Atxfer (the agent consults the target, its hangup completes it)."""
        model = await self.routing.model_in_force()
        try:
            context, exten = transfer_destination(model, target)
        except InvalidTargetError as exc:
            raise CallControlError(
                422, "calls.invalid_target", str(exc), {"field": exc.field}
            ) from None
        if attended and not exten.isdigit():
            raise CallControlError(
                422,
                "calls.invalid_target",
                "kind: an attended transfer goes to a seat or a number, not a queue",
                {"field": "kind"},
            )
        entry = await self._connected_entry(node, callid)
        await self._check_caller(entry, only_agent)

        def ignore(event: AmiEvent) -> None:
            return None

        async with _connection(self._ami_node(node), ignore) as conn:
            try:
                leg, _ = await self._agent_leg(conn, entry, callid)
                # The agent's channel is the transferer: its peer (the caller) goes on.
                build = actions.attended_transfer if attended else actions.blind_transfer
                result = await conn.action(build(leg.channel, context, exten), check=False)
            except AmiError as exc:
                raise CallControlError(502, "ami.action_failed", str(exc)) from exc
            finally:
                await conn.stop()
        if not result.ok:
            raise CallControlError(
                409, "calls.transfer_refused", f"Asterisk refused the transfer: {result.message}"
            )
        transfer_id = await repository.record_transfer(
            self.pool,
            node=node,
            callid=callid,
            entry=entry,
            kind="attended" if attended else "blind",
            target_kind=target.kind.value,
            target=target.value,
            requested_by=user_id,
        )
        return TransferDone(transfer_id, leg.channel, context, exten)
