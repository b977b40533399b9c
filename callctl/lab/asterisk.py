"""Run the lab's Asterisk from the cached rootfs, with config rendered by callctl."""

from __future__ import annotations

import os
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from callctl.lab import process
from callctl.lab.errors import AsteriskStartError
from callctl.lab.rootfs import sync_hosts

ETC_IN_ROOTFS = "/etc/callctl-asterisk"


@dataclass(frozen=True, slots=True)
class AsteriskPaths:
    rootfs: Path
    lab_dir: Path

    @property
    def etc(self) -> Path:
        return self.rootfs / ETC_IN_ROOTFS.lstrip("/")

    @property
    def pid_file(self) -> Path:
        return self.lab_dir / "asterisk.pid"

    @property
    def log_file(self) -> Path:
        return self.lab_dir / "asterisk.log"

    @property
    def recordings(self) -> Path:
        return self.rootfs / "var/spool/asterisk/monitor"


def write_config(etc: Path, files: dict[str, str]) -> bool:
    """Write the rendered files; each file atomically. True if anything changed."""
    etc.mkdir(parents=True, exist_ok=True)
    changed = False
    for name, text in files.items():
        target = etc / name
        if target.is_file() and target.read_text(encoding="utf-8") == text:
            continue
        tmp = target.with_name(f".{name}.tmp")
        with tmp.open("w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
        changed = True
    for stale in etc.iterdir():
        if stale.is_file() and stale.name not in files:
            stale.unlink()
            changed = True
    return changed


def running(paths: AsteriskPaths) -> int | None:
    return process.running_pid(paths.pid_file, "asterisk")


def start(paths: AsteriskPaths) -> int:
    if shutil.which("chroot") is None:
        raise AsteriskStartError("asterisk: chroot not found")
    sync_hosts(paths.rootfs)
    (paths.rootfs / "var/run/asterisk").mkdir(parents=True, exist_ok=True)
    (paths.rootfs / "var/spool/asterisk/monitor/callctl").mkdir(parents=True, exist_ok=True)
    cmd = [
        "chroot",
        str(paths.rootfs),
        "/usr/sbin/asterisk",
        "-f",
        "-n",
        "-C",
        f"{ETC_IN_ROOTFS}/asterisk.conf",
    ]
    return process.spawn(cmd, paths.pid_file, paths.log_file)


def stop(paths: AsteriskPaths) -> bool:
    return process.stop(paths.pid_file, "asterisk", timeout_s=15)


def ami_fully_booted(host: str, port: int, username: str, secret: str, timeout_s: float) -> bool:
    """Log in to AMI and wait for FullyBooted; False if it does not come in time.

    A deliberately tiny blocking probe for the lab's CLI; the service uses ami/.
    """
    deadline = time.monotonic() + timeout_s
    try:
        with socket.create_connection((host, port), timeout=max(0.1, timeout_s)) as sock:
            sock.settimeout(0.5)
            login = (
                f"Action: Login\r\nUsername: {username}\r\nSecret: {secret}\r\n"
                "Events: system\r\n\r\n"
            )
            sock.sendall(login.encode())
            buffer = b""
            while time.monotonic() < deadline:
                try:
                    chunk = sock.recv(65536)
                except TimeoutError:
                    continue
                if not chunk:
                    return False
                buffer += chunk
                if b"Authentication failed" in buffer:
                    raise AsteriskStartError("asterisk: AMI refused the lab's credentials")
                if b"Event: FullyBooted" in buffer:
                    sock.sendall(b"Action: Logoff\r\n\r\n")
                    return True
    except OSError:
        return False
    return False


def wait_ready(
    paths: AsteriskPaths, host: str, port: int, username: str, secret: str, timeout_s: float
) -> float:
    """Wait until AMI answers with FullyBooted; return the seconds it took."""
    started = time.monotonic()
    deadline = started + timeout_s
    pid = process.read_pid(paths.pid_file)
    while time.monotonic() < deadline:
        # Liveness by pid only: right after spawn the child may not have exec'd yet.
        if pid is None or not process.alive(pid):
            raise AsteriskStartError(
                f"asterisk: exited during start-up; see {paths.log_file}: {_tail(paths.log_file)}"
            )
        if ami_fully_booted(host, port, username, secret, timeout_s=1.0):
            return time.monotonic() - started
        time.sleep(0.1)
    raise AsteriskStartError(
        f"asterisk: AMI on {host}:{port} not FullyBooted after {timeout_s:.0f} s; "
        f"see {paths.log_file}"
    )


def _tail(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no log"
    return lines[-1] if lines else "no output"
