"""reconcile/verify take the node and its queue_log from CALLCTL_NODES_FILE when it is set."""

from __future__ import annotations

from pathlib import Path

import pytest

from callctl.cli import build_parser
from callctl.cli import main as cli_main
from callctl.ingest.queue_log.node_source import NodeChoiceError, node_and_source
from callctl.ingest.queue_log.shipped import Shipped
from callctl.nodes import NodesConfig, parse_nodes

LAB = {"fallback_node": "lab", "fallback_path": Path("/lab/rootfs/var/log/asterisk/queue_log")}


def node_toml(node_id: str, queue_log: str) -> str:
    return (
        f'[[node]]\nid = "{node_id}"\nami_host = "127.0.0.1"\nsecret_env = "S"\n'
        f"queue_log = {queue_log}\n"
    )


def nodes(*tables: str) -> NodesConfig:
    return parse_nodes(
        "\n".join(tables), read_text=Path.read_text, environ={"S": "x"}, base_dir=Path("/")
    )


A_FILE = node_toml("a", '{ mode = "file", path = "/srv/a/queue_log" }')
B_SHIPPED = node_toml("b", '{ mode = "shipped" }')


def test_the_nodes_file_gives_each_node_its_own_source() -> None:
    two = nodes(A_FILE, B_SHIPPED)
    assert node_and_source(two, "a", None, **LAB) == ("a", Path("/srv/a/queue_log"))
    assert node_and_source(two, "b", None, **LAB) == ("b", Shipped())


def test_one_node_needs_no_node_option() -> None:
    assert node_and_source(nodes(B_SHIPPED), None, None, **LAB) == ("b", Shipped())


def test_several_nodes_need_the_node_option() -> None:
    with pytest.raises(NodeChoiceError, match=r"--node is needed: .* lists the nodes a, b"):
        node_and_source(nodes(A_FILE, B_SHIPPED), None, None, **LAB)


def test_an_unknown_node_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(NodeChoiceError, match=r"--node c: no such node .*\(its nodes: a, b\)"):
        node_and_source(nodes(A_FILE, B_SHIPPED), "c", None, **LAB)


def test_an_explicit_source_wins_over_the_nodes_file() -> None:
    two = nodes(A_FILE, B_SHIPPED)
    assert node_and_source(two, "a", Shipped(), **LAB) == ("a", Shipped())
    other = Path("/backup/queue_log.1")
    assert node_and_source(two, "b", other, **LAB) == ("b", other)
    # a node no longer configured, read from its file
    assert node_and_source(two, "old", other, **LAB) == ("old", other)


def test_without_a_nodes_file_the_lab_era_settings_remain() -> None:
    assert node_and_source(None, None, None, **LAB) == ("lab", LAB["fallback_path"])
    assert node_and_source(None, "x", Shipped(), **LAB) == ("x", Shipped())


def test_verify_with_an_unknown_node_exits_2_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    nodes_file = tmp_path / "nodes.toml"
    nodes_file.write_text(A_FILE + B_SHIPPED)
    monkeypatch.setenv("S", "x")
    monkeypatch.setenv("CALLCTL_NODES_FILE", str(nodes_file))
    monkeypatch.setenv("CALLCTL_DATABASE_URL", "postgresql+asyncpg://nobody@127.0.0.1:1/none")
    assert build_parser().parse_args(["verify"]).node is None
    assert cli_main(["verify", "--node", "c"]) == 2
    assert cli_main(["reconcile"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "callctl: --node c: no such node in CALLCTL_NODES_FILE (its nodes: a, b)",
        "callctl: --node is needed: CALLCTL_NODES_FILE lists the nodes a, b",
    ]
