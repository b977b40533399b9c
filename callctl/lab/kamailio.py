"""Kamailio in front of the lab's nodes: rendered by ``callctl config kamailio``,
run in the foreground (``-DD -E``) by pid file, inspected with ``kamcmd``."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from callctl.lab import process
from callctl.lab.errors import LabError


class KamailioError(LabError):
    error_id = "lab.kamailio"


@dataclass(frozen=True, slots=True)
class LabKamailio:
    listen_ip: str
    nodes: tuple[str, ...]
    """The nodes' SIP addresses, ``IP[:PORT]``."""
    lab_dir: Path
    listen_port: int = 5060
    fr_timer_ms: int = 2000
    fr_inv_timer_ms: int = 30_000  # the lab queue's max wait is 20 s

    @property
    def work_dir(self) -> Path:
        return self.lab_dir / "kamailio"

    @property
    def cfg(self) -> Path:
        return self.work_dir / "kamailio.cfg"

    @property
    def pid_file(self) -> Path:
        return self.work_dir / "kamailio.pid"

    @property
    def log_file(self) -> Path:
        return self.work_dir / "kamailio.log"

    @property
    def rpc_socket(self) -> Path:
        return self.work_dir / "kamailio_ctl"


def render_config(kam: LabKamailio) -> None:
    kam.work_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "callctl.cli", "config", "kamailio", "--out", str(kam.work_dir)]
    cmd += ["--listen", kam.listen_ip, "--listen-port", str(kam.listen_port)]
    cmd += ["--run-dir", str(kam.work_dir), "--fr-timer-ms", str(kam.fr_timer_ms)]
    cmd += ["--fr-inv-timer-ms", str(kam.fr_inv_timer_ms)]
    for node in kam.nodes:
        cmd += ["--node", node]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise KamailioError(f"kamailio: config render: {done.stderr.strip()}")


def start(kam: LabKamailio, timeout_s: float = 10) -> int:
    if shutil.which("kamailio") is None:
        raise KamailioError("kamailio is not installed (Debian package kamailio; scripts/setup)")
    stop(kam)
    render_config(kam)
    cmd = ["kamailio", "-f", str(kam.cfg), "-DD", "-E"]
    cmd += ["-P", str(kam.work_dir / "kamailio.main.pid"), "-Y", str(kam.work_dir)]
    pid = process.spawn(cmd, kam.pid_file, kam.log_file)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not process.alive(pid):
            raise KamailioError(f"kamailio exited at start; see {kam.log_file}")
        if kam.rpc_socket.exists() and destinations(kam):
            return pid
        time.sleep(0.1)
    raise KamailioError(f"kamailio not answering kamcmd after {timeout_s:.0f} s")


def stop(kam: LabKamailio) -> bool:
    return process.stop(kam.pid_file, "kamailio", timeout_s=10)


_DEST = re.compile(r"URI:\s*(\S+)\s+FLAGS:\s*(\S+)")


def parse_dispatcher_list(text: str) -> dict[str, str]:
    """``kamcmd dispatcher.list`` → destination URI → flags (``AP`` active, ``IP``
    inactive and probing, ``DX`` disabled...)."""
    return dict(_DEST.findall(text))


def destinations(kam: LabKamailio) -> dict[str, str]:
    done = subprocess.run(
        ["kamcmd", "-s", f"unix:{kam.rpc_socket}", "dispatcher.list"],
        capture_output=True,
        text=True,
        timeout=5,
        check=False,
    )
    if done.returncode != 0:
        return {}
    return parse_dispatcher_list(done.stdout)
