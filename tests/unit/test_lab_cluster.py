"""The lab cluster's nodes settings for callctl: both nodes, Kamailio as the trunk."""

from __future__ import annotations

import tomllib
from pathlib import Path

from callctl.lab.cluster import lab_cluster, nodes_file_text
from callctl.nodes import parse_nodes
from callctl.settings import Settings


def test_nodes_file_names_both_nodes_and_kamailio_as_trunk(tmp_path: Path) -> None:
    cluster = lab_cluster(Settings(cache_dir=tmp_path))
    data = tomllib.loads(nodes_file_text(cluster))
    assert [(n["id"], n["ami_host"]) for n in data["node"]] == [
        ("a", "127.0.2.1"),
        ("b", "127.0.1.1"),
    ]
    assert data["node"][1]["queue_log"]["path"].endswith("var/log/asterisk-b/queue_log")
    assert data["node"][1]["secret_file"].endswith("cluster/node-b/ami_secret")
    assert data["node"][1]["config_dir_in_asterisk"] == "/etc/asterisk-b"
    assert data["trunk"] == [{"name": "trunk", "match_ip": "127.0.0.9"}]


def test_each_node_keeps_its_own_layout_and_spool_through_the_nodes_file(tmp_path: Path) -> None:
    """A routing change renders each node from the nodes file: without its layout there,
    both nodes would get the default directories, RTP range and no systemname."""
    cluster = lab_cluster(Settings(cache_dir=tmp_path))
    for n in cluster.nodes:
        (n.work_dir).mkdir(parents=True, exist_ok=True)
        (n.work_dir / "ami_secret").write_text("s", encoding="utf-8")
    parsed = parse_nodes(
        nodes_file_text(cluster),
        read_text=lambda p: p.read_text(encoding="utf-8"),
        environ={},
        base_dir=tmp_path,
    )
    assert [n.layout for n in parsed.nodes] == [n.layout for n in cluster.nodes]
    assert parsed.nodes[1].layout.system_name == "b"
    assert (
        parsed.nodes[1].recordings_dir
        == cluster.b.in_rootfs(cluster.b.layout.spool_dir) / "monitor" / "callctl"
    )
