"""Counters are additive: summed rollups equal the KPIs computed on the union."""

from __future__ import annotations

import dataclasses
import itertools
import random
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction

import pytest

from kpi import (
    MAX_THRESHOLD_S,
    AgentTimeCounters,
    EntryRecord,
    KpiCounters,
    KpiParams,
    Outcome,
    agent_utilisation,
    as_percent,
    as_seconds,
    compute_kpis,
    counters_from_entries,
    kpis_from_counters,
    sum_counters,
)
from kpi.inputs import AcwCaps
from kpi.presentation import present_kpis, present_kpis_as_numbers, round_half_up

FIELD_NAMES = tuple(f.name for f in dataclasses.fields(KpiCounters))


def random_entry(rng: random.Random) -> EntryRecord:
    outcome = rng.choice(list(Outcome))
    # Waits past the histogram's last exact bucket must still count right.
    wait_s = rng.choice([rng.randint(0, 20), rng.randint(0, 200)])
    line = rng.choice(LINES)
    if outcome is not Outcome.ANSWERED:
        return EntryRecord(outcome, wait_s, line=line)
    return EntryRecord(
        outcome,
        wait_s,
        talk_s=rng.choice([None, rng.randint(0, 900)]),
        acw_s=rng.choice([None, 0, rng.randint(0, 700)]),
        survey=rng.choice([None, 1, 2, 3, rng.randint(0, 9)]),
        line=line,
    )


LINES = ("12345", "12333", "12320", None)
"""``None``: a call whose line is unknown (the default cap applies)."""


def random_params(rng: random.Random) -> KpiParams:
    caps = {line: rng.choice([0, 6, 60, 180, 300]) for line in LINES[:-1] if rng.random() < 0.8}
    return KpiParams(
        service_level_s=rng.randint(0, MAX_THRESHOLD_S),
        short_abandon_s=rng.randint(0, MAX_THRESHOLD_S),
        acw_caps=AcwCaps.of(caps, rng.choice([0, 60, 180, 300])),
        satisfied_keys=frozenset(rng.sample(range(10), rng.randint(0, 3))),
    )


@pytest.mark.parametrize("seed", range(40))
def test_sum_of_parts_equals_the_union(seed: int) -> None:
    rng = random.Random(seed)
    params = random_params(rng)
    entries = [random_entry(rng) for _ in range(rng.randint(0, 300))]
    # Cut the entries into uneven "15-minute intervals", some of them empty.
    cuts = sorted(rng.randint(0, len(entries)) for _ in range(rng.randint(0, 8)))
    bounds = [0, *cuts, len(entries)]
    parts = [entries[a:b] for a, b in itertools.pairwise(bounds)]

    summed = sum_counters(counters_from_entries(part, params) for part in parts)

    assert summed == counters_from_entries(entries, params)
    assert kpis_from_counters(summed, params) == compute_kpis(entries, params)


@pytest.mark.parametrize("seed", range(30))
def test_replacing_a_part_equals_building_the_counters_again(seed: int) -> None:
    rng = random.Random(500 + seed)
    params = random_params(rng)
    kept = [random_entry(rng) for _ in range(rng.randint(0, 100))]
    old = [random_entry(rng) for _ in range(rng.randint(0, 3))]
    new = [random_entry(rng) for _ in range(rng.randint(0, 3))]
    total = counters_from_entries(kept + old, params)

    part, replacement = counters_from_entries(old, params), counters_from_entries(new, params)

    replaced = total.replaced(part, replacement)

    rebuilt = counters_from_entries(kept + new, params)
    assert replaced == rebuilt
    # Built without the constructor, yet a checked copy of it is equal (hence valid).
    assert KpiCounters(**{name: getattr(replaced, name) for name in FIELD_NAMES}) == rebuilt
    assert kpis_from_counters(replaced, params) == kpis_from_counters(rebuilt, params)


def test_replacing_a_part_that_is_not_there_is_refused() -> None:
    params = KpiParams()
    one = counters_from_entries([EntryRecord(Outcome.ANSWERED, 3, talk_s=5)], params)
    other = counters_from_entries([EntryRecord(Outcome.ABANDONED, 7)], params)
    with pytest.raises(ValueError, match="abandoned must not be negative"):
        one.replaced(other, KpiCounters())
    # A histogram bucket alone going negative is refused too.
    slower = counters_from_entries([EntryRecord(Outcome.ANSWERED, 9, talk_s=5)], params)
    with pytest.raises(ValueError, match="answered_wait_hist must not be negative"):
        one.replaced(slower, KpiCounters())


@pytest.mark.parametrize("seed", range(20))
def test_thresholds_read_from_counters_match_a_direct_count(seed: int) -> None:
    rng = random.Random(1000 + seed)
    params = random_params(rng)
    entries = [random_entry(rng) for _ in range(200)]

    kpis = kpis_from_counters(counters_from_entries(entries, params), params)

    short = [
        e for e in entries if e.outcome is Outcome.ABANDONED and e.wait_s < params.short_abandon_s
    ]
    answered = [e for e in entries if e.outcome is Outcome.ANSWERED]
    in_sl = [e for e in answered if e.wait_s <= params.service_level_s]
    assert kpis.offered == len(entries) - len(short)
    assert kpis.answered_in_sl == len(in_sl)
    if answered:
        assert kpis.asa_s == Fraction(sum(e.wait_s for e in answered), len(answered))
    with_acw = [e for e in answered if e.acw_s is not None]
    if with_acw:
        capped = sum(min(e.acw_s or 0, params.acw_caps.cap_for(e.line)) for e in with_acw)
        assert kpis.avg_acw_s == Fraction(capped, len(with_acw))


def test_counters_addition_is_associative_and_has_a_zero() -> None:
    rng = random.Random(7)
    params = KpiParams()
    a, b, c = (counters_from_entries([random_entry(rng) for _ in range(50)], params) for _ in "abc")

    assert (a + b) + c == a + (b + c)
    assert a + KpiCounters() == a
    assert sum_counters([]) == KpiCounters()


@pytest.mark.parametrize("seed", range(30))
def test_figures_as_numbers_are_the_shown_decimals_as_floats(seed: int) -> None:
    rng = random.Random(700 + seed)
    params = random_params(rng)
    entries = [random_entry(rng) for _ in range(rng.randint(0, 60))]
    kpis = compute_kpis(entries, params)

    numbers = present_kpis_as_numbers(kpis)

    shown = present_kpis(kpis)
    assert numbers.keys() == shown.keys()
    for name, value in shown.items():
        expected = float(value) if isinstance(value, Decimal) else value
        assert numbers[name] == expected and type(numbers[name]) is type(expected), name


def test_figures_as_numbers_round_halves_up() -> None:
    # 1 of 8 answered: 12.5 %; waits 1 and 2 s: a mean of 1.5 s; 1/800: 0.125 %.
    kpis = compute_kpis(
        [EntryRecord(Outcome.ANSWERED, 1), EntryRecord(Outcome.ANSWERED, 2)]
        + [EntryRecord(Outcome.TIMEOUT, 30)] * 14
    )
    numbers = present_kpis_as_numbers(kpis)
    assert numbers["answer_rate"] == 12.5 and numbers["asa_s"] == 1.5
    assert round_half_up(Fraction(1, 800) * 100) == Decimal("0.13")
    assert as_percent(Fraction(1, 800)) == Decimal("0.13")


def test_empty_window_gives_no_ratio_and_no_mean() -> None:
    kpis = compute_kpis([])

    assert kpis.offered == 0
    for name in (
        "answer_rate",
        "service_level",
        "abandon_rate",
        "asa_s",
        "avg_talk_s",
        "avg_acw_s",
        "avg_handle_s",
        "satisfaction",
        "survey_take_up",
    ):
        assert getattr(kpis, name) is None, name
    assert as_percent(kpis.answer_rate) is None
    assert as_seconds(kpis.asa_s) is None


def test_only_abandons_give_rates_but_no_answer_means() -> None:
    kpis = compute_kpis([EntryRecord(Outcome.ABANDONED, 4), EntryRecord(Outcome.TIMEOUT, 90)])

    assert kpis.answer_rate == 0
    assert kpis.abandon_rate == Fraction(1, 2)
    assert kpis.asa_s is None
    assert kpis.survey_take_up is None
    assert kpis.satisfaction is None


def test_every_entry_a_short_abandon_leaves_nothing_offered() -> None:
    kpis = compute_kpis([EntryRecord(Outcome.ABANDONED, 1)], KpiParams(short_abandon_s=5))

    assert kpis.offered == 0
    assert kpis.answer_rate is None
    assert kpis.abandon_rate is None


def test_answered_entries_without_survey_answers_give_no_satisfaction() -> None:
    kpis = compute_kpis([EntryRecord(Outcome.ANSWERED, 3, 60, 0, None)])

    assert kpis.survey_take_up == 0
    assert kpis.satisfaction is None


def test_unknown_talk_and_acw_stay_out_of_their_means() -> None:
    entries = [
        EntryRecord(Outcome.ANSWERED, 3, talk_s=None, acw_s=None),  # still talking
        EntryRecord(Outcome.ANSWERED, 5, talk_s=100, acw_s=None),  # ACW in progress
        EntryRecord(Outcome.ANSWERED, 7, talk_s=50, acw_s=10),
    ]

    kpis = compute_kpis(entries)

    assert kpis.asa_s == 5
    assert kpis.avg_talk_s == 75
    assert kpis.avg_acw_s == 10
    assert kpis.avg_handle_s == 60


def test_transfer_and_other_exits_are_offered_but_not_answered() -> None:
    entries = [EntryRecord(outcome, 10) for outcome in Outcome if outcome is not Outcome.ANSWERED]

    kpis = compute_kpis(entries)

    assert kpis.offered == 6  # abandoned, timeout, empty, key, transfer, lost
    assert kpis.answered == 0
    assert kpis.abandoned == 1


@pytest.mark.parametrize(
    "bad",
    [
        lambda: EntryRecord(Outcome.ANSWERED, -1),
        lambda: EntryRecord(Outcome.ABANDONED, 3, talk_s=10),
        lambda: EntryRecord(Outcome.TIMEOUT, 3, survey=1),
        lambda: EntryRecord(Outcome.ANSWERED, 3, survey=12),
        lambda: KpiParams(service_level_s=61),
        lambda: KpiParams(short_abandon_s=-1),
        lambda: KpiParams(satisfied_keys=frozenset({10})),
        lambda: KpiCounters(answered=1),  # histogram does not add up
        lambda: KpiCounters(answered_wait_hist=(0, 1)),
    ],
)
def test_invalid_inputs_are_refused(bad: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        bad()


def test_thresholds_beyond_the_histogram_are_refused() -> None:
    with pytest.raises(ValueError):
        KpiCounters().answered_within(MAX_THRESHOLD_S + 1)


def test_agent_utilisation() -> None:
    morning = AgentTimeCounters(logged_in_s=3600, talking_s=1800, acw_s=540)
    afternoon = AgentTimeCounters(logged_in_s=3600, talking_s=1900, acw_s=700)

    assert agent_utilisation(morning) == Fraction(2340, 3600)
    assert as_percent(agent_utilisation(morning + afternoon)) == Decimal("68.61")
    assert agent_utilisation(AgentTimeCounters()) is None
