"""Kamailio as the SIP front door of several Asterisk nodes (pure rendering).

The trunk sends every call to Kamailio, which dispatches it to the nodes with the
dispatcher module, probing each with OPTIONS so a dead node stops getting calls
within a few seconds. See docs/nodes-and-kamailio.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from routing.model import ConfigValueError, check_ipv4, check_range
from routing.node import check_dir
from routing.render import fill

DISPATCHER_SET = 1
# Round-robin over the active destinations of the set (dispatcher's algorithm 4).
ROUND_ROBIN = "4"


@dataclass(frozen=True, slots=True)
class SipNode:
    """An Asterisk node's SIP address as Kamailio reaches it."""

    ip: str
    port: int = 5060

    def __post_init__(self) -> None:
        check_ipv4("kamailio.node.ip", self.ip)
        check_range("kamailio.node.port", self.port, 1, 65535)

    @property
    def uri(self) -> str:
        return f"sip:{self.ip}:{self.port}"


@dataclass(frozen=True, slots=True)
class KamailioConfig:
    listen_ip: str
    nodes: tuple[SipNode, ...]
    config_dir: str
    """Where the rendered files will live (dispatcher.list is read from there)."""
    run_dir: str
    """Where Kamailio's control socket for kamcmd goes."""
    listen_port: int = 5060
    ping_interval_s: int = 1
    probing_threshold: int = 1
    inactive_threshold: int = 1
    fr_timer_ms: int = 2000
    fr_inv_timer_ms: int = 120_000

    def __post_init__(self) -> None:
        check_ipv4("kamailio.listen_ip", self.listen_ip)
        check_range("kamailio.listen_port", self.listen_port, 1, 65535)
        if not self.nodes:
            raise ConfigValueError("kamailio.nodes", (), "at least one node")
        uris = [n.uri for n in self.nodes]
        if len(set(uris)) != len(uris):
            raise ConfigValueError("kamailio.nodes", uris, "duplicate node")
        if any(n.ip == self.listen_ip and n.port == self.listen_port for n in self.nodes):
            raise ConfigValueError("kamailio.nodes", uris, "a node at Kamailio's own address")
        check_dir("kamailio.config_dir", self.config_dir)
        check_dir("kamailio.run_dir", self.run_dir)
        check_range("kamailio.ping_interval_s", self.ping_interval_s, 1, 60)
        check_range("kamailio.probing_threshold", self.probing_threshold, 1, 10)
        check_range("kamailio.inactive_threshold", self.inactive_threshold, 1, 10)
        check_range("kamailio.fr_timer_ms", self.fr_timer_ms, 500, 30_000)
        check_range("kamailio.fr_inv_timer_ms", self.fr_inv_timer_ms, 5_000, 600_000)

    @property
    def rpc_socket(self) -> str:
        return f"{self.run_dir}/kamailio_ctl"


def render_dispatcher_list(config: KamailioConfig) -> str:
    """``setid destination flags priority``; equal priorities, round-robin decides."""
    rows = "".join(f"{DISPATCHER_SET} {node.uri} 0 0\n" for node in config.nodes)
    return f"# Rendered by callctl (routing/kamailio.py). Do not edit by hand.\n{rows}"


def render_kamailio(config: KamailioConfig, template_dir: Path) -> dict[str, str]:
    """kamailio.cfg and dispatcher.list, name → text."""
    values = {
        "listen_ip": config.listen_ip,
        "listen_port": str(config.listen_port),
        "set_id": str(DISPATCHER_SET),
        "algorithm": ROUND_ROBIN,
        "rpc_socket": config.rpc_socket,
        "list_file": f"{config.config_dir}/dispatcher.list",
        "ping_interval_s": str(config.ping_interval_s),
        "probing_threshold": str(config.probing_threshold),
        "inactive_threshold": str(config.inactive_threshold),
        "fr_timer_ms": str(config.fr_timer_ms),
        "fr_inv_timer_ms": str(config.fr_inv_timer_ms),
    }
    template = (template_dir / "kamailio.cfg.in").read_text(encoding="utf-8")
    return {
        "kamailio.cfg": fill(template, values),
        "dispatcher.list": render_dispatcher_list(config),
    }
