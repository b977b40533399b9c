"""Recording names (what the dialplan writes, where callctl keeps it) and HTTP ranges."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from recording.naming import (
    RecordingNameError,
    is_safe_location,
    kept_location,
    parse_stem,
    spool_stem,
)
from recording.ranges import ByteRange, RangeError, parse_range

STEM = "1764766000.123+hotline+12345+1001+1764766005.130"


def test_a_spool_name_gives_call_queue_line_agent_and_leg() -> None:
    name = parse_stem(STEM)
    assert (name.callid, name.queue, name.line, name.agent, name.agent_uniqueid) == (
        "1764766000.123",
        "hotline",
        "12345",
        "1001",
        "1764766005.130",
    )
    assert name.file_key == STEM


def test_a_node_prefixed_uniqueid_is_accepted() -> None:
    assert parse_stem("a-1764766000.1+q_1+++a-1764766000.2").line is None


def test_calls_agents_place_are_named_by_reserved_queues() -> None:
    leg = "callctl-cb-42-2-0a1b2c3d"
    callback = parse_stem(f"{leg}+_callback++1001+{leg}")
    assert (callback.callid, callback.queue, callback.line, callback.agent) == (
        leg,
        "_callback",
        None,
        "1001",
    )
    dialled = parse_stem("1764766000.9+_outbound++1002+1764766000.9")
    assert (dialled.queue, dialled.agent) == ("_outbound", "1002")


@pytest.mark.parametrize(
    "stem",
    [
        "../../etc/passwd",
        "1.2+hotline+1+1",
        "1.2+Hotline+1+1+1.3",
        "1.2+hotline+1+1+1.3;rm",
        # Only the two reserved names may start with "_"; the dialer's ids are exact.
        "1.2+_hotline++1001+1.2",
        "callctl-cb-42-2-0a1b2c3+_callback++1001+1.2",
        "callctl-cb-42-2-0a1b2c3d/..+_callback++1001+1.2",
    ],
)
def test_anything_else_is_not_a_recording(stem: str) -> None:
    with pytest.raises(RecordingNameError):
        parse_stem(stem)
    assert spool_stem(stem + ".done") is None


def test_done_is_complete_and_raw_is_in_progress() -> None:
    assert spool_stem(STEM + ".done") == (STEM, True)
    assert spool_stem(STEM + ".raw") == (STEM, False)
    assert spool_stem(STEM + ".wav") is None


def test_the_kept_file_is_dated_by_the_start_in_utc() -> None:
    started = datetime(2026, 12, 3, 23, 59, 59, tzinfo=UTC)
    location = kept_location("lab", parse_stem(STEM), started)
    assert str(location) == f"lab/2026/12/03/{STEM}.flac"
    assert is_safe_location(str(location))


@pytest.mark.parametrize("location", ["/etc/passwd", "lab/../../x.flac", "lab//x", "a b.flac"])
def test_unsafe_locations_are_refused(location: str) -> None:
    assert not is_safe_location(location)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", ByteRange(0, 99)),
        ("bytes=100-", ByteRange(100, 999)),
        ("bytes=-10", ByteRange(990, 999)),
        ("bytes=900-5000", ByteRange(900, 999)),
    ],
)
def test_one_range(header: str, expected: ByteRange) -> None:
    assert parse_range(header, 1000) == expected
    assert expected.content_range(1000) == f"bytes {expected.first}-{expected.last}/1000"


@pytest.mark.parametrize(
    "header", ["bytes=1000-", "bytes=5-1", "bytes=0-1,5-6", "items=0-1", "bytes=-", "bytes=x-"]
)
def test_bad_or_unsatisfiable_ranges(header: str) -> None:
    with pytest.raises(RangeError):
        parse_range(header, 1000)
