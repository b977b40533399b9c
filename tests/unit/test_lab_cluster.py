"""The lab cluster's nodes settings for callctl: both nodes, Kamailio as the trunk."""

from __future__ import annotations

import tomllib
from pathlib import Path

from callctl.lab.cluster import lab_cluster, nodes_file_text
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
