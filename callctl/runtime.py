"""The running service's collaborators, created in the app's lifespan and closed there."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from ami.connection import AmiNode, Gap, NodeConnection
from ami.state import StateChange
from callctl.ingest.pipeline import IngestPipeline
from callctl.lab.state import LabState
from callctl.live.service import LiveService, build_live_hub
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
            # Reconnect soon after Asterisk answers again (within 3 s), and notice a
            # silent link within two ping intervals.
            ping_interval=2.0,
            backoff_cap=2.0,
        )
    ]


@dataclass
class Runtime:
    """One AMI connection per node, and what the service counts about them."""

    settings: Settings
    pipeline: IngestPipeline
    live: LiveService | None = None
    connections: dict[str, NodeConnection] = field(default_factory=dict)
    gaps: list[Gap] = field(default_factory=list)

    async def start(self, nodes: list[AmiNode]) -> None:
        await self.pipeline.start()
        if self.live is not None:  # live state (callctl.live): attached before any event
            self.live.start()
        for node in nodes:
            conn = NodeConnection(
                node,
                on_event=self.pipeline.on_event,
                on_state_change=self._on_state_change,
                on_resync=None if self.live is None else self.live.hub.on_resync,
                on_gap=self._on_gap,
            )
            self.connections[node.node_id] = conn
            conn.start()

    async def stop(self) -> None:
        for conn in self.connections.values():
            await conn.stop()
        if self.live is not None:
            await self.live.stop()
        await self.pipeline.close()

    def node_states(self) -> dict[str, str]:
        return {node: conn.state.value for node, conn in self.connections.items()}

    def _on_gap(self, gap: Gap) -> None:
        self.gaps.append(gap)
        self.pipeline.on_gap(gap)

    def _on_state_change(self, change: StateChange) -> None:
        log.info(
            "AMI node %s: %s -> %s (%s)",
            change.node,
            change.old.value,
            change.new.value,
            change.reason,
        )


def build_runtime(settings: Settings, database_url: str) -> Runtime:
    pipeline = IngestPipeline(
        database_url,
        settings.spool_dir or settings.cache_dir / "spool",
        {settings.node_id: settings.queue_log_file},
        raw_event_retention_months=settings.raw_event_retention_months,
        reconcile_max_call=timedelta(seconds=settings.reconcile_max_call_s),
    )
    live = LiveService(build_live_hub(settings), pipeline, database_url)
    return Runtime(settings=settings, pipeline=pipeline, live=live)
