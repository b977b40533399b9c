"""The nodes file: parsing, validation, one-line errors, the secret kept out of sight."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from callctl.nodes import NodesConfigError, QueueLogSource, load_nodes, parse_nodes
from routing.node import NodeLayout

BASE = Path("/etc/callctl")
SECRETS = {BASE / "ami_a": "s3cret-a\n", Path("/run/secrets/b"): "s3cret-b"}


def read_secret(path: Path) -> str:
    try:
        return SECRETS[path]
    except KeyError:
        raise FileNotFoundError(path) from None


def parse(text: str, environ: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return parse_nodes(text, read_text=read_secret, environ=environ or {}, base_dir=BASE)


TWO_NODES = """
[[node]]
id = "a"
ami_host = "127.0.0.1"
secret_file = "ami_a"
queue_log = { mode = "file", path = "/var/log/asterisk/queue_log" }
config_dir = "/srv/a/etc"
config_dir_in_asterisk = "/etc/callctl-asterisk"

[[node]]
id = "b-2"
ami_host = "asterisk-b.example"
ami_user = "ctl"
secret_env = "AMI_B"
queue_log = { mode = "shipped" }
sip_host = "127.0.1.1"
[node.tls]
ca_file = "ca.pem"
server_hostname = "asterisk-b"

[[trunk]]
name = "trunk"
match_ip = "127.0.0.9"
"""


def test_two_nodes_with_defaults_file_and_env_secrets_and_tls() -> None:
    config = parse(TWO_NODES, {"AMI_B": "from-env"})
    a, b = config.nodes
    assert config.node_ids == ("a", "b-2")
    assert (a.ami_host, a.ami_port, a.ami_user) == ("127.0.0.1", 5038, "callctl")
    assert a.secret == "s3cret-a"  # the file's newline is not part of it
    assert a.secret_source == f"file {BASE / 'ami_a'}"
    assert a.queue_log == QueueLogSource("file", Path("/var/log/asterisk/queue_log"))
    assert a.config_dir == Path("/srv/a/etc")
    assert a.config_dir_in_asterisk == "/etc/callctl-asterisk"
    assert a.tls is None and a.ami_node().tls_context is None
    assert (b.ami_port, b.ami_user, b.secret) == (5039, "ctl", "from-env")  # TLS port
    assert b.queue_log == QueueLogSource("shipped")
    assert b.config_dir is None
    assert b.tls is not None and b.tls.ca_file == BASE / "ca.pem" and b.tls.verify
    assert b.ami_bind == "0.0.0.0"  # a host name: Asterisk binds every address
    assert b.network.sip_bind == "127.0.1.1"
    assert [(t.name, t.match_ip) for t in config.trunks] == [("trunk", "127.0.0.9")]


def test_tls_context_verifies_by_default(tmp_path: Path) -> None:
    config = parse(TWO_NODES.replace('ca_file = "ca.pem"\n', ""), {"AMI_B": "x"})
    node = config.node("b-2").ami_node()
    assert node.tls_context is not None
    assert node.tls_context.verify_mode is ssl.CERT_REQUIRED
    assert node.tls_context.check_hostname
    assert node.server_hostname == "asterisk-b"
    unverified = parse(
        TWO_NODES.replace('ca_file = "ca.pem"\n', "verify = false\n"), {"AMI_B": "x"}
    )
    context = unverified.node("b-2").ami_node().tls_context
    assert context is not None and context.verify_mode is ssl.CERT_NONE


def test_secret_is_not_in_repr_of_the_settings_or_the_ami_node() -> None:
    config = parse(TWO_NODES, {"AMI_B": "from-env"})
    assert "s3cret-a" not in repr(config)
    assert "s3cret-a" not in repr(config.nodes[0].ami_node())
    assert "from-env" not in repr(config)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('id = "a"', 'id = "a b"'), "node \"a b\": id 'a b' must match [A-Za-z0-9_-]{1,32}"),
        (('id = "a"', 'id = "' + "x" * 33 + '"'), "must match [A-Za-z0-9_-]{1,32}"),
        (('id = "b-2"', 'id = "a"'), 'node "a": id used twice'),
        (
            ('secret_file = "ami_a"', 'secret_file = "missing"'),
            'node "a": secret_file /etc/callctl/missing: not found',
        ),
        (('secret_file = "ami_a"\n', ""), 'node "a": secret_file or secret_env: give exactly one'),
        (('secret_env = "AMI_B"', 'secret_env = "AMI_C"'), 'node "b-2": secret_env AMI_C: not set'),
        (('ami_host = "127.0.0.1"\n', ""), 'node "a": ami_host is missing'),
        (('ami_user = "ctl"', 'ami_user = "ctl\\r\\nAction: Originate"'), 'node "b-2": ami_user'),
        (
            ('queue_log = { mode = "shipped" }', 'queue_log = { mode = "rsync" }'),
            "mode 'rsync' must be",
        ),
        (
            ('queue_log = { mode = "shipped" }', 'queue_log = { mode = "file" }'),
            'path is missing (mode "file")',
        ),
        (('queue_log = { mode = "shipped" }\n', ""), 'node "b-2": queue_log is missing'),
        (
            ('sip_host = "127.0.1.1"', 'sip_host = "node-b"'),
            "sip_host 'node-b' is not an IPv4 address",
        ),
        (('id = "a"', 'id = "a"\nami_port = 70000'), 'node "a": ami_port 70000 is not in 1..65535'),
        (('id = "a"', 'id = "a"\nami_portt = 1'), "node \"a\": unknown field 'ami_portt'"),
        (('server_hostname = "asterisk-b"', 'verify = "yes"'), "tls: verify must be true or false"),
        (('match_ip = "127.0.0.9"', 'match_ip = "nine"'), 'trunk "trunk": '),
    ],
)
def test_a_wrong_field_gives_one_line_naming_node_and_field(
    change: tuple[str, str], message: str
) -> None:
    old, new = change
    assert old in TWO_NODES
    with pytest.raises(NodesConfigError) as caught:
        parse(TWO_NODES.replace(old, new, 1), {"AMI_B": "x"})
    text = str(caught.value)
    assert text.startswith("CALLCTL_NODES_FILE: ")
    assert message in text
    assert "\n" not in text


def test_a_secret_holding_a_line_break_is_refused_without_echoing_it() -> None:
    with pytest.raises(NodesConfigError) as caught:
        parse(TWO_NODES, {"AMI_B": "abc\r\nAction: Originate"})
    assert "Originate" not in str(caught.value)
    assert 'node "b-2": secret_env AMI_B' in str(caught.value)
    with pytest.raises(NodesConfigError, match="the secret is empty"):
        parse(TWO_NODES, {"AMI_B": ""})


def test_no_node_and_bad_toml() -> None:
    with pytest.raises(NodesConfigError, match=r"no \[\[node\]\] table"):
        parse('[[trunk]]\nname = "t"\nmatch_ip = "127.0.0.2"\n')
    with pytest.raises(NodesConfigError, match="not valid TOML"):
        parse("[[node]\n")


def test_load_nodes_names_the_setting_when_unset_or_missing(tmp_path: Path) -> None:
    with pytest.raises(NodesConfigError, match="CALLCTL_NODES_FILE: not set"):
        load_nodes(None)
    with pytest.raises(NodesConfigError, match=f"CALLCTL_NODES_FILE: {tmp_path}/x.toml: not found"):
        load_nodes(tmp_path / "x.toml")
    (tmp_path / "secret").write_text("pw\n")
    (tmp_path / "nodes.toml").write_text(
        '[[node]]\nid = "n"\nami_host = "127.0.0.1"\nsecret_file = "secret"\n'
        'queue_log = { mode = "shipped" }\n'
    )
    assert load_nodes(tmp_path / "nodes.toml").nodes[0].secret == "pw"


LAYOUT_A = TWO_NODES.replace(
    'config_dir_in_asterisk = "/etc/callctl-asterisk"\n',
    'config_dir_in_asterisk = "/etc/callctl-asterisk"\n'
    "[node.layout]\n"
    'system_name = "a"\n'
    'spool_dir = "/var/spool/asterisk-a"\n'
    'log_dir = "/var/log/asterisk-a"\n'
    "rtp_start = 20000\n"
    "rtp_end = 24999\n",
)


def test_a_nodes_own_layout_is_read_and_defaults_otherwise() -> None:
    a, b = parse(LAYOUT_A, {"AMI_B": "x"}).nodes
    assert a.layout == NodeLayout(
        etc_dir="/etc/callctl-asterisk",
        spool_dir="/var/spool/asterisk-a",
        log_dir="/var/log/asterisk-a",
        rtp_start=20000,
        rtp_end=24999,
        system_name="a",
    )
    assert b.layout == NodeLayout(etc_dir="/etc/asterisk")  # its config_dir_in_asterisk


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("rtp_end = 24999", "rtp_end = 19999"), 'node "a": layout: rtp_end 19999 is not in'),
        (
            ('spool_dir = "/var/spool/asterisk-a"', 'spool_dir = "/var/../etc"'),
            'node "a": layout: spool_dir',
        ),
        (('system_name = "a"', 'system_name = "A\\nB"'), 'node "a": layout: system_name'),
        (("rtp_start = 20000", "rtp_begin = 20000"), "layout: unknown field 'rtp_begin'"),
    ],
)
def test_a_wrong_layout_field_is_named(change: tuple[str, str], message: str) -> None:
    old, new = change
    with pytest.raises(NodesConfigError) as caught:
        parse(LAYOUT_A.replace(old, new, 1), {"AMI_B": "x"})
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_the_readme_nodes_example_is_a_valid_nodes_file() -> None:
    """The README's example is what a new user copies: it must parse as it stands."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    example = "[[node]]" + readme.split("```toml\n[[node]]", 1)[1].split("```", 1)[0]
    config = parse_nodes(
        example, read_text=lambda _path: "readme-secret-0123", environ={}, base_dir=BASE
    )
    [node] = config.nodes
    assert node.layout.system_name == "a" and node.tls is not None
