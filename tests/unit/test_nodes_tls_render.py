"""A TLS node whose config callctl renders: [node.tls] names the certificate and key
Asterisk reads, and the node's rendered network carries the TLS listener."""

from __future__ import annotations

from pathlib import Path

import pytest

from callctl.nodes import NodesConfig, NodesConfigError, parse_nodes
from routing.model import AmiTlsListener

NODE = """
[[node]]
id = "a"
ami_host = "10.0.0.11"
secret_env = "S"
queue_log = { mode = "shipped" }
"""
RENDERED = 'config_dir = "/srv/a/etc"\n'


def parse(text: str) -> NodesConfig:
    return parse_nodes(
        text, read_text=Path.read_text, environ={"S": "secret-0123456789"}, base_dir=Path("/")
    )


def test_tls_node_rendered_by_callctl_gets_tls_and_a_plain_listener() -> None:
    node = parse(
        NODE
        + RENDERED
        + "[node.tls]\n"
        + 'cert_file_in_asterisk = "/etc/asterisk/keys/ami.crt"\n'
        + 'key_file_in_asterisk = "/etc/asterisk/keys/ami.key"\n'
    ).nodes[0]
    assert node.ami_port == 5039  # callctl connects to the TLS listener
    network = node.network
    assert network.ami_tls == AmiTlsListener(
        port=5039, cert_file="/etc/asterisk/keys/ami.crt", key_file="/etc/asterisk/keys/ami.key"
    )
    assert (network.ami_bind, network.ami_port) == ("10.0.0.11", 5038)


def test_plain_port_can_be_moved_and_must_differ_from_the_tls_port() -> None:
    tls = (
        "[node.tls]\n"
        'cert_file_in_asterisk = "/k/c.pem"\nkey_file_in_asterisk = "/k/k.pem"\n'
        "plain_ami_port = 6038\n"
    )
    assert parse(NODE + RENDERED + tls).nodes[0].network.ami_port == 6038
    with pytest.raises(NodesConfigError, match=r'node "a": tls: plain_ami_port 5039 must differ'):
        parse(NODE + RENDERED + tls.replace("6038", "5039"))


def test_a_rendered_tls_node_without_its_certificate_is_refused_in_one_line() -> None:
    with pytest.raises(NodesConfigError) as caught:
        parse(NODE + RENDERED + '[node.tls]\nca_file = "/etc/ca.pem"\n')
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith('CALLCTL_NODES_FILE: node "a": tls: cert_file_in_asterisk is missing')


def test_a_tls_node_callctl_does_not_render_needs_no_certificate_paths() -> None:
    node = parse(NODE + '[node.tls]\nca_file = "/etc/ca.pem"\n').nodes[0]
    assert node.tls is not None and node.tls.listener is None


@pytest.mark.parametrize(
    "path", ["/k/c.pem\\ntlsenable = no", "k/c.pem", "/k/../c.pem", "/k/c pem", "/k/c;x"]
)
def test_unsafe_certificate_paths_are_refused_naming_the_field(path: str) -> None:
    tls = f'[node.tls]\ncert_file_in_asterisk = "{path}"\nkey_file_in_asterisk = "/k/k.pem"\n'
    with pytest.raises(NodesConfigError, match=r'node "a": tls: cert_file_in_asterisk'):
        parse(NODE + RENDERED + tls)


def test_only_one_of_the_two_files_is_refused() -> None:
    tls = '[node.tls]\ncert_file_in_asterisk = "/k/c.pem"\n'
    with pytest.raises(NodesConfigError, match="key_file_in_asterisk is missing"):
        parse(NODE + tls)
