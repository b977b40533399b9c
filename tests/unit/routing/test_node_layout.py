"""Per-node rendering: directories, RTP range and systemname land in the config."""

from __future__ import annotations

from pathlib import Path

import pytest

from callctl.lab.lab_model import lab_model
from routing.model import ConfigValueError
from routing.node import NodeLayout
from routing.render import render

CONFIG_DIR = Path(__file__).resolve().parents[3] / "callctl" / "asterisk-config"
SECRET = "node-secret-0123456789"


def test_node_layout_gives_own_dirs_rtp_range_and_systemname() -> None:
    files = render(
        lab_model(SECRET, agents=1), CONFIG_DIR, layout=NodeLayout.for_node("b", 21000, 21999)
    )
    conf = files["asterisk.conf"]
    for key, value in (
        ("astetcdir", "/etc/asterisk-b"),
        ("astvarlibdir", "/var/lib/asterisk-b"),
        ("astdbdir", "/var/lib/asterisk-b"),
        ("astspooldir", "/var/spool/asterisk-b"),
        ("astrundir", "/var/run/asterisk-b"),
        ("astlogdir", "/var/log/asterisk-b"),
    ):
        assert f"{key} => {value}\n" in conf
    assert "systemname = b\n" in conf
    assert "rtpstart = 21000\nrtpend = 21999\n" in files["rtp.conf"]


def test_default_layout_has_no_systemname_and_the_standard_dirs() -> None:
    files = render(lab_model(SECRET, agents=1), CONFIG_DIR, etc_dir="/etc/x")
    assert "systemname" not in files["asterisk.conf"]
    assert "astetcdir => /etc/x\n" in files["asterisk.conf"]
    assert "astlogdir => /var/log/asterisk\n" in files["asterisk.conf"]
    assert "rtpstart = 10000\nrtpend = 19999\n" in files["rtp.conf"]


def test_queue_log_and_writable_dirs_follow_the_layout() -> None:
    layout = NodeLayout.for_node("b", 21000, 21999)
    assert layout.queue_log == "/var/log/asterisk-b/queue_log"
    assert "/var/spool/asterisk-b/monitor/callctl" in layout.writable_dirs


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"etc_dir": "etc/asterisk"}, "node.etc_dir"),
        ({"log_dir": "/var/log/../../root"}, "node.log_dir"),
        ({"spool_dir": "/var/spool\nastdbdir => /tmp"}, "node.spool_dir"),
        ({"rtp_start": 80}, "node.rtp_start"),
        ({"rtp_start": 21000, "rtp_end": 21000}, "node.rtp_end"),
        ({"system_name": "B"}, "node.system_name"),
        ({"system_name": "b\nsystemname = c"}, "node.system_name"),
    ],
)
def test_bad_layout_values_are_refused(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigValueError) as caught:
        NodeLayout(**kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field
