"""Survey answers from the survey's ``UserEvent`` (AMI) or its queue_log line (pure).

Both carry the queue entry's key (the caller's ``UNIQUEID``, queue, seq), the agent
(``MEMBERNAME``) and the key pressed (``ivr.survey``); both give the same
``SurveyAnswerFact``. A report that is not a whole, valid answer gives none: it is
counted by the caller, never guessed.
"""

from __future__ import annotations

from collections.abc import Mapping

from callctl.facts.models import SurveyAnswerFact

_NO_AGENT = frozenset({"", "NONE"})


def _answer(raw: str) -> int | None:
    return int(raw) if len(raw) == 1 and raw in "0123456789" else None


def _seq(raw: str) -> int | None:
    return int(raw) if raw.isdecimal() and raw.isascii() and 0 < int(raw) < 1_000_000 else None


def _build(
    node: str, callid: str, queue: str, seq_raw: str, key_raw: str, agent: str, at: int
) -> SurveyAnswerFact | None:
    seq, answer = _seq(seq_raw), _answer(key_raw)
    if not callid or queue in _NO_AGENT or seq is None or answer is None:
        return None
    return SurveyAnswerFact(
        node=node,
        callid=callid,
        queue=queue,
        seq=seq,
        answer=answer,
        answered_at=at,
        agent=None if agent in _NO_AGENT else agent,
    )


def answer_from_user_event(
    node: str, uniqueid: str | None, fields: Mapping[str, str], at: int
) -> SurveyAnswerFact | None:
    """``UserEvent(CallctlSurvey,Line: ..,Queue: ..,Seq: ..,Agent: ..,Key: ..)``."""
    if uniqueid is None:
        return None
    return _build(
        node,
        uniqueid,
        fields.get("Queue", ""),
        fields.get("Seq", ""),
        fields.get("Key", ""),
        fields.get("Agent", ""),
        at,
    )


def answer_from_queue_log(
    node: str, callid: str, queue: str, agent: str, data: tuple[str, ...], at: int
) -> SurveyAnswerFact | None:
    """``epoch|callid|queue|agent|CALLCTL_SURVEY|seq|key|line``."""
    if len(data) < 2:
        return None
    return _build(node, callid, queue, data[0], data[1], agent, at)
