"""The lock files pin, with hashes, every dependency pyproject.toml names (scripts/lock)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert match is not None, requirement
    return re.sub(r"[-_.]+", "-", match.group()).lower()


def _pins(lock: Path) -> dict[str, list[str]]:
    """name → the hashes of its pinned version."""
    pins: dict[str, list[str]] = {}
    current = ""
    for line in lock.read_text(encoding="utf-8").splitlines():
        pinned = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==\S+", line)
        if pinned:
            current = _name(pinned.group(1))
            pins[current] = []
        elif current and (digest := re.search(r"--hash=sha256:([0-9a-f]{64})", line)):
            pins[current].append(digest.group(1))
    return pins


def test_every_dependency_is_pinned_with_hashes() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = {_name(r) for r in project["dependencies"]}
    dev = {_name(r) for r in project["optional-dependencies"]["dev"]}
    for lock, wanted in (("requirements.lock", runtime), ("requirements-dev.lock", runtime | dev)):
        pins = _pins(ROOT / lock)
        missing = sorted(wanted - pins.keys())
        assert not missing, f"{lock} lacks {missing}: run ./scripts/lock"
        assert all(pins.values()), f"{lock}: a pin without hashes"


def test_setup_and_the_image_install_from_the_locks_with_hashes() -> None:
    setup = (ROOT / "scripts" / "setup").read_text(encoding="utf-8")
    assert re.search(r"pip install .*--require-hashes -r requirements-dev\.lock", setup)
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "COPY requirements.lock" in dockerfile
    assert re.search(r"pip install .*--require-hashes -r /tmp/requirements\.lock", dockerfile)
    # callctl itself on top, without resolving anything the lock does not pin.
    assert re.search(r"pip install .*--no-deps", dockerfile)
