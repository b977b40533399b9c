"""The lab's two-node cluster: nodes a and b from one rootfs, Kamailio in front.

Beside the shared lab's Asterisk (127.0.0.1), which it leaves alone; addresses in
docs/nodes-and-kamailio.md. ``python -m callctl.lab.cluster up|down`` for use by hand
(benchmarks, demos); the integration test uses :func:`up` and :func:`down`.
"""

from __future__ import annotations

import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

from callctl.lab import kamailio, node, rootfs
from callctl.settings import Settings
from routing.node import NodeLayout

KAMAILIO_IP = "127.0.0.9"


@dataclass(frozen=True, slots=True)
class Cluster:
    a: node.LabNode
    b: node.LabNode
    front: kamailio.LabKamailio

    @property
    def nodes(self) -> tuple[node.LabNode, node.LabNode]:
        return (self.a, self.b)


def _node(settings: Settings, node_id: str, ip: str, agents_ip: str, rtp: int) -> node.LabNode:
    return node.LabNode(
        node_id=node_id,
        ip=ip,
        agents_ip=agents_ip,
        rtp_start=rtp,
        rtp_end=rtp + 999,
        trunk_ip=KAMAILIO_IP,
        rootfs=settings.rootfs_dir,
        lab_dir=settings.lab_dir / "cluster",
    )


def lab_cluster(settings: Settings) -> Cluster:
    node_a = _node(settings, "a", "127.0.2.1", "127.0.2.3", 22000)
    node_b = _node(settings, "b", "127.0.1.1", "127.0.1.3", 21000)
    front = kamailio.LabKamailio(
        KAMAILIO_IP, (f"{node_a.ip}:5060", f"{node_b.ip}:5060"), settings.lab_dir / "cluster"
    )
    return Cluster(node_a, node_b, front)


def nodes_file_text(cluster: Cluster) -> str:
    """callctl's nodes settings for the cluster (``CALLCTL_NODES_FILE``, the format of
    callctl/nodes.py): each node's AMI, secret file, own queue_log and config dirs, and
    Kamailio as the trunk every node accepts calls from."""
    rows = []
    for n in cluster.nodes:
        rows.append(
            "[[node]]\n"
            f'id = "{n.node_id}"\n'
            f'ami_host = "{n.ip}"\n'
            f"ami_port = {n.ami_port}\n"
            f'secret_file = "{n.work_dir / "ami_secret"}"\n'
            f'queue_log = {{ mode = "file", path = "{n.queue_log}" }}\n'
            f'config_dir = "{n.etc}"\n'
            f'config_dir_in_asterisk = "{n.layout.etc_dir}"\n'
            f'recordings_dir = "{n.in_rootfs(n.layout.spool_dir) / "monitor" / "callctl"}"\n'
            f'sip_host = "{n.ip}"\n'
            f"sip_port = {n.sip_port}\n"
            f"{layout_table(n.layout)}"
        )
    rows.append(f'[[trunk]]\nname = "trunk"\nmatch_ip = "{KAMAILIO_IP}"\n')
    return "\n".join(rows)


def layout_table(layout: NodeLayout) -> str:
    """The node's ``[node.layout]``: a routing change through callctl renders each node
    with its own directories, RTP range and systemname (both run from one rootfs)."""
    system_name = "" if layout.system_name is None else f'system_name = "{layout.system_name}"\n'
    return (
        "[node.layout]\n"
        f"{system_name}"
        f'var_lib_dir = "{layout.var_lib_dir}"\n'
        f'spool_dir = "{layout.spool_dir}"\n'
        f'run_dir = "{layout.run_dir}"\n'
        f'log_dir = "{layout.log_dir}"\n'
        f"rtp_start = {layout.rtp_start}\n"
        f"rtp_end = {layout.rtp_end}\n"
    )


def nodes_file(cluster: Cluster) -> Path:
    return cluster.front.lab_dir / "nodes.toml"


def up(settings: Settings, cluster: Cluster, ami_secret: str | None = None) -> None:
    """Start both nodes (from ``callctl config render`` output) and Kamailio; on any
    failure stop what was started."""
    rootfs.ensure_rootfs(settings.rootfs_dir, settings.debian_mirror)
    secret = ami_secret or secrets.token_urlsafe(24)
    try:
        for lab_node in cluster.nodes:
            node.start(lab_node, secret)
        kamailio.start(cluster.front)
        nodes_file(cluster).write_text(nodes_file_text(cluster), encoding="utf-8")
    except BaseException:
        down(cluster)
        raise


def down(cluster: Cluster) -> list[str]:
    stopped = ["kamailio"] if kamailio.stop(cluster.front) else []
    stopped += [f"asterisk-{n.node_id}" for n in cluster.nodes if node.stop(n)]
    return stopped


def main(argv: list[str]) -> int:
    settings = Settings()
    cluster = lab_cluster(settings)
    if argv == ["up"]:
        up(settings, cluster)
        for n in cluster.nodes:
            print(
                f"node {n.node_id}: SIP {n.ip}:5060, AMI {n.ip}:5038 (secret in "
                f"{n.work_dir / 'ami_secret'}), agents at {n.agents_ip}, queue_log {n.queue_log}"
            )
        print(f"kamailio: {cluster.front.listen_ip}:5060, log {cluster.front.log_file}")
        print(f"CALLCTL_NODES_FILE={nodes_file(cluster)}")
        return 0
    if argv == ["down"]:
        stopped = down(cluster)
        print("stopped: " + (", ".join(stopped) or "nothing was running"))
        return 0
    print("usage: python -m callctl.lab.cluster up|down", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
