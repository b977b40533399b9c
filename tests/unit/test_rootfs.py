"""Rootfs building: mirror discovery and the never-trust-a-partial-tree rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from callctl.lab import rootfs
from callctl.lab.errors import RootfsBuildError


def test_mirror_from_deb822_and_one_line_sources() -> None:
    deb822 = "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n"
    assert rootfs.mirror_from_apt_sources([deb822]) == "http://mirror.example/debian"
    legacy = "deb [arch=amd64] http://m.example/debian/ bookworm main\n"
    assert rootfs.mirror_from_apt_sources([legacy]) == "http://m.example/debian"
    assert rootfs.mirror_from_apt_sources(["URIs: http://x/debian-security\n"]) is None


def test_unreachable_mirror_fails_in_one_line_and_keeps_nothing(tmp_path: Path) -> None:
    target = tmp_path / "rootfs"
    with pytest.raises(RootfsBuildError) as err:
        rootfs.ensure_rootfs(target, "http://127.0.0.1:9/debian")
    message = str(err.value)
    assert "\n" not in message
    assert "debootstrap" in message and "127.0.0.1:9" in message
    assert not target.exists()
    assert not (tmp_path / "rootfs.partial").exists()
    assert not rootfs.is_complete(target)


def test_incomplete_tree_is_not_trusted(tmp_path: Path) -> None:
    target = tmp_path / "rootfs"
    (target / "etc").mkdir(parents=True)
    assert not rootfs.is_complete(target)
    (target / rootfs.STAMP_NAME).write_text("suite=old\n")
    assert not rootfs.is_complete(target)
    (target / rootfs.STAMP_NAME).write_text(rootfs.stamp_text())
    assert rootfs.is_complete(target)
