"""The post-call survey's dialplan (pure, deterministic) and the names of its facts.

After ``Queue()`` with option ``c``, a caller whose agent hung up first comes to
``callctl-after-call`` (extensions.conf.in) and, on a line with a survey, to that
line's ``callctl-survey-<number>`` context rendered here. An answer is reported
twice: a ``UserEvent`` (AMI, live) and a ``QueueLog`` line (durable, reconciled),
both carrying the queue entry's key (``UNIQUEID``, queue, seq) and the agent.
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


def survey_context(line_number: str) -> str:
    return f"callctl-survey-{line_number}"


def _is_valid_key(survey: Survey) -> str:
    return " | ".join(f'"${{{KEY_VAR}}}" = "{key}"' for key in survey.keys)


def render_survey(line: Line) -> str:
    """The survey context of ``line`` (empty without a survey).

    ``Read`` takes one digit; silence or an invalid key asks again, up to
    ``attempts`` times; then the call ends with no answer.
    """
    survey = line.survey
    if survey is None:
        return ""
    number = line.number
    return (
        f"\n[{survey_context(number)}]\n"
        f"exten => s,1,Set({TRY_VAR}=0)\n"
        f" same => n(ask),Set({TRY_VAR}=$[${{{TRY_VAR}}} + 1])\n"
        f" same => n,Read({KEY_VAR},{survey.prompt},1,,1,{survey.timeout_s})\n"
        f" same => n,GotoIf($[{_is_valid_key(survey)}]?answered)\n"
        f" same => n,GotoIf($[${{{TRY_VAR}}} >= {survey.attempts}]?done)\n"
        f' same => n,GotoIf($["${{{KEY_VAR}}}" = ""]?ask)\n'
        f" same => n,Playback({survey.invalid_sound})\n"
        " same => n,Goto(ask)\n"
        f" same => n(answered),UserEvent({SURVEY_USER_EVENT},Line: {number},"
        "Queue: ${CALLCTL_QUEUE},Seq: ${CALLCTL_SEQ},Agent: ${MEMBERNAME},"
        f"Key: ${{{KEY_VAR}}})\n"
        " same => n,QueueLog(${CALLCTL_QUEUE},${UNIQUEID},${MEMBERNAME},"
        f"{SURVEY_QUEUE_LOG_EVENT},${{CALLCTL_SEQ}}|${{{KEY_VAR}}}|{number})\n"
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
