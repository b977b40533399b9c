"""One Asterisk node's own place on its host: identity, directories and media ports.

Several nodes can run from one installation (the lab runs two from one rootfs): each
needs its own config, astdb, spool, run and log directories (so its own queue_log) and
its own RTP range, and its own ``systemname`` so that UNIQUEIDs (queue_log call ids)
never collide between nodes. Every value is validated: these land in asterisk.conf.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from routing.model import ConfigValueError, check_range

_DIR = re.compile(r"^/[A-Za-z0-9._/-]{0,200}$")
_SYSTEM_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


def check_dir(field_name: str, value: str) -> str:
    if not _DIR.fullmatch(value) or ".." in value.split("/"):
        raise ConfigValueError(field_name, value, "an absolute path of [A-Za-z0-9._/-], no '..'")
    return value


@dataclass(frozen=True, slots=True)
class NodeLayout:
    """Directories as Asterisk sees them (inside its chroot or container)."""

    etc_dir: str = "/etc/asterisk"
    var_lib_dir: str = "/var/lib/asterisk"
    spool_dir: str = "/var/spool/asterisk"
    run_dir: str = "/var/run/asterisk"
    log_dir: str = "/var/log/asterisk"
    # Every media stream takes two ports (RTP, RTCP) and a call answered by an agent two
    # streams (caller, agent); a caller waiting in the queue one. 10000-19999 (Asterisk's
    # own default) holds 5,000 streams; 20000-20999 held 500, i.e. 250 answered calls,
    # below a hotline of 340 agents and 500 trunk lines (benchmarks/bench_lab_load.py).
    rtp_start: int = 10000
    rtp_end: int = 19999
    system_name: str | None = None

    def __post_init__(self) -> None:
        for name in ("etc_dir", "var_lib_dir", "spool_dir", "run_dir", "log_dir"):
            check_dir(f"node.{name}", getattr(self, name))
        check_range("node.rtp_start", self.rtp_start, 1024, 65534)
        check_range("node.rtp_end", self.rtp_end, self.rtp_start + 1, 65535)
        if self.system_name is not None and not _SYSTEM_NAME.fullmatch(self.system_name):
            raise ConfigValueError("node.system_name", self.system_name, "[a-z][a-z0-9_-]{0,31}")

    @classmethod
    def for_node(cls, node_id: str, rtp_start: int, rtp_end: int) -> NodeLayout:
        """Each directory suffixed by the node id (``/var/log/asterisk-b``...), for one
        of several nodes sharing a host or a rootfs; ``systemname`` is the node id."""
        return cls(
            etc_dir=f"/etc/asterisk-{node_id}",
            var_lib_dir=f"/var/lib/asterisk-{node_id}",
            spool_dir=f"/var/spool/asterisk-{node_id}",
            run_dir=f"/var/run/asterisk-{node_id}",
            log_dir=f"/var/log/asterisk-{node_id}",
            rtp_start=rtp_start,
            rtp_end=rtp_end,
            system_name=node_id,
        )

    @property
    def writable_dirs(self) -> tuple[str, ...]:
        """The directories the node writes, to create before it starts."""
        return (
            self.var_lib_dir,
            self.spool_dir,
            f"{self.spool_dir}/monitor/callctl",
            self.run_dir,
            self.log_dir,
        )

    @property
    def queue_log(self) -> str:
        return f"{self.log_dir}/queue_log"
