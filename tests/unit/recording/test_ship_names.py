"""What a node's shipper sends is checked before use: the node id and every part of the
spool file's name (both come from the node, and the name becomes a path in the store)."""

from __future__ import annotations

import pytest

from recording.naming import RecordingNameError, shipped_name
from recording.shipper import ShipConfigError, Target

GOOD = "1733000000.12+hotline+12345+1001+1733000000.13"


def test_a_done_file_is_complete_and_names_its_call() -> None:
    name, complete = shipped_name("ast-b", f"{GOOD}.done")
    assert complete
    assert (name.callid, name.queue, name.line, name.agent, name.agent_uniqueid) == (
        "1733000000.12",
        "hotline",
        "12345",
        "1001",
        "1733000000.13",
    )
    assert name.file_key == GOOD


def test_an_orphaned_raw_file_is_accepted_as_incomplete() -> None:
    _name, complete = shipped_name("a", f"{GOOD}.raw")
    assert not complete


@pytest.mark.parametrize(
    "file_name",
    [
        "../../etc/passwd",
        f"../{GOOD}.done",
        f"sub/{GOOD}.done",
        f"{GOOD}.flac",
        GOOD,
        f"{GOOD}.done\r\nX-Evil: 1",
        f"{GOOD}.done\x00",
        "1733000000.12+Hotline+12345+1001+1733000000.13.done",  # queue: lower case only
        "1733000000.12+hotline+12a45+1001+1733000000.13.done",  # line: digits only
        "1733000000.12+hotline+12345+10/1+1733000000.13.done",
        "1733000000.12+hotline+12345+1001.done",  # a part missing
        "x" * 300 + ".done",
        "",
    ],
)
def test_a_bad_file_name_is_refused(file_name: str) -> None:
    with pytest.raises(RecordingNameError):
        shipped_name("a", file_name)


@pytest.mark.parametrize("node", ["", "..", "a/b", "a b", "a\n", "x" * 33, "节点"])
def test_a_bad_node_is_refused(node: str) -> None:
    with pytest.raises(RecordingNameError, match="node"):
        shipped_name(node, f"{GOOD}.done")


def test_the_upload_path_keeps_the_name_intact() -> None:
    target = Target.parse("https://callctl.example:8443/base/")
    assert (target.scheme, target.host, target.port) == ("https", "callctl.example", 8443)
    assert target.upload_path("a", f"{GOOD}.done") == (
        f"/base/api/v1/recordings/ingest/a/{GOOD}.done"
    )
    assert Target.parse("http://127.0.0.1").port == 80


@pytest.mark.parametrize(
    "url",
    ["ftp://x", "callctl:8345", "http://", "http://u:p@x", "http://x/?a=1", "http://x:99999"],
)
def test_a_bad_target_url_is_refused_naming_the_option(url: str) -> None:
    with pytest.raises(ShipConfigError, match="--to"):
        Target.parse(url)
