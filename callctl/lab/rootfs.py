"""Build and cache the Debian sid rootfs that holds the lab's Asterisk.

The rootfs is built with debootstrap into a ``.partial`` directory and only renamed
into place, with a stamp naming its package set, once debootstrap succeeded. A
failed or interrupted build therefore never leaves a tree that a later run trusts.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

from callctl.lab.errors import RootfsBuildError

SUITE = "sid"
PACKAGES = (
    "asterisk",
    "asterisk-modules",
    "asterisk-config",
    "asterisk-core-sounds-en-gsm",
)
STAMP_NAME = ".callctl-rootfs"
APT_SOURCES = (
    Path("/etc/apt/sources.list.d/debian.sources"),
    Path("/etc/apt/sources.list"),
)


def stamp_text() -> str:
    """What a complete rootfs records; a change of package set forces a rebuild."""
    digest = hashlib.sha256(" ".join((SUITE, *PACKAGES)).encode()).hexdigest()[:16]
    return f"suite={SUITE} packages={','.join(PACKAGES)} digest={digest}\n"


def is_complete(rootfs: Path) -> bool:
    stamp = rootfs / STAMP_NAME
    return stamp.is_file() and stamp.read_text() == stamp_text()


def mirror_from_apt_sources(texts: list[str]) -> str | None:
    """The host's Debian mirror (the first ``.../debian`` URI in its apt sources)."""
    for text in texts:
        for match in re.finditer(r"(?m)^(?:URIs:|deb(?:\s+\[[^\]]*\])?)\s+(\S+)", text):
            uri = match.group(1).rstrip("/")
            if uri.endswith("/debian"):
                return uri
    return None


def host_mirror() -> str | None:
    texts = [p.read_text() for p in APT_SOURCES if p.is_file()]
    return mirror_from_apt_sources(texts)


def ensure_rootfs(rootfs: Path, mirror: str | None) -> bool:
    """Make sure a complete rootfs exists at ``rootfs``; return True if it was built now."""
    if is_complete(rootfs):
        return False
    mirror = mirror or host_mirror()
    if mirror is None:
        raise RootfsBuildError(
            "rootfs: no Debian mirror found in /etc/apt sources; set CALLCTL_DEBIAN_MIRROR"
        )
    if shutil.which("debootstrap") is None:
        raise RootfsBuildError("rootfs: debootstrap is not installed (run scripts/setup)")
    partial = rootfs.with_name(rootfs.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    if rootfs.exists():
        # An incomplete or outdated tree: never trusted, rebuilt from scratch.
        shutil.rmtree(rootfs)
    partial.parent.mkdir(parents=True, exist_ok=True)
    log = partial.parent / "debootstrap.log"
    cmd = [
        "debootstrap",
        "--variant=minbase",
        f"--include={','.join(PACKAGES)}",
        SUITE,
        str(partial),
        mirror,
    ]
    with log.open("w") as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        raise RootfsBuildError(
            f"rootfs: debootstrap {SUITE} from {mirror} failed "
            f"(exit {proc.returncode}): {_last_error_line(log)}; nothing was kept (log: {log})"
        )
    prepare_rootfs(partial)
    (partial / STAMP_NAME).write_text(stamp_text())
    os.replace(partial, rootfs)
    return True


def prepare_rootfs(rootfs: Path) -> None:
    """Fix-ups Asterisk needs inside the chroot (see asterisk-notes.md)."""
    (rootfs / "var/run/asterisk").mkdir(parents=True, exist_ok=True)
    tmp = rootfs / "tmp"
    tmp.mkdir(exist_ok=True)
    tmp.chmod(0o1777)
    sync_hosts(rootfs)


def sync_hosts(rootfs: Path) -> None:
    """Copy the host's /etc/hosts so Asterisk never blocks on DNS for the hostname."""
    hosts = Path("/etc/hosts")
    if hosts.is_file():
        shutil.copyfile(hosts, rootfs / "etc/hosts")


def _last_error_line(log: Path) -> str:
    try:
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no log"
    for line in reversed(lines):
        if line.startswith(("E:", "W:")):
            return line
    return lines[-1] if lines else "no output"
