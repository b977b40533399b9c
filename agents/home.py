"""Where an agent's commands go: its home node (pure).

An agent works on one node: the one its softphone registers with, whose ``app_queue``
holds its memberships and pauses (docs/nodes-and-kamailio.md). The routing config
names it per agent (``home_node``, a node id of ``CALLCTL_NODES_FILE``). With one node
it may be left out; with several, an agent without one has no node to command, and
one naming a node that is not configured is a stale config: both are refused, naming
the field, rather than guessed (a pause sent to the wrong node pauses nobody).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from callctl.errors import ReportedError
from callctl.routing_config.convert import InvalidConfigError
from routing.model import Agent, ConfigValueError


class HomeNodeError(ReportedError):
    """The agent has no usable home node; 409: the stored routing config must change."""

    def __init__(self, error_id: str, message: str, agent_id: str) -> None:
        super().__init__(409, error_id, message, {"field": "home_node", "agent_id": agent_id})


def home_node(agent: Agent, node_ids: Sequence[str]) -> str:
    """The node id ``agent``'s commands go to, among the configured ``node_ids``."""
    fix = f"set it with PUT /api/v1/routing/agents/{agent.agent_id}"
    if agent.home_node is not None:
        if agent.home_node not in node_ids:
            raise HomeNodeError(
                "agent.home_node_unknown",
                f"agent {agent.agent_id}: home_node {agent.home_node!r} is not a configured "
                f"node ({', '.join(node_ids)}); {fix}",
                agent.agent_id,
            )
        return agent.home_node
    if len(node_ids) == 1:
        return node_ids[0]
    raise HomeNodeError(
        "agent.home_node_missing",
        f"agent {agent.agent_id}: no home_node, and {len(node_ids)} nodes are configured "
        f"({', '.join(node_ids)}): which one its softphone registers with is not known; {fix}",
        agent.agent_id,
    )


def check_home_nodes(agents: Iterable[Agent], node_ids: Sequence[str]) -> None:
    """A routing change may name only configured nodes (InvalidConfigError otherwise)."""
    for agent in agents:
        if agent.home_node is not None and agent.home_node not in node_ids:
            raise InvalidConfigError(
                f"agents[{agent.agent_id}]",
                ConfigValueError(
                    "agent.home_node",
                    agent.home_node,
                    f"not a configured node ({', '.join(node_ids)})",
                ),
            )


def homed_elsewhere(agents: Iterable[Agent], node_id: str) -> frozenset[str]:
    """The interfaces of the agents whose home is another node than ``node_id``."""
    return frozenset(
        agent.interface
        for agent in agents
        if agent.home_node is not None and agent.home_node != node_id
    )
