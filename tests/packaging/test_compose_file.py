"""compose.yaml and the image files, read as data (no Docker engine runs here): the
nodes file compose hands callctl is one this callctl accepts, every secret comes from
a file, and the image builds callctl as a wheel with no lab files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from callctl.nodes import parse_nodes

REPO = Path(__file__).resolve().parents[2]
SECRET_WORDS = ("PASSWORD", "SECRET", "TOKEN", "DATABASE_URL")


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / "compose.yaml").read_text(encoding="utf-8"))
    return data


def test_the_nodes_file_compose_gives_callctl_is_accepted() -> None:
    compose = _compose()
    read: list[Path] = []

    def read_secret(path: Path) -> str:
        read.append(path)
        return "compose-test-secret-0123"

    config = parse_nodes(
        compose["configs"]["nodes"]["content"],
        read_text=read_secret,
        environ={},
        base_dir=Path("/etc/callctl"),
    )
    assert [n.node_id for n in config.nodes] == ["a", "b"]
    # Each node's secret is one of the compose secrets callctl is given.
    given = {f"/run/secrets/{name}" for name in compose["services"]["callctl"]["secrets"]}
    assert {str(p) for p in read} <= given
    assert len(read) == 2


def test_every_secret_comes_from_a_file_never_the_environment() -> None:
    compose = _compose()
    for name, secret in compose["secrets"].items():
        assert set(secret) == {"file"}, name
        assert secret["file"].startswith("./secrets/"), name
    for service, spec in compose["services"].items():
        for key, value in (spec.get("environment") or {}).items():
            if any(word in key for word in SECRET_WORDS):
                assert key.endswith("_FILE"), (service, key)
                assert str(value).startswith("/run/secrets/"), (service, key)
        for used in spec.get("secrets", []):
            assert used in compose["secrets"], (service, used)


def test_the_image_installs_a_wheel_and_leaves_the_lab_out() -> None:
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    ignored = (REPO / ".dockerignore").read_text(encoding="utf-8").split()
    assert "pip wheel" in dockerfile
    assert " -e " not in dockerfile and "--editable" not in dockerfile
    copied = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("COPY ")]
    assert not any(src.startswith(("sipp", "tests", "benchmarks", ".")) for src in copied)
    assert {"sipp", "tests", "secrets"} <= set(ignored)


def test_callctl_can_apply_routing_changes_to_each_node_as_rendered() -> None:
    """Each node has a config directory callctl writes (mounted into callctl from the
    directory its Asterisk reads) and its own layout (systemname, RTP range), the ones
    the render commands above give it; uploaded prompts reach both nodes."""
    compose = _compose()
    config = parse_nodes(
        compose["configs"]["nodes"]["content"],
        read_text=lambda _path: "compose-test-secret-0123",
        environ={},
        base_dir=Path("/etc/callctl"),
    )
    callctl_volumes = compose["services"]["callctl"]["volumes"]
    ranges = []
    for node in config.nodes:
        asterisk_volumes = compose["services"][f"asterisk-{node.node_id}"]["volumes"]
        [host_dir] = [v.split(":")[0] for v in asterisk_volumes if v.endswith(":/etc/asterisk:ro")]
        assert f"{host_dir}:{node.config_dir}" in callctl_volumes
        assert node.layout.system_name == node.node_id
        assert node.layout.etc_dir == node.config_dir_in_asterisk == "/etc/asterisk"
        ranges.append(range(node.layout.rtp_start, node.layout.rtp_end + 1))
        assert "prompts:/var/lib/asterisk/sounds/callctl:ro" in asterisk_volumes
    assert not set(ranges[0]) & set(ranges[1])  # one host: RTP ranges apart
    prompts_dir = compose["services"]["callctl"]["environment"]["CALLCTL_PROMPTS_DIR"]
    assert f"prompts:{prompts_dir}/callctl" in callctl_volumes
