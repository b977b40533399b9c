"""Config rendering: deterministic, complete, and refusing unsafe values."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from callctl.lab.lab_model import lab_model
from callctl.lab.sample_model import sample_model
from routing.model import Agent, AmiUser, ConfigValueError, Line, Membership, PbxModel, Queue
from routing.render import SIP_REALM, TemplateError, digest_ha1, fill, render

CONFIG_DIR = Path(__file__).resolve().parents[3] / "callctl" / "asterisk-config"
SECRET = "s3cret-generated-0123456789"


def test_render_is_deterministic() -> None:
    first = render(lab_model(SECRET, agents=3), CONFIG_DIR)
    second = render(lab_model(SECRET, agents=3), CONFIG_DIR)
    assert first == second


def test_no_placeholder_left_and_all_files_present() -> None:
    files = render(lab_model(SECRET, agents=2), CONFIG_DIR, etc_dir="/etc/x")
    for required in (
        "modules.conf",
        "manager.conf",
        "pjsip.conf",
        "queues.conf",
        "extensions.conf",
        "asterisk.conf",
        "logger.conf",
    ):
        assert required in files
    for name, text in files.items():
        assert "@@" not in text, name
    assert "astetcdir => /etc/x" in files["asterisk.conf"]


def test_modules_autoload_off_with_gosub_support() -> None:
    modules = render(lab_model(SECRET), CONFIG_DIR)["modules.conf"]
    assert re.search(r"(?m)^autoload = no$", modules)
    for module in (
        "app_queue.so",
        "app_mixmonitor.so",
        "app_stack.so",
        "chan_pjsip.so",
        "func_cut.so",
        "res_pjsip_endpoint_identifier_ip.so",
    ):
        assert f"load => {module}" in modules


def test_manager_loopback_least_privilege_generated_secret() -> None:
    manager = render(lab_model(SECRET), CONFIG_DIR)["manager.conf"]
    assert "bindaddr = 127.0.0.1" in manager
    assert f"secret = {SECRET}" in manager
    assert "deny = 0.0.0.0/0.0.0.0" in manager
    assert "permit = 127.0.0.1/255.255.255.255" in manager
    write = re.search(r"(?m)^write = (.*)$", manager)
    assert write is not None
    assert "command" not in write.group(1) and "config" not in write.group(1)


def test_trunk_identified_by_ip_and_agents_with_digest_auth() -> None:
    pjsip = render(lab_model(SECRET, agents=2, trunk_ip="127.0.0.2"), CONFIG_DIR)["pjsip.conf"]
    assert "match = 127.0.0.2" in pjsip
    assert "[1001-auth]" in pjsip and "[1002-auth]" in pjsip
    assert "max_contacts = 1" in pjsip
    assert "contact = sip:1001@127.0.0.3:5060" in pjsip


def test_queue_and_line_dialplan() -> None:
    files = render(lab_model(SECRET, agents=2), CONFIG_DIR)
    assert "[hotline]" in files["queues.conf"]
    assert "ringinuse = no" in files["queues.conf"]
    assert "member => PJSIP/1001,0,1001,PJSIP/1001" in files["queues.conf"]
    ext = files["extensions.conf"]
    assert "exten => 12345,1," in ext
    assert "MixMonitor(" in ext and "Goto(callctl-queue-hotline,s,1)" in ext
    assert "Queue(hotline,rct,${CALLCTL_LINE},,20,,callctl-agent-connected)" in ext
    # Option c: a caller whose agent hung up goes on to the line's survey, if any.
    assert (
        "Status: ${QUEUESTATUS})\n"
        ' same => n,GotoIf($["${QUEUESTATUS}" = "CONTINUE"]?callctl-after-call,s,1)\n'
        " same => n,Hangup(19)"
    ) in ext


@pytest.mark.parametrize(
    "bad_name", ["Evil\nname", "x;[trunk]", 'quo"te', "a" * 41, "", "tab\tname"]
)
def test_agent_name_injection_is_refused(bad_name: str) -> None:
    with pytest.raises(ConfigValueError) as err:
        Agent(agent_id="1001", name=bad_name, password=SECRET)
    assert err.value.field == "agent.name"


def test_chinese_agent_name_is_accepted() -> None:
    agent = Agent(agent_id="1001", name="张三丰", password=SECRET)
    assert agent.name == "张三丰"


def test_reserved_queue_name_and_dangling_references_refused() -> None:
    with pytest.raises(ConfigValueError):
        Queue(name="general")
    with pytest.raises(ConfigValueError):
        PbxModel(
            ami=AmiUser("callctl", SECRET),
            queues=(Queue(name="hotline"),),
            lines=(Line(number="12345", name="x", queue="missing"),),
        )
    with pytest.raises(ConfigValueError):
        PbxModel(
            ami=AmiUser("callctl", SECRET),
            queues=(Queue(name="hotline"),),
            agents=(Agent("1001", "A", SECRET, memberships=(Membership("nope"),)),),
        )


def test_fill_refuses_unknown_placeholder() -> None:
    with pytest.raises(TemplateError):
        fill("x @@missing@@", {})


def test_digest_ha1_is_rfc_2617s() -> None:
    # RFC 2617 section 3.5's example credentials.
    assert (
        digest_ha1("Mufasa", "Circle Of Life", realm="testrealm@host.com")
        == "939e7578ed9e3c518a452acee763bce9"
    )


def test_rendered_config_holds_password_digests_never_passwords() -> None:
    model = sample_model("secret-0123456789abc")
    files = render(model, CONFIG_DIR)
    pjsip = files["pjsip.conf"]
    for agent in model.agents:
        assert agent.password not in "".join(files.values())
        ha1 = digest_ha1(agent.agent_id, agent.password)
        assert f"password_digest = MD5:{ha1}\n" in pjsip
    assert "auth_type = digest\n" in pjsip and f"realm = {SIP_REALM}\n" in pjsip
