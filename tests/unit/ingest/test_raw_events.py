"""Raw AMI event rows and partition retention (pure parts)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from types import MappingProxyType

from ami.events import parse_event
from ami.frames import Frame
from callctl.ingest.raw_events import (
    encode_headers,
    expired_partitions,
    month_start,
    months_before,
    raw_row,
)


def test_raw_row_keeps_headers_and_ids() -> None:
    frame = Frame.from_pairs(
        [
            ("Event", "QueueCallerJoin"),
            ("Uniqueid", "1.5"),
            ("Linkedid", "1.5"),
            ("CallerIDName", "张三丰"),
            ("Queue", "hotline"),
            ("Channel", "PJSIP/trunk-1"),
        ]
    )
    event = parse_event(frame, "lab", 1795291045.5)
    node, received_at, seq, name, linkedid, uniqueid, headers = raw_row(event, 7)
    assert (node, seq, name, linkedid, uniqueid) == ("lab", 7, "QueueCallerJoin", "1.5", "1.5")
    assert received_at == datetime.fromtimestamp(1795291045.5, UTC)
    assert json.loads(headers) == dict(frame.headers)
    assert "张三丰" in headers  # stored as UTF-8, not as \u escapes


def test_headers_orjson_refuses_are_encoded_as_before() -> None:
    headers = {"Event": "UserEvent", "Data": "a\udc80b"}  # a lone surrogate
    assert json.loads(encode_headers(headers)) == headers
    # A view and a plain dict give the same text.
    plain = {"Event": "Hangup", "CallerIDName": "市民"}
    assert encode_headers(MappingProxyType(plain)) == encode_headers(plain)
    assert json.loads(encode_headers(plain)) == plain


def test_retention_window() -> None:
    assert months_before(date(2026, 11, 21), 1) == date(2026, 11, 1)
    assert months_before(date(2026, 11, 21), 13) == date(2025, 11, 1)
    assert months_before(date(2026, 1, 5), 2) == date(2025, 12, 1)
    assert month_start(datetime(2026, 2, 28, 23, tzinfo=UTC)) == date(2026, 2, 1)


def test_only_whole_months_before_the_window_expire() -> None:
    names = [
        "ami_events_default",
        "ami_events_202510",
        "ami_events_202511",
        "ami_events_202611",
        "ami_events_x",
    ]
    assert expired_partitions(names, date(2025, 11, 1)) == ["ami_events_202510"]
    assert expired_partitions(names, date(2025, 1, 1)) == []
