"""Which node, and which queue_log, ``callctl reconcile|verify`` read (pure).

With ``CALLCTL_NODES_FILE`` set, the node comes from that file: ``--node`` names one of
its nodes (it may be left out when the file lists one node), and without
``--queue-log``/``--shipped`` the node's own source is read: its file in ``file`` mode,
its shipped lines in ``shipped`` mode. Without a nodes file, the lab-era settings
(``CALLCTL_NODE_ID``, ``CALLCTL_QUEUE_LOG_PATH``) are the fallback.
"""

from __future__ import annotations

from pathlib import Path

from callctl.errors import SettingError
from callctl.ingest.queue_log.shipped import Shipped
from callctl.ingest.queue_log.source import QueueLogSource
from callctl.nodes import SETTING, NodesConfig


class NodeChoiceError(SettingError):
    """``--node`` is needed, or names no node of the nodes file (one line)."""


def node_and_source(
    nodes: NodesConfig | None,
    node: str | None,
    source: QueueLogSource | None,
    *,
    fallback_node: str,
    fallback_path: Path,
) -> tuple[str, QueueLogSource]:
    """The node id and queue_log source to read, from the command line and the nodes."""
    if nodes is None:
        return node or fallback_node, fallback_path if source is None else source
    ids = ", ".join(nodes.node_ids)
    if node is None:
        if len(nodes.nodes) != 1:
            raise NodeChoiceError(f"--node is needed: {SETTING} lists the nodes {ids}")
        node = nodes.nodes[0].node_id
    if source is not None:  # an explicit source: any node id (e.g. one since removed)
        return node, source
    if node not in nodes.node_ids:
        raise NodeChoiceError(f"--node {node}: no such node in {SETTING} (its nodes: {ids})")
    queue_log = nodes.node(node).queue_log
    if queue_log.mode == "file" and queue_log.path is not None:
        return node, queue_log.path
    return node, Shipped()
