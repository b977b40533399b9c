"""The post-call survey: its config, its dialplan, and its answers from AMI and queue_log."""

from __future__ import annotations

import pytest

from ami.events import AmiEvent, parse_event
from ami.frames import Frame
from callctl.facts.from_queue_log import QueueLogFolder
from callctl.facts.models import Fact, QueueEntryFact, SurveyAnswerFact
from callctl.facts.queue_log import parse_line
from callctl.facts.survey import answer_from_queue_log, answer_from_user_event
from callctl.ingest.fact_codec import decode_fact_record, encode_fact_record
from callctl.ingest.normalizer import AmiNormalizer
from callctl.live.today import TodayKpis
from callctl.live.window import day_window
from ivr.survey import render_survey, satisfied_keys_for
from kpi.inputs import KpiParams
from kpi.outcome import Outcome
from routing.model import ConfigValueError, Line, Survey

NODE = "ast1"
T0 = 1_795_400_000


def survey_event(at: float, **fields: str) -> AmiEvent:
    pairs = {
        "Event": "UserEvent",
        "Privilege": "user,all",
        "Timestamp": f"{at:.6f}",
        "Channel": "PJSIP/trunk-00000001",
        "Uniqueid": f"{T0}.1",
        "Linkedid": f"{T0}.1",
        "UserEvent": "CallctlSurvey",
        **fields,
    }
    return parse_event(Frame.from_pairs(pairs.items()), NODE, at)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"keys": ()}, "line.survey.keys"),
        ({"keys": (1, 1)}, "line.survey.keys"),
        ({"keys": (1, 10)}, "line.survey.keys"),
        ({"satisfied_keys": (4,)}, "line.survey.satisfied_keys"),
        ({"prompt": "beep;Hangup"}, "line.survey.prompt"),
        ({"thanks_sound": "x\nexten"}, "line.survey.thanks_sound"),
        ({"invalid_sound": "a,b"}, "line.survey.invalid_sound"),
        ({"timeout_s": 0}, "line.survey.timeout_s"),
        ({"attempts": 9}, "line.survey.attempts"),
    ],
)
def test_bad_survey_settings_are_refused_naming_the_field(
    kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(ConfigValueError) as refused:
        Survey(**kwargs)  # type: ignore[arg-type]
    assert refused.value.field == field


def test_survey_dialplan_reads_one_digit_with_retries_and_reports_twice() -> None:
    line = Line("12346", "测评线", "hotline", survey=Survey(keys=(1, 2, 3), attempts=2))
    text = render_survey(line)
    assert text.startswith("\n[callctl-survey-12346]\n")
    assert " same => n,Read(CALLCTL_SURVEY_KEY,beep,1,,1,6)\n" in text
    assert (
        '$["${CALLCTL_SURVEY_KEY}" = "1" | "${CALLCTL_SURVEY_KEY}" = "2" | '
        '"${CALLCTL_SURVEY_KEY}" = "3"]?answered' in text
    )
    assert "GotoIf($[${CALLCTL_SURVEY_TRY} >= 2]?done)" in text
    assert "UserEvent(CallctlSurvey,Line: 12346,Queue: ${CALLCTL_QUEUE}" in text
    assert (
        "QueueLog(${CALLCTL_QUEUE},${UNIQUEID},${MEMBERNAME},CALLCTL_SURVEY,"
        "${CALLCTL_SEQ}|${CALLCTL_SURVEY_KEY}|12346)" in text
    )
    assert render_survey(Line("12345", "热线", "hotline")) == ""


def test_ami_and_queue_log_give_the_same_answer() -> None:
    fields = {"Queue": "hotline", "Seq": "2", "Agent": "1001", "Key": "3", "Line": "12346"}
    from_ami = answer_from_user_event(NODE, f"{T0}.1", fields, T0 + 40)
    from_log = answer_from_queue_log(
        NODE, f"{T0}.1", "hotline", "1001", ("2", "3", "12346"), T0 + 40
    )
    expected = SurveyAnswerFact(NODE, f"{T0}.1", "hotline", 2, 3, T0 + 40, agent="1001")
    assert from_ami == from_log == expected


@pytest.mark.parametrize(
    "fields",
    [
        {"Queue": "hotline", "Seq": "1", "Agent": "1001", "Key": ""},  # no key: no answer
        {"Queue": "hotline", "Seq": "1", "Agent": "1001", "Key": "12"},
        {"Queue": "hotline", "Seq": "1", "Agent": "1001", "Key": "*"},
        {"Queue": "hotline", "Seq": "", "Agent": "1001", "Key": "1"},
        {"Queue": "", "Seq": "1", "Agent": "1001", "Key": "1"},
        {"Queue": "hotline", "Seq": "0", "Agent": "1001", "Key": "1"},
    ],
)
def test_an_incomplete_report_is_no_answer(fields: dict[str, str]) -> None:
    assert answer_from_user_event(NODE, f"{T0}.1", fields, T0) is None


def test_normalizer_turns_the_user_event_into_an_answer() -> None:
    normalizer = AmiNormalizer(NODE)
    facts = normalizer.feed(
        survey_event(T0 + 9.7, Queue="hotline", Seq="1", Agent="1001", Key="1", Line="12346")
    )
    assert facts == [SurveyAnswerFact(NODE, f"{T0}.1", "hotline", 1, 1, T0 + 9, agent="1001")]
    bad = normalizer.feed(survey_event(T0 + 10, Queue="hotline", Seq="1", Key="x"))
    assert bad == []
    assert normalizer.stats.malformed_events == 1


def test_queue_log_folder_turns_the_survey_line_into_an_answer() -> None:
    folder = QueueLogFolder(NODE)
    event = parse_line(f"{T0 + 50}|{T0}.1|hotline|1002|CALLCTL_SURVEY|1|2|12346\n", 1)
    assert folder.feed(event) == [  # type: ignore[arg-type]
        SurveyAnswerFact(NODE, f"{T0}.1", "hotline", 1, 2, T0 + 50, agent="1002")
    ]
    broken = parse_line(f"{T0 + 51}|{T0}.2|hotline|1002|CALLCTL_SURVEY|1\n", 2)
    assert folder.feed(broken) == []  # type: ignore[arg-type]
    assert folder.stats.illegal == 1


def test_answer_survives_the_spool_codec() -> None:
    answer = SurveyAnswerFact(NODE, f"{T0}.1", "hotline", 1, 3, T0, agent=None)
    assert decode_fact_record(encode_fact_record(answer, "queue_log")) == (answer, "queue_log")


def test_live_counts_an_answer_with_its_entry_in_either_order() -> None:
    entry = QueueEntryFact(
        NODE, f"{T0}.1", "hotline", 1, T0, outcome=Outcome.ANSWERED, ended_wait_at=T0 + 3,
        wait_s=3, agent="1001", talk_s=30, completed_at=T0 + 33,
    )  # fmt: skip
    answer = SurveyAnswerFact(NODE, f"{T0}.1", "hotline", 1, 3, T0 + 40, agent="1001")
    params = KpiParams(satisfied_keys=frozenset({1, 2}))
    orders: list[list[Fact]] = [[entry, answer], [answer, entry]]
    for facts in orders:
        today = TodayKpis(day_window(T0, "Asia/Shanghai"), params)
        today.apply(facts)
        total = today.total()
        assert total.survey_answers == 1
        assert total.survey_answers_in(params.satisfied_keys) == 0
        assert total.survey_by_key[3] == 1


def test_satisfied_keys_are_the_lines_own() -> None:
    by_line = {"12346": frozenset({1}), "12347": frozenset({1, 2})}
    assert satisfied_keys_for(by_line, "12346") == frozenset({1})
    assert satisfied_keys_for(by_line, None) == frozenset({1, 2})  # they differ: the default
    assert satisfied_keys_for({"12346": frozenset({1})}, None) == frozenset({1})
    assert satisfied_keys_for({}, "12345") == frozenset({1, 2})
