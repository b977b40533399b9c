"""The running service's collaborators, created in the app's lifespan and closed there."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar

from agents.acw_watch import AcwWatch, LimitsLoader
from agents.restore_watch import HomesLoader, RestartRestorer
from ami.connection import AmiNode, Gap, NodeConnection
from ami.state import ConnectionState, StateChange
from callctl.ingest.pipeline import IngestPipeline
from callctl.live.service import LinesLoader, LiveService, SatisfiedKeysLoader, build_live_hub
from callctl.nodes import NodesConfig
from callctl.settings import Settings
from kpi.inputs import AcwCapsLoader

log = logging.getLogger(__name__)


def ami_nodes(nodes: NodesConfig) -> list[AmiNode]:
    """The AMI connections to keep, one per configured node."""
    return [
        # Reconnect soon after Asterisk answers again (within 3 s), and notice a silent
        # link within two ping intervals.
        node.ami_node(ping_interval=2.0, backoff_cap=2.0)
        for node in nodes.nodes
    ]


@dataclass
class Runtime:
    """One AMI connection per node, and what the service counts about them."""

    settings: Settings
    pipeline: IngestPipeline
    nodes: NodesConfig
    live: LiveService | None = None
    connections: dict[str, NodeConnection] = field(default_factory=dict)
    gaps: list[Gap] = field(default_factory=list)
    # --- ACW watch: ends after-call work past its line's acw_max_s, per node. ---
    acw_limits: LimitsLoader | None = None
    acw_watches: dict[str, AcwWatch] = field(default_factory=dict)
    # --- restart restore: agents' logins and pauses put back after a node restart. ---
    restorers: dict[str, RestartRestorer] = field(default_factory=dict)
    homed_elsewhere: Callable[[str], HomesLoader] | None = None

    async def start(self, nodes: list[AmiNode]) -> None:
        await self.pipeline.start()
        if self.live is not None:  # live state (callctl.live): attached before any event
            self.live.start()
            for node in nodes:  # every configured node is on the board, down until up
                self.live.hub.on_node_link(node.node_id, "down")
        for node in nodes:
            watch = AcwWatch(self.acw_limits) if self.acw_limits is not None else None
            restorer = RestartRestorer(
                node.node_id,
                homed_elsewhere=None
                if self.homed_elsewhere is None
                else self.homed_elsewhere(node.node_id),
            )
            resyncs = [
                restorer.on_resync,
                *([] if self.live is None else [self.live.hub.on_resync]),
                *([] if watch is None else [watch.on_resync]),
            ]
            events = [*([watch.on_event] if watch else []), restorer.on_event]
            conn = NodeConnection(
                node,
                # The pipeline (and through it the live state) sees each event
                # first, then the ACW watch and the restorer; resyncs go to the
                # restorer (which compares them with what it knew), the live state, then it.
                on_event=_fan_out(self.pipeline.on_event, *events),
                on_state_change=self._on_state_change,
                on_gap=self._on_gap,
                on_resync=_fan_out(*resyncs) if resyncs else None,
            )
            self.connections[node.node_id] = conn
            conn.start()
            if watch is not None:
                self.acw_watches[node.node_id] = watch
                watch.start(conn)
            self.restorers[node.node_id] = restorer
            restorer.start(conn)

    async def stop(self) -> None:
        async with _timed("ACW watches"):
            for watch in self.acw_watches.values():
                await watch.stop()
            for restorer in self.restorers.values():
                await restorer.stop()
        async with _timed("AMI connections"):
            for conn in self.connections.values():
                await conn.stop()
        if self.live is not None:
            async with _timed("live state"):
                await self.live.stop()
        async with _timed("ingest pipeline"):
            await self.pipeline.close()

    def node_states(self) -> dict[str, str]:
        """Each node's AMI state; ``auth_failed`` when its last login was refused,
        ``tls_failed`` when its certificate was not accepted."""
        return {node: _node_state(conn) for node, conn in self.connections.items()}

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
        if self.live is not None:
            conn = self.connections.get(change.node)
            self.live.hub.on_node_link(change.node, ami_link(change.new, conn))


def _node_state(conn: NodeConnection) -> str:
    if conn.login_refused:
        return "auth_failed"
    if conn.tls_failure is not None:
        return "tls_failed"
    return conn.state.value


def ami_link(state: ConnectionState, conn: NodeConnection | None) -> str:
    """What the wallboard shows of a node's AMI link."""
    if state in (ConnectionState.RESYNCING, ConnectionState.CONNECTED):
        return "connected"
    if conn is not None and conn.login_refused:
        return "auth_failed"
    if conn is not None and conn.tls_failure is not None:
        return "tls_failed"
    return "down"


@asynccontextmanager
async def _timed(what: str) -> AsyncIterator[None]:
    """Logs a shutdown step that took long (a stalled stop is then easy to place)."""
    started = time.monotonic()
    yield
    took = time.monotonic() - started
    if took > 1.0:
        log.warning("stopping %s took %.1f s", what, took)


_T = TypeVar("_T")


def _fan_out(first: Callable[[_T], None], *rest: Callable[[_T], None]) -> Callable[[_T], None]:
    """One callback calling each given one in order (just ``first`` when it is alone)."""
    if not rest:
        return first
    callbacks = (first, *rest)

    def deliver(item: _T) -> None:
        for callback in callbacks:
            callback(item)

    return deliver


def build_runtime(
    settings: Settings,
    database_url: str,
    nodes: NodesConfig,
    *,
    acw_caps: AcwCapsLoader,
    acw_limits: LimitsLoader | None = None,
    lines: LinesLoader | None = None,
    satisfied_keys: SatisfiedKeysLoader | None = None,
    homed_elsewhere: Callable[[str], HomesLoader] | None = None,
) -> Runtime:
    # Nodes whose queue_log is shipped have no file here (see the queue_log follower).
    queue_logs = {
        node.node_id: node.queue_log.path
        for node in nodes.nodes
        if node.queue_log.mode == "file" and node.queue_log.path is not None
    }
    pipeline = IngestPipeline(
        database_url,
        settings.spool_dir or settings.cache_dir / "spool",
        queue_logs,
        shipped_nodes=[node.node_id for node in nodes.nodes if node.queue_log.mode == "shipped"],
        raw_event_retention_months=settings.raw_event_retention_months,
        reconcile_max_call=timedelta(seconds=settings.reconcile_max_call_s),
        acw_caps=acw_caps,
        rollup_quiet_s=settings.kpi_rollup_quiet_s,
    )
    live = LiveService(
        build_live_hub(settings),
        pipeline,
        database_url,
        acw_caps,
        lines=lines,
        satisfied_keys=satisfied_keys,
    )
    return Runtime(
        settings=settings,
        pipeline=pipeline,
        nodes=nodes,
        live=live,
        acw_limits=acw_limits,
        homed_elsewhere=homed_elsewhere,
    )
