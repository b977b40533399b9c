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
