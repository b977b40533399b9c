"""Facts survive the spool's JSON records unchanged, and bad records are refused clearly."""

from __future__ import annotations

import json
import typing
from dataclasses import fields
from enum import StrEnum

import pytest

from callctl.facts.models import (
    AcwEnd,
    AcwInterval,
    AgentSession,
    AgentState,
    AgentStateInterval,
    CallFact,
    Fact,
    HangupSide,
    QueueEntryFact,
)
from callctl.ingest.fact_codec import (
    ENUM_FIELDS,
    FACT_TYPES,
    FactRecordError,
    FactSource,
    decode_fact_record,
    encode_fact_record,
)
from kpi.outcome import Outcome

COMPLETE_FACTS: list[Fact] = [
    QueueEntryFact(
        node="lab",
        callid="1700000000.1",
        queue="hotline",
        seq=2,
        entered_at=1_700_000_000,
        caller_num="13800000000",
        position=3,
        outcome=Outcome.ANSWERED,
        ended_wait_at=1_700_000_012,
        wait_s=12,
        agent="PJSIP/8001",
        ring_attempts=2,
        talk_s=95,
        hangup_side=HangupSide.AGENT,
        completed_at=1_700_000_107,
    ),
    AgentStateInterval(
        "lab", "PJSIP/8001", AgentState.PAUSED, "lunch", 1_700_000_000, 1_700_000_600
    ),
    AgentSession("lab", "PJSIP/8001", "hotline", 1_700_000_000, 1_700_003_600),
    AcwInterval(
        "lab",
        "PJSIP/8001",
        1_700_000_107,
        1_700_000_137,
        AcwEnd.UNPAUSE,
        "1700000000.1",
        "hotline",
        2,
    ),
    CallFact(
        node="lab",
        linkedid="1700000000.1",
        started_at=1_699_999_990,
        line="12345",
        caller_num="13800000000",
        caller_name="张三丰",
        ended_at=1_700_000_140,
        hangup_cause=16,
    ),
]
MINIMAL_FACTS: list[Fact] = [
    QueueEntryFact(node="lab", callid="c", queue="q", seq=1, entered_at=1),
    AgentStateInterval("lab", "a", AgentState.PAUSED, "", 1),
    AgentSession("lab", "a", "q", 1),
    AcwInterval("lab", "a", 1),
    CallFact("lab", "c", 1),
]


@pytest.mark.parametrize("fact", COMPLETE_FACTS + MINIMAL_FACTS, ids=repr)
@pytest.mark.parametrize("source", ["ami", "queue_log"])
def test_round_trip(fact: Fact, source: FactSource) -> None:
    decoded, decoded_source = decode_fact_record(encode_fact_record(fact, source))
    assert decoded == fact
    assert decoded_source == source
    for name in ENUM_FIELDS[type(fact)]:
        value = getattr(decoded, name)
        assert value is None or type(value) is type(getattr(fact, name))


def test_record_shape_omits_none_fields() -> None:
    record = json.loads(encode_fact_record(MINIMAL_FACTS[0], "ami"))
    assert record == {
        "s": "ami",
        "t": "queue_entry",
        "f": {
            "node": "lab", "callid": "c", "queue": "q", "seq": 1, "entered_at": 1,
            "ring_attempts": 0,
        },
    }  # fmt: skip


def test_every_fact_type_and_enum_field_is_covered() -> None:
    # Guards against a field or fact added to models.py but not to the codec.
    assert set(FACT_TYPES.values()) == set(typing.get_args(Fact))
    for cls in FACT_TYPES.values():
        hints = typing.get_type_hints(cls)
        enum_fields = {
            f.name
            for f in fields(cls)
            if any(
                isinstance(arg, type) and issubclass(arg, StrEnum)
                for arg in (hints[f.name], *typing.get_args(hints[f.name]))
            )
        }
        assert set(ENUM_FIELDS[cls]) == enum_fields, cls.__name__


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"{not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not an object"),
        (b'{"s": "sip", "t": "queue_entry", "f": {}}', "unknown source"),
        (b'{"s": "ami", "t": "cdr", "f": {}}', "unknown fact type"),
        (b'{"s": "ami", "t": "call", "f": {"node": "n", "linkedid": "l"}}', "CallFact"),
        (b'{"s": "ami", "t": "agent_session", "f": []}', "fields are not an object"),
        (
            b'{"s": "ami", "t": "agent_session", "f": '
            b'{"node": "n", "agent": "a", "queue": "q", "started_at": 1, "colour": "red"}}',
            "AgentSession",
        ),
        (b'{"s": "ami", "t": "agent_session", "f": {"node": "n"}}', "AgentSession"),
        (
            b'{"s": "ami", "t": "acw_interval", "f": '
            b'{"node": "n", "agent": "a", "started_at": 1, "ended_by": "nap"}}',
            "AcwInterval.ended_by",
        ),
    ],
)
def test_bad_records_are_refused(payload: bytes, message: str) -> None:
    with pytest.raises(FactRecordError, match=message):
        decode_fact_record(payload)


def test_encode_refuses_a_non_fact() -> None:
    with pytest.raises(TypeError):
        encode_fact_record("not a fact", "ami")  # type: ignore[arg-type]
