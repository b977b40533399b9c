"""The Asterisk nodes a routing change is applied to, from the settings alone.

Each node of ``CALLCTL_NODES_FILE`` gets the same routing document rendered with its
own deployment (AMI user and secret, addresses) into its own ``config_dir``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from callctl.errors import ReportedError
from callctl.nodes import NodesConfig, NodesConfigError, NodeSettings, load_nodes
from callctl.routing_config.apply import ApplyTarget
from callctl.routing_config.convert import Deployment, to_model
from callctl.routing_config.schemas import RoutingDoc
from callctl.settings import Settings
from routing.model import PbxModel

INITIAL_SETTING = "CALLCTL_INITIAL_ROUTING_FILE"


class NoTargetError(ReportedError):
    def __init__(self, message: str) -> None:
        super().__init__(503, "config.no_target", message)


@dataclass(frozen=True, slots=True)
class NodeTarget:
    """Where one node's config goes, and what the rendered config says about the node."""

    apply: ApplyTarget
    deployment: Deployment


def node_deployment(nodes: NodesConfig, node: NodeSettings) -> Deployment:
    return Deployment(ami=node.ami_user_config, network=node.network, trunks=nodes.trunks)


def nodes_config(settings: Settings) -> NodesConfig:
    """The configured nodes (503 naming the setting when the file is wrong)."""
    try:
        return load_nodes(settings.nodes_file)
    except NodesConfigError as exc:
        raise NoTargetError(str(exc)) from None


def deployment(settings: Settings) -> Deployment:
    """The first node's deployment: enough to validate a document and read its lines."""
    nodes = nodes_config(settings)
    return node_deployment(nodes, nodes.nodes[0])


def initial_doc(settings: Settings) -> RoutingDoc:
    """The routing document in force before the first stored change."""
    path = settings.initial_routing_file
    if path is None:
        return RoutingDoc()
    try:
        return RoutingDoc.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise NoTargetError(f"{INITIAL_SETTING}: {path}: not found") from None
    except (OSError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise NoTargetError(f"{INITIAL_SETTING}: {path}: {first}") from None


def default_model(settings: Settings) -> PbxModel:
    """The initial document as the first node's model."""
    return to_model(initial_doc(settings), deployment(settings))


def node_targets(settings: Settings) -> list[NodeTarget]:
    """Every configured node, in the file's order; each needs a ``config_dir``."""
    nodes = nodes_config(settings)
    targets = []
    for node in nodes.nodes:
        if node.config_dir is None:
            raise NoTargetError(
                f'CALLCTL_NODES_FILE: node "{node.node_id}": config_dir is not set, '
                "so routing changes cannot be applied to it"
            )
        targets.append(
            NodeTarget(
                apply=ApplyTarget(
                    config_dir=settings.asterisk_config_dir,
                    etc_dir=node.config_dir,
                    etc_in_asterisk=node.config_dir_in_asterisk,
                    node=node.ami_node(),
                    layout=node.layout,
                ),
                deployment=node_deployment(nodes, node),
            )
        )
    return targets
