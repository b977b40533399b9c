"""The lab's AMI node as the service sees it: from the nodes file `lab up` wrote."""

from __future__ import annotations

from ami.connection import AmiNode
from callctl.nodes import load_nodes
from callctl.runtime import ami_nodes
from callctl.settings import Settings


def lab_ami_node(lab: Settings) -> AmiNode:
    return ami_nodes(load_nodes(lab.nodes_file))[0]
