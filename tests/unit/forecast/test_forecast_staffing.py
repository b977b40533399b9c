"""Agents needed per interval: the published example, minimality, shrinkage, bad input."""

from __future__ import annotations

import pytest

from forecast.repository import MAX_PATIENCE_S, Handling
from forecast.staffing import (
    Demand,
    Model,
    StaffingInputError,
    StaffingTarget,
    agents_needed,
    figures_for,
    meets,
)


def test_callcentrehelper_example_needs_14_agents_and_20_scheduled() -> None:
    """callcentrehelper.com's example: 100 calls / 30 min, AHT 180 s, 80/20, 30% shrinkage."""
    target = StaffingTarget(service_level=0.80, threshold_s=20, shrinkage=0.30)
    staffing = agents_needed(Demand(calls=100, interval_s=1800, handle_s=180), target)
    assert staffing.model is Model.ERLANG_C
    assert staffing.agents == 14
    assert staffing.scheduled == 20


@pytest.mark.parametrize("calls", [1, 7, 60, 240, 900, 1500])
@pytest.mark.parametrize("patience", [None, 45.0, 300.0])
def test_agents_needed_is_the_fewest_that_meet_the_target(
    calls: int, patience: float | None
) -> None:
    target = StaffingTarget(service_level=0.90, threshold_s=15, answer_rate=0.95)
    demand = Demand(calls=calls, interval_s=900, handle_s=200, patience_s=patience)
    staffing = agents_needed(demand, target)
    assert staffing.figures is not None and meets(staffing.figures, target)
    if staffing.agents > 1:
        assert not meets(figures_for(demand, target, staffing.agents - 1), target)


def test_abandonment_needs_fewer_agents_than_erlang_c() -> None:
    target = StaffingTarget(service_level=0.90, threshold_s=15)
    c = agents_needed(Demand(calls=600, interval_s=900, handle_s=180), target)
    a = agents_needed(Demand(calls=600, interval_s=900, handle_s=180, patience_s=60), target)
    assert a.model is Model.ERLANG_A and a.agents <= c.agents


def test_very_patient_callers_on_a_busy_line_are_staffed() -> None:
    """A patience of 5e6 s (many answered waits, one abandon) once made the search start
    at one agent, where the queue of 200 Erlangs was too long to sum: a ValueError, and
    seconds per interval below that. The search starts at the target's share of the load."""
    target = StaffingTarget(service_level=0.9, threshold_s=15)
    demand = Demand(calls=900, interval_s=900, handle_s=200, patience_s=5e6)
    staffing = agents_needed(demand, target)
    assert staffing.figures is not None and meets(staffing.figures, target)
    assert not meets(figures_for(demand, target, staffing.agents - 1), target)
    assert staffing.agents == agents_needed(Demand(900, 900, 200), target).agents


def test_answer_rate_target_alone_with_erlang_a() -> None:
    target = StaffingTarget(service_level=None, answer_rate=0.95)
    demand = Demand(calls=300, interval_s=900, handle_s=150, patience_s=40)
    staffing = agents_needed(demand, target)
    assert staffing.figures is not None and staffing.figures.answer_rate >= 0.95
    assert figures_for(demand, target, staffing.agents - 1).answer_rate < 0.95


def test_no_calls_needs_no_agents() -> None:
    staffing = agents_needed(Demand(calls=0, interval_s=900, handle_s=180), StaffingTarget())
    assert (staffing.agents, staffing.scheduled, staffing.figures) == (0, 0, None)


def test_shrinkage_rounds_up() -> None:
    target = StaffingTarget(service_level=0.8, threshold_s=20, shrinkage=0.35)
    staffing = agents_needed(Demand(calls=100, interval_s=1800, handle_s=180), target)
    assert staffing.scheduled == 22  # 14 / 0.65 = 21.5


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"service_level_pct": 101.0}, "service_level"),
        ({"service_level_pct": 100.0}, "service_level"),
        ({"service_level_pct": 0.0}, "service_level"),
        ({"answer_rate_pct": 120.0}, "answer_rate"),
        ({"shrinkage_pct": -5.0}, "shrinkage"),
        ({"shrinkage_pct": 100.0}, "shrinkage"),
        ({"threshold_s": -1.0}, "threshold_s"),
        ({"service_level_pct": None, "answer_rate_pct": None}, "target"),
    ],
)
def test_bad_targets_are_refused_naming_the_field(
    kwargs: dict[str, float | None], field: str
) -> None:
    args: dict[str, float | None] = {
        "service_level_pct": 90.0,
        "threshold_s": 15.0,
        "answer_rate_pct": None,
        "shrinkage_pct": 30.0,
    }
    args.update(kwargs)
    with pytest.raises(StaffingInputError) as caught:
        StaffingTarget.from_percent(
            service_level_pct=args["service_level_pct"],
            threshold_s=float(args["threshold_s"] or 0),
            answer_rate_pct=args["answer_rate_pct"],
            shrinkage_pct=float(args["shrinkage_pct"] or 0),
        )
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"calls": -1}, "calls"), ({"handle_s": 0}, "handle_s"), ({"patience_s": -3}, "patience_s")],
)
def test_bad_demand_is_refused(kwargs: dict[str, float], field: str) -> None:
    args: dict[str, float] = {"calls": 10, "interval_s": 900, "handle_s": 180}
    args.update(kwargs)
    with pytest.raises(StaffingInputError) as caught:
        Demand(**args)
    assert caught.value.field == field


def test_observed_patience_is_capped_at_a_day_so_staffing_always_has_an_answer() -> None:
    """One abandon after four weeks of long answered waits: an estimate of 3e7 s, where
    Erlang A's sums no longer converge in floating point. The estimate is capped at a
    day, and the busy line is staffed as with Erlang C."""
    handling = Handling(
        n_handle=0, sum_handle_s=0, n_talk=0, sum_talk_s=0, abandoned=1,
        sum_wait_answered_s=30_000_000, sum_wait_abandoned_s=40,
    )  # fmt: skip
    assert handling.patience_s() == MAX_PATIENCE_S
    target = StaffingTarget(service_level=0.9, threshold_s=15)
    demand = Demand(calls=900, interval_s=900, handle_s=200, patience_s=handling.patience_s())
    assert (
        agents_needed(demand, target).agents == agents_needed(Demand(900, 900, 200), target).agents
    )
    few = Handling(0, 0, 0, 0, abandoned=4, sum_wait_answered_s=100, sum_wait_abandoned_s=20)
    assert few.patience_s() == 30.0
