"""The post-call survey's dialplan (pure, deterministic) and the names of its facts.

After ``Queue()`` with option ``c``, a caller whose agent hung up first comes to
``callctl-after-call`` (extensions.conf.in) and, on a line with a survey, to that
line's ``callctl-survey-<number>`` context rendered here. An answer is reported
twice: a ``UserEvent`` (AMI, live) and a ``QueueLog`` line (durable, reconciled),
both carrying the queue entry's key (``UNIQUEID``, queue, seq) and the agent.

The same survey is played on an automated outbound call (回访测评): callctl
Originates ``Local/<citizen>@callctl-survey-dial`` into the line's
``callctl-survey-out-<number>`` context, with the surveyed entry's key and agent as
channel variables (``OUT_VARS``; validated before the Originate). Its answer is
reported like the inbound one, for the original entry, and marked ``outbound``
(``Survey: outbound`` and ``Callid`` in the UserEvent; a 4th queue_log field).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from routing.model import Line, Survey

SURVEY_USER_EVENT: Final = "CallctlSurvey"
"""``UserEvent(CallctlSurvey,Line: ..,Queue: ..,Seq: ..,Agent: ..,Key: ..)``."""
SURVEY_QUEUE_LOG_EVENT: Final = "CALLCTL_SURVEY"
"""queue_log: ``epoch|callid|queue|agent|CALLCTL_SURVEY|seq|key|line``."""
KEY_VAR: Final = "CALLCTL_SURVEY_KEY"
TRY_VAR: Final = "CALLCTL_SURVEY_TRY"
INBOUND: Final = "inbound"
OUTBOUND: Final = "outbound"
SURVEY_CHANNELS: Final = frozenset({INBOUND, OUTBOUND})
"""How an answer was asked for: after the call (inbound) or on a call placed later."""
OUT_CALLID_VAR: Final = "CALLCTL_SV_CALLID"
OUT_QUEUE_VAR: Final = "CALLCTL_SV_QUEUE"
OUT_SEQ_VAR: Final = "CALLCTL_SV_SEQ"
OUT_AGENT_VAR: Final = "CALLCTL_SV_AGENT"
OUT_DIAL_CONTEXT: Final = "callctl-survey-dial"


def survey_context(line_number: str) -> str:
    return f"callctl-survey-{line_number}"


def outbound_survey_context(line_number: str) -> str:
    return f"callctl-survey-out-{line_number}"


def _is_valid_key(survey: Survey) -> str:
    return " | ".join(f'"${{{KEY_VAR}}}" = "{key}"' for key in survey.keys)


def render_survey(line: Line) -> str:
    """The survey contexts of ``line`` (empty without a survey): after the call, and
    on an outbound survey call.

    ``Read`` takes one digit; silence or an invalid key asks again, up to
    ``attempts`` times; then the call ends with no answer.
    """
    if line.survey is None:
        return ""
    return _render(line, outbound=False) + _render(line, outbound=True)


def _render(line: Line, *, outbound: bool) -> str:
    survey = line.survey
    assert survey is not None
    number = line.number
    if outbound:
        context = outbound_survey_context(number)
        callid, queue = f"${{{OUT_CALLID_VAR}}}", f"${{{OUT_QUEUE_VAR}}}"
        seq, agent = f"${{{OUT_SEQ_VAR}}}", f"${{{OUT_AGENT_VAR}}}"
        event_extra = f",Callid: {callid},Survey: {OUTBOUND}"
        log_extra = f"|{OUTBOUND}"
    else:
        context = survey_context(number)
        callid, queue, seq, agent = (
            "${UNIQUEID}",
            "${CALLCTL_QUEUE}",
            "${CALLCTL_SEQ}",
            ("${MEMBERNAME}"),
        )
        event_extra = log_extra = ""
    return (
        f"\n[{context}]\n"
        f"exten => s,1,Set({TRY_VAR}=0)\n"
        f" same => n(ask),Set({TRY_VAR}=$[${{{TRY_VAR}}} + 1])\n"
        f" same => n,Read({KEY_VAR},{survey.prompt},1,,1,{survey.timeout_s})\n"
        f" same => n,GotoIf($[{_is_valid_key(survey)}]?answered)\n"
        f" same => n,GotoIf($[${{{TRY_VAR}}} >= {survey.attempts}]?done)\n"
        f' same => n,GotoIf($["${{{KEY_VAR}}}" = ""]?ask)\n'
        f" same => n,Playback({survey.invalid_sound})\n"
        " same => n,Goto(ask)\n"
        f" same => n(answered),UserEvent({SURVEY_USER_EVENT},Line: {number},"
        f"Queue: {queue},Seq: {seq},Agent: {agent},"
        f"Key: ${{{KEY_VAR}}}{event_extra})\n"
        f" same => n,QueueLog({queue},{callid},{agent},"
        f"{SURVEY_QUEUE_LOG_EVENT},{seq}|${{{KEY_VAR}}}|{number}{log_extra})\n"
        f" same => n,Playback({survey.thanks_sound})\n"
        " same => n(done),Hangup(16)\n"
    )


DEFAULT_SATISFIED_KEYS: Final = frozenset({1, 2})
"""kpi-definitions.md: 1 满意 and 2 基本满意 count as satisfied unless a line says otherwise."""


def satisfied_keys_for(by_line: Mapping[str, frozenset[int]], line: str | None) -> frozenset[int]:
    """The keys that count as satisfied for figures of ``line`` (``None``: all lines).

    A line's own setting when one line is asked for; for several lines, the setting
    they share, else the default (figures over lines that score differently are
    only exact per line: ask with ``line=``).
    """
    if line is not None and line in by_line:
        return by_line[line]
    settings = set(by_line.values())
    if len(settings) == 1:
        return settings.pop()
    return DEFAULT_SATISFIED_KEYS
