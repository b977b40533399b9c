"""IVR steps and IVR messages from their ``UserEvent`` (AMI) or queue_log line (pure).

Both paths carry the same values (``ivr.compile``) and give equal facts; a report
that is not whole gives none, for the caller to count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from callctl.facts.models import CallbackTaskFact, IvrStepFact

MESSAGE_SOURCE = "ivr_message"
"""``callback_tasks.source`` of a message left in the IVR."""

_STEP_FIELDS = ("Step", "Line", "Flow", "Node", "Kind", "Key", "Outcome", "Elapsed")


def _count(raw: str) -> int | None:
    return int(raw) if raw.isdecimal() and raw.isascii() and len(raw) < 10 else None


def _step(node: str, callid: str, values: Sequence[str], at: int) -> IvrStepFact | None:
    step_raw, line, flow, ivr_node, kind, digit, outcome, elapsed_raw = values
    step, elapsed = _count(step_raw), _count(elapsed_raw)
    if not callid or step is None or step < 1 or elapsed is None:
        return None
    if not (line and flow and ivr_node and kind):
        return None
    return IvrStepFact(
        node=node,
        callid=callid,
        step=step,
        line=line,
        flow=flow,
        ivr_node=ivr_node,
        kind=kind,
        at=at,
        since_start_s=elapsed,
        digit=digit or None,
        outcome=outcome or None,
    )


def step_from_user_event(
    node: str, uniqueid: str | None, fields: Mapping[str, str], at: int
) -> IvrStepFact | None:
    """``UserEvent(CallctlIvr,Line:,Flow:,Node:,Kind:,Key:,Outcome:,Step:,Elapsed:)``."""
    if uniqueid is None:
        return None
    return _step(node, uniqueid, [fields.get(name, "") for name in _STEP_FIELDS], at)


def step_from_queue_log(node: str, callid: str, data: Sequence[str], at: int) -> IvrStepFact | None:
    """``epoch|callid|NONE|NONE|CALLCTL_IVR|step|line|flow|node|kind|key|outcome|elapsed``."""
    if len(data) != len(_STEP_FIELDS):
        return None
    return _step(node, callid, data, at)


def _message(
    node: str, callid: str, line: str, number: str, path: str, at: int
) -> CallbackTaskFact | None:
    if not (callid and line and path):
        return None
    return CallbackTaskFact(
        source=MESSAGE_SOURCE,
        source_ref=f"{node}/{callid}",
        line=line,
        number=number,
        created_at=at,
        recording_path=path,
    )


def message_from_user_event(
    node: str, uniqueid: str | None, fields: Mapping[str, str], at: int
) -> CallbackTaskFact | None:
    """``UserEvent(CallctlMessage,Line:,Number:,Path:)``."""
    if uniqueid is None:
        return None
    return _message(
        node, uniqueid, fields.get("Line", ""), fields.get("Number", ""), fields.get("Path", ""), at
    )


def message_from_queue_log(
    node: str, callid: str, data: Sequence[str], at: int
) -> CallbackTaskFact | None:
    """``epoch|callid|NONE|NONE|CALLCTL_MESSAGE|line|number|path``."""
    if len(data) < 3:
        return None
    # A caller number holds no '|' in practice; the path is last, the line first.
    return _message(node, callid, data[0], "|".join(data[1:-1]), data[-1], at)
