"""Use cases: read the routing config in force, change it (validate, store, apply)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from agents.acw_timer import AcwLimits, acw_limits, line_caps
from agents.home import check_home_nodes, homed_elsewhere
from callctl.db_types import Pool
from callctl.routing_config import repository
from callctl.routing_config.apply import (
    AmiSession,
    ApplyError,
    NodeChange,
    ami_session,
    apply_to_nodes,
)
from callctl.routing_config.convert import outbound_trunk as convert_outbound
from callctl.routing_config.convert import to_model
from callctl.routing_config.schemas import RoutingDoc
from callctl.routing_config.target import NodeTarget, deployment, initial_doc, node_targets
from callctl.settings import Settings
from kpi.inputs import AcwCaps, AcwCapsLoader
from routing.model import OutboundTrunk, PbxModel

Mutation = Callable[[RoutingDoc], RoutingDoc]


@dataclass
class RoutingService:
    pool: Pool
    settings: Settings
    session: AmiSession = ami_session
    targets: Callable[[Settings], list[NodeTarget]] = node_targets
    # One change at a time: each is validated against, and applied over, the last.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def in_force(self) -> tuple[int | None, RoutingDoc]:
        stored = await repository.current(self.pool)
        if stored is None:
            return None, initial_doc(self.settings)
        return stored

    async def model_in_force(self) -> PbxModel:
        _, doc = await self.in_force()
        return to_model(doc, deployment(self.settings))

    async def change(self, mutate: Mutation, user_id: int | None, change: str) -> int:
        """Validate (InvalidConfigError), store, apply (ApplyError); the new version id."""
        async with self.lock:
            _, doc = await self.in_force()
            new_doc = mutate(doc.model_copy(deep=True))
            # Each node renders the same document with its own AMI user and addresses.
            changes = [
                NodeChange(
                    target.apply,
                    to_model(new_doc, target.deployment),
                    to_model(doc, target.deployment),
                )
                for target in self.targets(self.settings)
            ]
            # Agents' home nodes must be configured nodes (the same on every node's model).
            if changes:
                node_ids = [c.target.node.node_id for c in changes]
                check_home_nodes(changes[0].model.agents, node_ids)
            version = await repository.add_version(self.pool, new_doc, user_id, change)
            try:
                await apply_to_nodes(changes, session=self.session)
            except ApplyError as exc:
                status = "rejected" if exc.status == 409 else "failed"
                await repository.set_status(
                    self.pool, version, status, error_id=exc.error_id, error_message=exc.message
                )
                raise
            await repository.set_status(self.pool, version, "applied")
            return version


def routing_acw_limits(pool: Pool, settings: Settings) -> Callable[[], Awaitable[AcwLimits]]:
    """The ACW limits of the routing config in force, loaded when the ACW watch asks."""
    service = RoutingService(pool, settings)

    async def load() -> AcwLimits:
        return acw_limits(await service.model_in_force())

    return load


def routing_homed_elsewhere(
    pool: Pool, settings: Settings
) -> Callable[[str], Callable[[], Awaitable[frozenset[str]]]]:
    """For a node: a loader of the interfaces of the agents homed on another node (the
    restorer does not log them in again there)."""
    service = RoutingService(pool, settings)

    def for_node(node_id: str) -> Callable[[], Awaitable[frozenset[str]]]:
        async def load() -> frozenset[str]:
            return homed_elsewhere((await service.model_in_force()).agents, node_id)

        return load

    return for_node


def routing_acw_caps(pool: Pool, settings: Settings) -> AcwCapsLoader:
    """Each line's ``acw_max_s`` in the routing config in force: the one source of the
    ACW cap for the KPIs, the rollups and the live view (the ACW watch's limits above
    come from the same lines)."""
    service = RoutingService(pool, settings)

    async def load() -> AcwCaps:
        # From the document's lines alone: the KPIs need no node deployment (the API
        # serves figures where no node is configured).
        _, doc = await service.in_force()
        return line_caps({line.number: line.acw_max_s for line in doc.lines})

    return load


def routing_lines(pool: Pool, settings: Settings) -> Callable[[], Awaitable[dict[str, str]]]:
    """Each queue's service line in the routing config in force (for the live view)."""
    service = RoutingService(pool, settings)

    async def load() -> dict[str, str]:
        _, doc = await service.in_force()
        # Several lines may share a queue (the lab's 12346 is 12345 with a survey):
        # the first listed names it.
        lines: dict[str, str] = {}
        for line in doc.lines:
            lines.setdefault(line.queue, line.number)
        return lines

    return load


def routing_satisfied_keys(
    pool: Pool, settings: Settings
) -> Callable[[], Awaitable[dict[str, frozenset[int]]]]:
    """Each surveyed line's satisfied keys (``Survey.satisfied_keys``) in the config in force."""
    service = RoutingService(pool, settings)

    async def load() -> dict[str, frozenset[int]]:
        _, doc = await service.in_force()
        return {
            line.number: frozenset(line.survey.satisfied_keys)
            for line in doc.lines
            if line.survey is not None
        }

    return load


def routing_outbound_trunk(
    pool: Pool, settings: Settings
) -> Callable[[], Awaitable[OutboundTrunk | None]]:
    """The outbound trunk in the routing config in force (for the callback dialer)."""
    service = RoutingService(pool, settings)

    async def load() -> OutboundTrunk | None:
        _, doc = await service.in_force()
        return convert_outbound(doc.outbound_trunk)

    return load
