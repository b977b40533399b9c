"""Facts ⇄ spool records (pure).

A record is ``{"s": source, "t": fact type, "f": fields}`` as compact UTF-8
JSON. Fields left at ``None`` are omitted: records stay small, and a record
written before a new optional field was added still decodes.
"""

from __future__ import annotations

import json
from dataclasses import fields
from enum import StrEnum
from typing import Any, Final, Literal, TypeGuard

from callctl.facts.models import (
    AcwEnd,
    AcwInterval,
    AgentSession,
    AgentState,
    AgentStateInterval,
    CallbackTaskFact,
    CallFact,
    Fact,
    HangupSide,
    IvrStepFact,
    QueueEntryFact,
    SurveyAnswerFact,
)
from kpi.outcome import Outcome

FactSource = Literal["ami", "queue_log"]
"""Which ingest path produced a fact (queue_entries.source)."""

FACT_SOURCES: Final[frozenset[str]] = frozenset({"ami", "queue_log"})

FACT_TYPES: Final[dict[str, type[Fact]]] = {
    "queue_entry": QueueEntryFact,
    "agent_state_interval": AgentStateInterval,
    "agent_session": AgentSession,
    "acw_interval": AcwInterval,
    "call": CallFact,
    "survey_answer": SurveyAnswerFact,
    "ivr_step": IvrStepFact,
    "callback_task": CallbackTaskFact,
}
_TYPE_NAMES: Final[dict[type[Fact], str]] = {cls: name for name, cls in FACT_TYPES.items()}

# Fields whose JSON string must become an enum member again on the way back.
ENUM_FIELDS: Final[dict[type[Fact], dict[str, type[StrEnum]]]] = {
    QueueEntryFact: {"outcome": Outcome, "hangup_side": HangupSide},
    AgentStateInterval: {"state": AgentState},
    AgentSession: {},
    AcwInterval: {"ended_by": AcwEnd},
    CallFact: {},
    SurveyAnswerFact: {},
    IvrStepFact: {},
    CallbackTaskFact: {},
}


class FactRecordError(ValueError):
    """A spool record that does not decode to a fact (bad JSON, unknown type or field)."""

    error_id = "ingest.bad_fact_record"


def is_fact_source(value: str) -> TypeGuard[FactSource]:
    return value in FACT_SOURCES


def encode_fact_record(fact: Fact, source: FactSource) -> bytes:
    type_name = _TYPE_NAMES.get(type(fact))
    if type_name is None:
        raise TypeError(f"not a fact: {type(fact).__name__}")
    values = {f.name: getattr(fact, f.name) for f in fields(fact)}
    # StrEnum members serialise as their value: they are str subclasses.
    present = {name: value for name, value in values.items() if value is not None}
    record = {"s": source, "t": type_name, "f": present}
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()


def decode_fact_record(payload: bytes) -> tuple[Fact, FactSource]:
    try:
        record = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FactRecordError(f"not JSON: {exc}") from exc
    if not isinstance(record, dict):
        raise FactRecordError("record is not an object")
    source, type_name, values = record.get("s"), record.get("t"), record.get("f")
    if not isinstance(source, str) or not is_fact_source(source):
        raise FactRecordError(f"unknown source {source!r}")
    if not isinstance(type_name, str) or type_name not in FACT_TYPES:
        raise FactRecordError(f"unknown fact type {type_name!r}")
    if not isinstance(values, dict):
        raise FactRecordError("fields are not an object")
    return _build_fact(FACT_TYPES[type_name], values), source


def _build_fact(cls: type[Fact], values: dict[str, Any]) -> Fact:
    # Only the few enum fields need converting: loop over those, not all fields
    # (this runs once per spooled fact when the spool drains).
    for name, enum_cls in ENUM_FIELDS[cls].items():
        value = values.get(name)
        if value is not None:
            try:
                values[name] = enum_cls(value)
            except ValueError as exc:
                raise FactRecordError(f"{cls.__name__}.{name}: {exc}") from exc
    try:
        return cls(**values)
    except TypeError as exc:  # unknown or missing field
        raise FactRecordError(f"{cls.__name__}: {exc}") from exc
