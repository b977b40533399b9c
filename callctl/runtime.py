"""The running service's collaborators, created in the app's lifespan and closed there."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

from ami.connection import AmiNode, Gap, NodeConnection
from ami.events import AmiEvent
from ami.state import StateChange
from callctl.lab.state import LabState
from callctl.settings import Settings

log = logging.getLogger(__name__)


class NoAmiNodeError(Exception):
    error_id = "ami.no_node"


def lab_nodes(settings: Settings) -> list[AmiNode]:
    """The AMI nodes to watch: the lab's Asterisk, with its generated secret."""
    state = LabState.load(settings.lab_dir)
    if state is None:
        raise NoAmiNodeError("no AMI node configured: run `callctl lab up` first")
    return [
        AmiNode(
            node_id=settings.node_id,
            host=settings.ami_host,
            port=settings.ami_port,
            username="callctl",
            secret=state.ami_secret,
        )
    ]


@dataclass
class Runtime:
    """One AMI connection per node, and what the service counts about them."""

    settings: Settings
    connections: dict[str, NodeConnection] = field(default_factory=dict)
    events_by_name: Counter[str] = field(default_factory=Counter)
    gaps: list[Gap] = field(default_factory=list)

    def start(self, nodes: list[AmiNode]) -> None:
        for node in nodes:
            conn = NodeConnection(
                node,
                on_event=self._on_event,
                on_state_change=self._on_state_change,
                on_gap=self.gaps.append,
            )
            self.connections[node.node_id] = conn
            conn.start()

    async def stop(self) -> None:
        for conn in self.connections.values():
            await conn.stop()

    def node_states(self) -> dict[str, str]:
        return {node: conn.state.value for node, conn in self.connections.items()}

    def _on_event(self, event: AmiEvent) -> None:
        self.events_by_name[event.name] += 1

    def _on_state_change(self, change: StateChange) -> None:
        log.info(
            "AMI node %s: %s -> %s (%s)",
            change.node,
            change.old.value,
            change.new.value,
            change.reason,
        )
