"""The outbound survey (回访测评): its dialplan, its answers (tied to the surveyed entry,
marked outbound) and the checks before its Originate."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ami import actions
from ami.errors import UnsafeValueError
from ami.events import parse_event
from ami.frames import Frame
from callctl.callbacks.calendar import HAIKOU_PRESET, CallbackCalendar
from callctl.facts.from_queue_log import QueueLogFolder
from callctl.facts.models import SurveyAnswerFact
from callctl.facts.queue_log import parse_line
from callctl.facts.survey import answer_from_queue_log, answer_from_user_event
from callctl.ingest.fact_codec import decode_fact_record, encode_fact_record
from callctl.ingest.normalizer import AmiNormalizer
from callctl.surveys.outbound import SurveyedEntry, forbidden_until, survey_variables
from ivr.survey import render_survey
from routing.model import Line, Survey

NODE = "ast1"
T0 = 1_795_400_000
SURVEYED = f"{T0}.7"
OUT_FIELDS = {
    "Queue": "hotline",
    "Seq": "1",
    "Agent": "1001",
    "Key": "2",
    "Line": "12346",
    "Callid": SURVEYED,
    "Survey": "outbound",
}


def test_outbound_context_plays_the_same_survey_and_reports_for_the_surveyed_call() -> None:
    text = render_survey(Line("12346", "测评线", "hotline", survey=Survey(keys=(1, 2, 3))))
    inbound, outbound = text.split("\n[callctl-survey-out-12346]\n")
    assert inbound.startswith("\n[callctl-survey-12346]\n")
    # Same prompt, keys and retries as the inbound survey.
    assert " same => n,Read(CALLCTL_SURVEY_KEY,beep,1,,1,6)\n" in outbound
    assert '"${CALLCTL_SURVEY_KEY}" = "3"]?answered' in outbound
    assert (
        "UserEvent(CallctlSurvey,Line: 12346,Queue: ${CALLCTL_SV_QUEUE},Seq: ${CALLCTL_SV_SEQ},"
        "Agent: ${CALLCTL_SV_AGENT},Key: ${CALLCTL_SURVEY_KEY},Callid: ${CALLCTL_SV_CALLID},"
        "Survey: outbound)" in outbound
    )
    assert (
        "QueueLog(${CALLCTL_SV_QUEUE},${CALLCTL_SV_CALLID},${CALLCTL_SV_AGENT},CALLCTL_SURVEY,"
        "${CALLCTL_SV_SEQ}|${CALLCTL_SURVEY_KEY}|12346|outbound)" in outbound
    )
    assert "${UNIQUEID}" not in outbound and "MEMBERNAME" not in outbound


def test_ami_and_queue_log_give_the_same_outbound_answer_for_the_surveyed_call() -> None:
    # The UserEvent comes from the survey call's own channel: its Uniqueid is not the call's.
    from_ami = answer_from_user_event(NODE, "callctl-sv-abc", OUT_FIELDS, T0 + 900)
    from_log = answer_from_queue_log(
        NODE, SURVEYED, "hotline", "1001", ("1", "2", "12346", "outbound"), T0 + 900
    )
    expected = SurveyAnswerFact(
        NODE, SURVEYED, "hotline", 1, 2, T0 + 900, agent="1001", channel="outbound"
    )
    assert from_ami == from_log == expected
    inbound = answer_from_queue_log(NODE, SURVEYED, "hotline", "1001", ("1", "2", "12346"), T0)
    assert inbound is not None and inbound.channel == "inbound"


@pytest.mark.parametrize(
    "change",
    [
        {"Callid": ""},
        {"Callid": "1.2,Key: 1"},
        {"Callid": "1.2\r\nEvent: x"},
        {"Survey": "sideways"},
    ],
)
def test_a_bad_outbound_report_is_no_answer(change: dict[str, str]) -> None:
    assert answer_from_user_event(NODE, "callctl-sv-abc", {**OUT_FIELDS, **change}, T0) is None


def test_outbound_report_without_callid_is_no_answer() -> None:
    fields = {k: v for k, v in OUT_FIELDS.items() if k != "Callid"}
    assert answer_from_user_event(NODE, "callctl-sv-abc", fields, T0) is None


def test_normalizer_and_folder_take_the_outbound_answer() -> None:
    pairs = {
        "Event": "UserEvent",
        "Privilege": "user,all",
        "Timestamp": f"{T0 + 5}.2",
        "Channel": "Local/13800000001@callctl-survey-dial-00000001;1",
        "Uniqueid": "callctl-sv-abc",
        "Linkedid": "callctl-sv-abc",
        "UserEvent": "CallctlSurvey",
        **OUT_FIELDS,
    }
    normalizer = AmiNormalizer(NODE)
    facts = normalizer.feed(parse_event(Frame.from_pairs(pairs.items()), NODE, T0 + 5.2))
    answers = [f for f in facts if isinstance(f, SurveyAnswerFact)]
    assert answers == [
        SurveyAnswerFact(NODE, SURVEYED, "hotline", 1, 2, T0 + 5, agent="1001", channel="outbound")
    ]
    folder = QueueLogFolder(NODE)
    line = f"{T0 + 5}|{SURVEYED}|hotline|1001|CALLCTL_SURVEY|1|2|12346|outbound\n"
    assert folder.feed(parse_line(line, 1)) == answers  # type: ignore[arg-type]
    odd = f"{T0 + 6}|{SURVEYED}|hotline|1001|CALLCTL_SURVEY|1|2|12346|sideways\n"
    assert folder.feed(parse_line(odd, 2)) == []  # type: ignore[arg-type]


def test_outbound_answer_survives_the_spool_codec() -> None:
    answer = SurveyAnswerFact(NODE, SURVEYED, "hotline", 1, 3, T0, channel="outbound")
    assert decode_fact_record(encode_fact_record(answer, "ami")) == (answer, "ami")


def test_survey_variables_carry_the_entry_and_the_callback_trunk() -> None:
    entry = SurveyedEntry("hotline", 2, "1001", "12346", "13800000001")
    assert survey_variables(SURVEYED, entry, "trunk", "127.0.0.7:5060", 30) == {
        "CALLCTL_SV_CALLID": SURVEYED,
        "CALLCTL_SV_QUEUE": "hotline",
        "CALLCTL_SV_SEQ": "2",
        "CALLCTL_SV_AGENT": "1001",
        "CALLCTL_TRUNK": "trunk",
        "CALLCTL_RING_S": "30",
        "CALLCTL_TRUNK_HOST": "127.0.0.7:5060",
    }
    # An agent-less entry still gives a variable (the dialplan's QueueLog needs it).
    agentless = SurveyedEntry("hotline", 1, None, "12346", None)
    plain = survey_variables(SURVEYED, agentless, "t", None, 9)
    assert plain["CALLCTL_SV_AGENT"] == "" and "CALLCTL_TRUNK_HOST" not in plain


@pytest.mark.parametrize(
    ("callid", "entry", "field"),
    [
        ("1.2,x", SurveyedEntry("hotline", 1, "1001", "1", None), "callid"),
        ("1.2\n", SurveyedEntry("hotline", 1, "1001", "1", None), "callid"),
        (SURVEYED, SurveyedEntry("hot|line", 1, "1001", "1", None), "queue"),
        (SURVEYED, SurveyedEntry("hotline", 1, "10,01", "1", None), "agent"),
    ],
)
def test_survey_variables_refuse_unsafe_values(
    callid: str, entry: SurveyedEntry, field: str
) -> None:
    with pytest.raises(UnsafeValueError) as refused:
        survey_variables(callid, entry, "trunk", None, 30)
    assert field in str(refused.value)


def test_survey_originate_is_a_local_channel_into_the_lines_context() -> None:
    entry = SurveyedEntry("hotline", 1, "1001", "12346", "13800000001")
    action = actions.originate_to_extension(
        "Local/13800000001@callctl-survey-dial",
        "callctl-survey-out-12346",
        "s",
        channel_id="callctl-sv-0123456789ab",
        variables=survey_variables(SURVEYED, entry, "trunk", None, 30),
    )
    headers = dict(action.headers)
    assert headers["Channel"] == "Local/13800000001@callctl-survey-dial"
    assert headers["Context"] == "callctl-survey-out-12346"


def test_forbidden_hours_refuse_until_the_window_ends() -> None:
    # 12:10 in Haikou (UTC+8) is inside 12:00-14:30.
    noon = datetime(2026, 12, 3, 4, 10, tzinfo=UTC)
    assert forbidden_until(HAIKOU_PRESET, noon) == datetime(2026, 12, 3, 6, 30, tzinfo=UTC)
    afternoon = datetime(2026, 12, 3, 7, 0, tzinfo=UTC)
    assert forbidden_until(HAIKOU_PRESET, afternoon) is None
    assert forbidden_until(CallbackCalendar(), noon) is None
