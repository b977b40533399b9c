"""QA sampling rules and scorecards (pure)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from recording.qa import (
    Candidate,
    Item,
    QaError,
    RuleKind,
    SamplingRule,
    Scorecard,
    check_rule,
    check_scorecard,
    draw,
    picks,
    score,
)


def _call(key: str = "lab/1", **kw: object) -> Candidate:
    base: dict[str, object] = {
        "recording_key": key,
        "line": "12345",
        "agent": "1001",
        "duration_s": 120.0,
        "survey_answer": None,
    }
    base.update(kw)
    return Candidate(**base)  # type: ignore[arg-type]


def test_every_dissatisfied_answer_is_sampled_whatever_the_share() -> None:
    rule = SamplingRule(1, RuleKind.DISSATISFIED, share=0.01)
    assert all(picks(rule, _call(f"lab/{i}", survey_answer=3)) for i in range(200))
    assert not picks(rule, _call(survey_answer=1))
    assert not picks(rule, _call(survey_answer=None))


def test_a_random_share_is_about_the_share_and_stable() -> None:
    rule = SamplingRule(7, RuleKind.RANDOM, share=0.1)
    chosen = [i for i in range(5000) if picks(rule, _call(f"lab/{i}"))]
    assert 400 < len(chosen) < 600
    assert chosen == [i for i in range(5000) if picks(rule, _call(f"lab/{i}"))]
    assert draw(7, "lab/1") != draw(8, "lab/1")


def test_agent_line_long_and_short_rules() -> None:
    assert picks(SamplingRule(1, RuleKind.AGENT, agent="1001"), _call())
    assert not picks(SamplingRule(1, RuleKind.AGENT, agent="1002"), _call())
    assert not picks(SamplingRule(1, RuleKind.RANDOM, line="12333"), _call())
    assert picks(SamplingRule(1, RuleKind.LONG, threshold_s=100), _call())
    assert not picks(SamplingRule(1, RuleKind.LONG, threshold_s=300), _call())
    assert picks(SamplingRule(1, RuleKind.SHORT, threshold_s=300), _call())
    assert not picks(SamplingRule(1, RuleKind.SHORT, threshold_s=30), _call())


def test_rules_missing_what_they_need_are_refused() -> None:
    with pytest.raises(QaError) as err:
        check_rule(SamplingRule(1, RuleKind.AGENT))
    assert err.value.field == "agent"
    with pytest.raises(QaError):
        check_rule(SamplingRule(1, RuleKind.LONG))


CARD = Scorecard(
    (
        Item("greeting", "开场白", 20),
        Item("accuracy", "答复准确", 50),
        Item("courtesy", "服务态度", 30, fatal=True),
    ),
    pass_mark=80,
)


def test_scores_fatal_errors_and_pass_mark() -> None:
    check_scorecard(CARD)
    full = score(CARD, {"greeting": 20, "accuracy": 50, "courtesy": 30}, frozenset())
    assert (full.score, full.fatal, full.error) == (100.0, False, False)
    low = score(CARD, {"greeting": 10, "accuracy": 40, "courtesy": 25}, frozenset())
    assert (low.score, low.error) == (75.0, True)
    fatal = score(CARD, {"greeting": 20, "accuracy": 50, "courtesy": 30}, frozenset({"courtesy"}))
    assert (fatal.score, fatal.fatal, fatal.error) == (0.0, True, True)


def test_bad_marks_and_cards_are_refused() -> None:
    with pytest.raises(QaError, match="missing"):
        score(CARD, {"greeting": 20}, frozenset())
    with pytest.raises(QaError, match=r"not in 0\.\.20"):
        score(CARD, {"greeting": 21, "accuracy": 50, "courtesy": 30}, frozenset())
    with pytest.raises(QaError, match="not a fatal item"):
        score(CARD, {"greeting": 20, "accuracy": 50, "courtesy": 30}, frozenset({"greeting"}))
    with pytest.raises(QaError):
        check_scorecard(Scorecard((Item("a", "a", 50),)))


def test_a_rule_without_keys_takes_the_lines_dissatisfied_keys() -> None:
    from recording.survey_keys import dissatisfied_of, keys_for_line

    by_line = {
        "12345": dissatisfied_of([1, 2, 3, 4], [1, 2]),
        "12399": dissatisfied_of([1, 2], [1]),
    }
    assert by_line == {"12345": frozenset({3, 4}), "12399": frozenset({2})}
    assert keys_for_line(by_line, "12300") == frozenset({3})  # no survey: 3
    assert keys_for_line(by_line, None) == frozenset({3})
    line_rule = SamplingRule(1, RuleKind.DISSATISFIED)
    own_rule = SamplingRule(2, RuleKind.DISSATISFIED, dissatisfied_keys=(1,))
    on_12399 = _call(line="12399", dissatisfied_keys=keys_for_line(by_line, "12399"))
    assert picks(line_rule, _call(survey_answer=4, dissatisfied_keys=by_line["12345"]))
    assert picks(line_rule, replace(on_12399, survey_answer=2))
    assert not picks(line_rule, replace(on_12399, survey_answer=3))
    assert picks(own_rule, replace(on_12399, survey_answer=1))
    assert not picks(own_rule, replace(on_12399, survey_answer=2))
