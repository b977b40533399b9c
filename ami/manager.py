"""All configured Asterisk nodes: one :class:`NodeConnection` each, same callbacks."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable, Mapping

from ami.actions import Action
from ami.connection import (
    AmiNode,
    EventCallback,
    GapCallback,
    NodeConnection,
    ResyncCallback,
    StateCallback,
)
from ami.errors import UnknownNodeError
from ami.protocol import ActionResult
from ami.state import ConnectionState


class AmiManager:
    """Holds one connection per node. Events, gaps, snapshots and state changes all carry
    the node id, so one set of callbacks serves every node."""

    def __init__(
        self,
        nodes: Iterable[AmiNode],
        *,
        on_event: EventCallback,
        on_state_change: StateCallback | None = None,
        on_resync: ResyncCallback | None = None,
        on_gap: GapCallback | None = None,
        since: Mapping[str, float] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        """``since``: per node id, when it was last known watched (see NodeConnection)."""
        self._connections: dict[str, NodeConnection] = {}
        for node in nodes:
            if node.node_id in self._connections:
                raise ValueError(f"node id {node.node_id!r} configured twice")
            self._connections[node.node_id] = NodeConnection(
                node,
                on_event=on_event,
                on_state_change=on_state_change,
                on_resync=on_resync,
                on_gap=on_gap,
                since=(since or {}).get(node.node_id),
                rng=rng,
            )

    @property
    def node_ids(self) -> tuple[str, ...]:
        return tuple(self._connections)

    @property
    def states(self) -> dict[str, ConnectionState]:
        return {node_id: conn.state for node_id, conn in self._connections.items()}

    def connection(self, node_id: str) -> NodeConnection:
        try:
            return self._connections[node_id]
        except KeyError:
            raise UnknownNodeError(node_id) from None

    def start(self) -> None:
        for conn in self._connections.values():
            conn.start()

    async def stop(self) -> None:
        async with asyncio.TaskGroup() as stopping:
            for conn in self._connections.values():
                stopping.create_task(conn.stop())

    async def __aenter__(self) -> AmiManager:
        self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def wait_connected(self, timeout_s: float | None = None) -> None:
        """Return once every node is CONNECTED (logged in and resynced)."""
        async with asyncio.timeout(timeout_s), asyncio.TaskGroup() as waiting:
            for conn in self._connections.values():
                waiting.create_task(conn.wait_for_state(ConnectionState.CONNECTED))

    async def action(
        self, node_id: str, action: Action, *, timeout_s: float | None = None, check: bool = True
    ) -> ActionResult:
        return await self.connection(node_id).action(action, timeout_s=timeout_s, check=check)
