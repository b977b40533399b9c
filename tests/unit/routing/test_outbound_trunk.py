"""The outbound trunk (外呼中继) in the routing model: validation (injection refused,
naming the field), deterministic pjsip.conf/extensions.conf rendering, the document
round trip, and the secret kept out of the config view."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from callctl.lab.golden import CONFIG_DIR
from callctl.lab.lab_model import lab_model
from callctl.lab.sample_model import CARRIER, sample_model
from callctl.routing_config.api import _view
from callctl.routing_config.convert import Deployment, InvalidConfigError, from_model, to_model
from routing.model import ConfigValueError, OutboundTrunk, Trunk
from routing.render import render

SECRET = "s3cret-generated-0123456789"


def section(text: str, name: str) -> list[str]:
    """The lines of one ``[name]`` section (the first with that header)."""
    body = text.split(f"\n[{name}]", 1)[1].split("\n\n", 1)[0]
    return body.splitlines()[1:]


def test_rendered_trunk_registration_auth_and_number() -> None:
    files = render(sample_model(SECRET), Path(CONFIG_DIR))
    pjsip = files["pjsip.conf"]
    endpoint = pjsip.split("\n[carrier](endpoint-base)\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert "outbound_auth = carrier-auth" in endpoint
    assert "from_user = 089812345" in endpoint
    assert "context = from-trunk" in endpoint
    assert not any(line.startswith("callerid") for line in endpoint)  # would mask callers
    assert section(pjsip, "carrier-auth") == [
        "type = auth",
        "auth_type = userpass",
        "username = hotline12345",
        "password = sample-carrier-secret",
    ]
    registration = section(pjsip, "carrier-reg")
    assert "type = registration" in registration
    assert "server_uri = sip:127.0.0.20:5060" in registration
    assert "client_uri = sip:hotline12345@127.0.0.20:5060" in registration
    assert "outbound_auth = carrier-auth" in registration
    assert "expiration = 3600" in registration
    assert "match = 127.0.0.20" in section(pjsip, "carrier-identify")
    ext = files["extensions.conf"]
    assert "CALLCTL_OUTBOUND = carrier\n" in ext
    assert "CALLCTL_OUTBOUND_CID = 089812345\n" in ext
    # Every outbound Dial presents the trunk's number (pre-dial handler).
    dials = [ln for ln in ext.splitlines() if "Dial(PJSIP/${EXTEN}@" in ln or "sip:${EXTEN}" in ln]
    assert dials and all("b(callctl-outbound-cid^s^1)" in ln for ln in dials)
    assert render(sample_model(SECRET), Path(CONFIG_DIR)) == files  # deterministic


def test_no_registration_no_auth_by_host_name() -> None:
    trunk = OutboundTrunk(name="carrier", host="sip.carrier.example", caller_id="12345")
    files = render(dataclasses.replace(lab_model(SECRET, agents=1), outbound=trunk), CONFIG_DIR)
    pjsip = files["pjsip.conf"]
    assert "[carrier](endpoint-base)" in pjsip
    assert "contact = sip:sip.carrier.example:5060" in pjsip
    for absent in ("carrier-auth", "carrier-reg", "carrier-identify", "outbound_auth"):
        assert absent not in pjsip  # a host name is not identified (no DNS at load)


def test_no_trunk_renders_empty_globals() -> None:
    ext = render(lab_model(SECRET, agents=1), CONFIG_DIR)["extensions.conf"]
    assert "CALLCTL_OUTBOUND =\nCALLCTL_OUTBOUND_CID =\n" in ext


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "carrier\n[x]"}, "outbound_trunk.name"),
        ({"name": "global"}, "outbound_trunk.name"),
        ({"name": "x-auth"}, "outbound_trunk.name"),
        ({"host": "10.0.0.1\r\ntype=aor"}, "outbound_trunk.host"),
        ({"host": "Sip.Example;x"}, "outbound_trunk.host"),
        ({"port": 0}, "outbound_trunk.port"),
        ({"caller_id": "0898;1"}, "outbound_trunk.caller_id"),
        ({"caller_id": "+86898"}, "outbound_trunk.caller_id"),
        ({"caller_name": 'a"b'}, "outbound_trunk.caller_name"),
        ({"username": "hot line"}, "outbound_trunk.username"),
        ({"secret": "abc;def"}, "outbound_trunk.secret"),
        ({"secret": "abcd\nefgh"}, "outbound_trunk.secret"),
        ({"secret": None}, "outbound_trunk.secret"),
        ({"username": None, "secret": None}, "outbound_trunk.registration"),
        ({"expiration_s": 10}, "outbound_trunk.expiration_s"),
        ({"max_channels": 0}, "outbound_trunk.max_channels"),
    ],
)
def test_bad_values_refused_naming_the_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigValueError) as info:
        dataclasses.replace(CARRIER, **change)
    assert info.value.field == field
    assert "sample-carrier-secret" not in str(info.value)


def test_name_clash_with_an_inbound_trunk() -> None:
    model = lab_model(SECRET, agents=1)
    with pytest.raises(ConfigValueError) as info:
        dataclasses.replace(model, outbound=dataclasses.replace(CARRIER, name="trunk"))
    assert info.value.field == "outbound_trunk.name"


def test_document_round_trip_and_view_hides_the_secret() -> None:
    model = sample_model(SECRET)
    doc = from_model(model)
    assert doc.outbound_trunk is not None and doc.outbound_trunk.secret == "sample-carrier-secret"
    deployment = Deployment(model.ami, model.network, (Trunk("trunk", "127.0.0.2"),))
    assert to_model(doc, deployment).outbound == CARRIER
    view = _view(1, doc).model_dump()
    assert view["outbound_trunk"]["has_secret"] is True
    assert "secret" not in view["outbound_trunk"]
    assert "sample-carrier-secret" not in str(view)
    doc.outbound_trunk.caller_id = "0898\r\n"
    with pytest.raises(InvalidConfigError) as info:
        to_model(doc, deployment)
    assert (info.value.where, info.value.field) == ("outbound_trunk", "outbound_trunk.caller_id")
