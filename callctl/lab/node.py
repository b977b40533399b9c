"""More Asterisk nodes from the lab's one rootfs, each started from ``callctl config
render`` output (as a deployment would be), with its own directories, addresses and
RTP range; see asterisk-notes.md "Two Asterisk nodes run side by side"."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from callctl.lab import asterisk, process
from callctl.lab.errors import AsteriskStartError
from callctl.lab.lab_model import lab_model
from callctl.lab.rootfs import sync_hosts
from callctl.routing_config.convert import from_model
from routing.model import Network, PbxModel
from routing.node import NodeLayout


@dataclass(frozen=True, slots=True)
class LabNode:
    """One node: SIP and AMI on ``ip``, its agents answered by a SIPp UAS on
    ``agents_ip``, trunk calls accepted from ``trunk_ip`` (Kamailio's address)."""

    node_id: str
    ip: str
    agents_ip: str
    rtp_start: int
    rtp_end: int
    trunk_ip: str
    rootfs: Path
    lab_dir: Path
    agents: int = 20
    max_wait_s: int = 20
    ami_port: int = 5038
    sip_port: int = 5060
    # AMI over TLS on this port beside the plain one, with the certificate and key put
    # in ``keys_dir`` before the node starts (manager.conf tlsenable).
    ami_tls_port: int | None = None

    @property
    def layout(self) -> NodeLayout:
        return NodeLayout.for_node(self.node_id, self.rtp_start, self.rtp_end)

    @property
    def work_dir(self) -> Path:
        return self.lab_dir / f"node-{self.node_id}"

    @property
    def paths(self) -> asterisk.AsteriskPaths:
        # pid and log files in the node's own work dir
        return asterisk.AsteriskPaths(rootfs=self.rootfs, lab_dir=self.work_dir)

    def in_rootfs(self, path: str) -> Path:
        return self.rootfs / path.lstrip("/")

    @property
    def etc(self) -> Path:
        return self.in_rootfs(self.layout.etc_dir)

    @property
    def queue_log(self) -> Path:
        return self.in_rootfs(self.layout.queue_log)

    @property
    def keys_dir(self) -> Path:
        """Where the AMI TLS certificate (``ami.crt``) and key (``ami.key``) go."""
        return self.etc / "keys"

    def tls_render_args(self) -> list[str]:
        if self.ami_tls_port is None:
            return []
        keys = f"{self.layout.etc_dir}/keys"
        return [
            "--ami-tls-port",
            str(self.ami_tls_port),
            "--ami-tls-cert",
            f"{keys}/ami.crt",
            "--ami-tls-key",
            f"{keys}/ami.key",
        ]


def routing_model(node: LabNode, ami_secret: str) -> PbxModel:
    """The lab's PBX as this node serves it: its addresses, its agents' UAS, Kamailio as
    the trunk."""
    return lab_model(
        ami_secret,
        agents=node.agents,
        trunk_ip=node.trunk_ip,
        agents_ip=node.agents_ip,
        max_wait_s=node.max_wait_s,
        network=Network(ami_bind=node.ip, sip_bind=node.ip),
    )


def write_inputs(node: LabNode, ami_secret: str) -> tuple[Path, Path]:
    """The routing document and the AMI secret file ``config render`` reads."""
    node.work_dir.mkdir(parents=True, exist_ok=True)
    secret_file = node.work_dir / "ami_secret"
    fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(ami_secret + "\n")
    model_file = node.work_dir / "routing.json"
    model_file.write_text(
        from_model(routing_model(node, ami_secret)).model_dump_json(indent=1), encoding="utf-8"
    )
    return model_file, secret_file


def render_config(node: LabNode, ami_secret: str) -> None:
    """Run ``callctl config render`` for the node into its etc dir inside the rootfs."""
    model_file, secret_file = write_inputs(node, ami_secret)
    cmd = [
        sys.executable,
        "-m",
        "callctl.cli",
        "config",
        "render",
        "--out",
        str(node.etc),
        "--node",
        node.node_id,
        "--model",
        str(model_file),
        "--ami-secret-file",
        str(secret_file),
        "--ami-bind",
        node.ip,
        "--ami-port",
        str(node.ami_port),
        "--sip-bind",
        node.ip,
        "--sip-port",
        str(node.sip_port),
        "--trunk-ip",
        node.trunk_ip,
        "--rtp-start",
        str(node.rtp_start),
        "--rtp-end",
        str(node.rtp_end),
        "--per-node-dirs",
        *node.tls_render_args(),
    ]
    env = {k: v for k, v in os.environ.items() if k != "CALLCTL_DATABASE_URL"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise AsteriskStartError(f"node {node.node_id}: config render: {done.stderr.strip()}")


def start(node: LabNode, ami_secret: str, timeout_s: float = 60) -> int:
    """Render, start and wait for FullyBooted; returns the node's pid."""
    stop(node)
    render_config(node, ami_secret)
    for directory in node.layout.writable_dirs:
        node.in_rootfs(directory).mkdir(parents=True, exist_ok=True)
    sync_hosts(node.rootfs)
    cmd = ["chroot", str(node.rootfs), "/usr/sbin/asterisk", "-f", "-n", "-C"]
    cmd.append(f"{node.layout.etc_dir}/asterisk.conf")
    pid = process.spawn(cmd, node.paths.pid_file, node.paths.log_file)
    asterisk.wait_ready(
        node.paths, node.ip, node.ami_port, "callctl", ami_secret, timeout_s=timeout_s
    )
    return pid


def restart(node: LabNode, timeout_s: float = 60) -> int:
    """Start the node again (after a crash) with the secret it was rendered with."""
    secret = (node.work_dir / "ami_secret").read_text(encoding="utf-8").removesuffix("\n")
    return start(node, secret, timeout_s=timeout_s)


def running(node: LabNode) -> int | None:
    return process.running_pid(node.paths.pid_file, "asterisk")


def kill(node: LabNode) -> bool:
    """SIGKILL, as a crash would: no shutdown, calls in flight are cut."""
    pid = running(node)
    if pid is None:
        return False
    os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
    return True


def stop(node: LabNode) -> bool:
    return process.stop(node.paths.pid_file, "asterisk", timeout_s=15)
