"""A routing change renders each node with its own layout from the nodes file: its
directories, RTP range and systemname, not the defaults (two nodes on one host or
rootfs would otherwise share a spool, a queue_log and RTP ports after any change)."""

from __future__ import annotations

from pathlib import Path

from callctl.lab.sample_model import sample_model
from callctl.routing_config.target import node_targets
from callctl.settings import Settings
from routing.render import render

NODES = """
[[node]]
id = "a"
ami_host = "127.0.2.1"
secret_file = "secret"
queue_log = {{ mode = "shipped" }}
config_dir = "{etc}"
config_dir_in_asterisk = "/etc/asterisk-a"
[node.layout]
system_name = "a"
spool_dir = "/var/spool/asterisk-a"
log_dir = "/var/log/asterisk-a"
rtp_start = 21000
rtp_end = 21999
"""


def test_each_target_carries_its_nodes_layout_into_the_render(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("s3cret-long-enough", encoding="utf-8")
    nodes = tmp_path / "nodes.toml"
    nodes.write_text(NODES.format(etc=tmp_path / "etc"), encoding="utf-8")
    settings = Settings(nodes_file=nodes, cache_dir=tmp_path / "cache")
    [target] = node_targets(settings)
    layout = target.apply.layout
    assert layout is not None and layout.system_name == "a"
    files = render(
        sample_model("s3cret-long-enough"),
        target.apply.config_dir,
        etc_dir=target.apply.etc_in_asterisk,
        layout=layout,
    )
    assert "systemname = a" in files["asterisk.conf"]
    assert "/var/spool/asterisk-a" in files["asterisk.conf"]
    assert "/var/log/asterisk-a" in files["asterisk.conf"]
    assert "rtpstart = 21000" in files["rtp.conf"] and "rtpend = 21999" in files["rtp.conf"]
