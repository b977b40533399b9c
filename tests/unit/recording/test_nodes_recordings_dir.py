"""A node's recordings spool in the nodes file (``recordings_dir``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from callctl.nodes import NodesConfigError, parse_nodes

NODE = """
[[node]]
id = "a"
ami_host = "127.0.0.1"
secret_env = "AMI_A"
queue_log = {{ mode = "shipped" }}
{extra}
"""


def _parse(extra: str):  # type: ignore[no-untyped-def]
    return parse_nodes(
        NODE.format(extra=extra),
        read_text=lambda p: "",
        environ={"AMI_A": "secret-a"},
        base_dir=Path("/etc/callctl"),
    )


def test_recordings_dir_is_read_relative_to_the_nodes_file() -> None:
    node = _parse('recordings_dir = "spool/a/monitor/callctl"').nodes[0]
    assert node.recordings_dir == Path("/etc/callctl/spool/a/monitor/callctl")


def test_without_it_the_node_has_no_recordings_collected() -> None:
    assert _parse("").nodes[0].recordings_dir is None


def test_an_empty_recordings_dir_is_refused_naming_the_field() -> None:
    with pytest.raises(NodesConfigError, match="recordings_dir"):
        _parse('recordings_dir = ""')
