"""A line whose contract scores satisfaction (满意率) must have its survey on.

``line.survey_required`` says so (the seed presets xiaoshan, haikou and shenyang all
score satisfaction: ``Scheme.requires_survey``); a config with such a line and
``survey: null`` is refused naming ``line.survey``, in zh-CN and English.
"""

from __future__ import annotations

import pytest

from callctl.lab.sample_model import sample_model
from callctl.routing_config.convert import Deployment, InvalidConfigError, from_model, to_model
from callctl.routing_config.schemas import LineDoc, QueueDoc, RoutingDoc, SurveyDoc
from kpi.assessment.presets import HAIKOU, PRESETS, SHENYANG, SICHUAN, XIAOSHAN
from routing.model import ConfigValueError, Line, Survey

SECRET = "s3cret-generated-0123456789"
QUEUES = [QueueDoc(name="hotline"), QueueDoc(name="expert")]


def deployment() -> Deployment:
    model = sample_model(SECRET)
    return Deployment(model.ami, model.network, model.trunks)


def test_a_line_that_requires_the_survey_is_refused_without_one() -> None:
    with pytest.raises(ConfigValueError) as info:
        Line("12345", "hotline", "hotline", survey_required=True)
    assert info.value.field == "line.survey"
    assert "满意度测评须开启" in info.value.why
    assert "the survey must be on" in info.value.why
    # With its survey on (any keys), or not required: accepted.
    assert Line("12345", "hotline", "hotline", survey=Survey(), survey_required=True).survey
    assert Line("12345", "hotline", "hotline").survey is None


def test_the_routing_document_names_the_line_and_its_field() -> None:
    doc = RoutingDoc(
        queues=QUEUES,
        lines=[
            LineDoc(number="12345", name="hotline", queue="hotline", survey=SurveyDoc()),
            LineDoc(number="12333", name="expert", queue="expert", survey_required=True),
        ],
    )
    with pytest.raises(InvalidConfigError) as info:
        to_model(doc, deployment())
    error = info.value
    assert (error.where, error.field, error.error_id) == (
        "lines[12333]",
        "line.survey",
        "config.invalid_value",
    )
    assert "survey_required" in str(error)

    # Switching the survey off a line that requires it is refused the same way.
    doc.lines[1].survey = SurveyDoc(satisfied_keys=[1])
    model = to_model(doc, deployment())
    assert [ln.survey_required for ln in model.lines] == [False, True]
    doc.lines[1].survey = None
    with pytest.raises(InvalidConfigError, match=r"lines\[12333\]: line.survey"):
        to_model(doc, deployment())


def test_survey_required_survives_the_document_round_trip() -> None:
    doc = RoutingDoc(
        queues=QUEUES,
        lines=[
            LineDoc(
                number="12345", name="hotline", queue="hotline",
                survey=SurveyDoc(), survey_required=True,
            )
        ]
    )  # fmt: skip
    again = from_model(to_model(doc, deployment()))
    assert again.lines[0].survey_required is True
    assert again.lines[0].survey == doc.lines[0].survey
    # Left out of a stored document (older versions): not required.
    old = RoutingDoc.model_validate({"lines": [{"number": "1", "name": "x", "queue": "q"}]})
    assert old.lines[0].survey_required is False


def test_the_seed_presets_that_score_satisfaction_require_the_survey() -> None:
    assert XIAOSHAN.requires_survey and HAIKOU.requires_survey and SHENYANG.requires_survey
    assert not SICHUAN.requires_survey  # scores no call satisfaction
    assert {name for name, scheme in PRESETS.items() if scheme.requires_survey} == {
        "xiaoshan",
        "haikou",
        "shenyang",
    }
