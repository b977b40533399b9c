"""Kamailio's rendered config: the nodes, the probing and the failover it asks for."""

from __future__ import annotations

from pathlib import Path

import pytest

from callctl.lab.kamailio import parse_dispatcher_list
from routing.kamailio import KamailioConfig, SipNode, render_kamailio
from routing.model import ConfigValueError

TEMPLATES = Path(__file__).resolve().parents[3] / "callctl" / "kamailio"


def config(**overrides: object) -> KamailioConfig:
    values: dict[str, object] = {
        "listen_ip": "127.0.0.9",
        "nodes": (SipNode("127.0.0.1"), SipNode("127.0.1.1", 5070)),
        "config_dir": "/etc/kamailio-callctl",
        "run_dir": "/run/kamailio",
    }
    values.update(overrides)
    return KamailioConfig(**values)  # type: ignore[arg-type]


def test_dispatcher_list_names_every_node_in_one_set() -> None:
    files = render_kamailio(config(), TEMPLATES)
    rows = [ln for ln in files["dispatcher.list"].splitlines() if not ln.startswith("#")]
    assert rows == ["1 sip:127.0.0.1:5060 0 0", "1 sip:127.0.1.1:5070 0 0"]


def test_cfg_listens_probes_and_fails_over() -> None:
    cfg = render_kamailio(config(ping_interval_s=2, fr_timer_ms=1500), TEMPLATES)["kamailio.cfg"]
    assert "@@" not in cfg.replace("dispatcher@127", "")
    assert "listen=udp:127.0.0.9:5060\n" in cfg
    assert 'modparam("dispatcher", "list_file", "/etc/kamailio-callctl/dispatcher.list")' in cfg
    assert 'modparam("dispatcher", "ds_ping_interval", 2)' in cfg
    assert 'modparam("dispatcher", "ds_probing_threshold", 1)' in cfg
    assert 'modparam("tm", "fr_timer", 1500)' in cfg
    assert 'modparam("ctl", "binrpc", "unix:/run/kamailio/kamailio_ctl")' in cfg
    assert 'ds_select_domain("1", "4")' in cfg
    assert "failure_route[NODE_FAILOVER]" in cfg and "ds_next_domain()" in cfg
    assert "sip:dispatcher@127.0.0.9" in cfg


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"listen_ip": "127.0.0.9\nlisten=udp:0.0.0.0:5060"}, "kamailio.listen_ip"),
        ({"nodes": ()}, "kamailio.nodes"),
        ({"nodes": (SipNode("127.0.0.1"), SipNode("127.0.0.1"))}, "kamailio.nodes"),
        ({"nodes": (SipNode("127.0.0.9"),)}, "kamailio.nodes"),
        ({"config_dir": "relative"}, "kamailio.config_dir"),
        ({"ping_interval_s": 0}, "kamailio.ping_interval_s"),
        ({"fr_timer_ms": 100}, "kamailio.fr_timer_ms"),
    ],
)
def test_bad_values_are_refused(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigValueError) as caught:
        config(**overrides)
    assert caught.value.field == field


def test_sip_node_refuses_a_name() -> None:
    with pytest.raises(ConfigValueError):
        SipNode("asterisk.example")


def test_kamcmd_dispatcher_list_is_parsed_into_flags() -> None:
    text = """{
\tNRSETS: 1
\tRECORDS: {
\t\tSET: {
\t\t\tID: 1
\t\t\tTARGETS: {
\t\t\t\tDEST: {
\t\t\t\t\tURI: sip:127.0.0.1:5060
\t\t\t\t\tFLAGS: AP
\t\t\t\t\tPRIORITY: 0
\t\t\t\t}
\t\t\t\tDEST: {
\t\t\t\t\tURI: sip:127.0.1.1:5060
\t\t\t\t\tFLAGS: IP
\t\t\t\t\tPRIORITY: 0
\t\t\t\t}
\t\t\t}
\t\t}
\t}
}
"""
    assert parse_dispatcher_list(text) == {"sip:127.0.0.1:5060": "AP", "sip:127.0.1.1:5060": "IP"}
