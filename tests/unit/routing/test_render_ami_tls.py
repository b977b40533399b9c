"""manager.conf's TLS listener (tlsenable) when a node asks for it: validated values only."""

from __future__ import annotations

from pathlib import Path

import pytest

from callctl.lab.lab_model import lab_model
from routing.model import AmiTlsListener, ConfigValueError, Network
from routing.render import render

CONFIG_DIR = Path(__file__).resolve().parents[3] / "callctl" / "asterisk-config"
SECRET = "s3cret-generated-0123456789"
CERT, KEY = "/etc/asterisk/keys/ami.crt", "/etc/asterisk/keys/ami.key"


def manager_conf(network: Network) -> str:
    return render(lab_model(SECRET, agents=1, network=network), CONFIG_DIR)["manager.conf"]


def test_tls_listener_rendered_on_the_ami_address_beside_the_plain_one() -> None:
    tls = AmiTlsListener(port=5039, cert_file=CERT, key_file=KEY)
    text = manager_conf(Network(ami_bind="10.0.0.11", ami_port=5038, ami_tls=tls))
    general = text.split("[general]\n", 1)[1].split("\n[", 1)[0]
    assert "bindaddr = 10.0.0.11\nport = 5038\n" in general
    assert (
        "tlsenable = yes\n"
        "tlsbindaddr = 10.0.0.11:5039\n"
        f"tlscertfile = {CERT}\n"
        f"tlsprivatekey = {KEY}\n"
    ) in general


def test_without_tls_manager_conf_has_no_tls_option() -> None:
    assert "tls" not in manager_conf(Network())


@pytest.mark.parametrize(
    ("cert", "key", "field"),
    [
        ("/etc/keys/a.crt\ntlsenable=no", KEY, "network.ami_tls.cert_file"),
        ("/etc/keys/a.crt;x", KEY, "network.ami_tls.cert_file"),
        ("keys/a.crt", KEY, "network.ami_tls.cert_file"),
        (CERT, "/etc/../root/key", "network.ami_tls.key_file"),
        (CERT, "/etc/my key.pem", "network.ami_tls.key_file"),
    ],
)
def test_unsafe_certificate_paths_are_refused(cert: str, key: str, field: str) -> None:
    with pytest.raises(ConfigValueError) as caught:
        AmiTlsListener(port=5039, cert_file=cert, key_file=key)
    assert caught.value.field == field


def test_the_tls_port_must_differ_from_the_plain_one() -> None:
    tls = AmiTlsListener(port=5038, cert_file=CERT, key_file=KEY)
    with pytest.raises(ConfigValueError) as caught:
        Network(ami_port=5038, ami_tls=tls)
    assert caught.value.field == "network.ami_tls.port"
    with pytest.raises(ConfigValueError):
        AmiTlsListener(port=0, cert_file=CERT, key_file=KEY)
