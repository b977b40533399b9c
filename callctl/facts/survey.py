"""Survey answers from the survey's ``UserEvent`` (AMI) or its queue_log line (pure).

Both carry the queue entry's key (the caller's ``UNIQUEID``, queue, seq), the agent
(``MEMBERNAME``) and the key pressed (``ivr.survey``); both give the same
``SurveyAnswerFact``. A report that is not a whole, valid answer gives none: it is
counted by the caller, never guessed.

An outbound survey call (``ivr.survey``) reports the rated entry's call id in its
``Callid`` field (the UserEvent comes from the survey call's own channel) and
``Survey: outbound``; its queue_log line already names the rated call and carries
``outbound`` as a 4th field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from callctl.facts.models import SurveyAnswerFact
from ivr.survey import INBOUND, OUTBOUND

_NO_AGENT = frozenset({"", "NONE"})
_CALL_ID = re.compile(r"[A-Za-z0-9_.-]{1,128}")


def _answer(raw: str) -> int | None:
    return int(raw) if len(raw) == 1 and raw in "0123456789" else None


def _seq(raw: str) -> int | None:
    return int(raw) if raw.isdecimal() and raw.isascii() and 0 < int(raw) < 1_000_000 else None


def _build(
    node: str,
    callid: str,
    queue: str,
    seq_raw: str,
    key_raw: str,
    agent: str,
    at: int,
    channel: str = INBOUND,
) -> SurveyAnswerFact | None:
    seq, answer = _seq(seq_raw), _answer(key_raw)
    if not _CALL_ID.fullmatch(callid) or queue in _NO_AGENT or seq is None or answer is None:
        return None
    return SurveyAnswerFact(
        node=node,
        callid=callid,
        queue=queue,
        seq=seq,
        answer=answer,
        answered_at=at,
        agent=None if agent in _NO_AGENT else agent,
        channel=channel,
    )


def answer_from_user_event(
    node: str, uniqueid: str | None, fields: Mapping[str, str], at: int
) -> SurveyAnswerFact | None:
    """``UserEvent(CallctlSurvey,Line: ..,Queue: ..,Seq: ..,Agent: ..,Key: ..)``, and
    ``Callid: ..,Survey: outbound`` from an outbound survey call."""
    survey = fields.get("Survey", INBOUND)
    if survey == OUTBOUND:
        callid: str | None = fields.get("Callid")
    elif survey == INBOUND:
        callid = uniqueid
    else:
        return None
    if callid is None:
        return None
    return _build(
        node,
        callid,
        fields.get("Queue", ""),
        fields.get("Seq", ""),
        fields.get("Key", ""),
        fields.get("Agent", ""),
        at,
        survey,
    )


def answer_from_queue_log(
    node: str, callid: str, queue: str, agent: str, data: tuple[str, ...], at: int
) -> SurveyAnswerFact | None:
    """``epoch|callid|queue|agent|CALLCTL_SURVEY|seq|key|line[|outbound]``."""
    if len(data) < 2:
        return None
    channel = data[3] if len(data) > 3 and data[3] else INBOUND
    if channel not in (INBOUND, OUTBOUND):
        return None
    return _build(node, callid, queue, data[0], data[1], agent, at, channel)
