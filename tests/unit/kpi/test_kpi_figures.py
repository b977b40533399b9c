"""Each drill-down predicate admits exactly the entries its figure counts."""

from __future__ import annotations

import random

import pytest

from kpi.definitions import compute_kpis
from kpi.figures import Figure, entry_in_figure
from kpi.inputs import EntryRecord, KpiParams
from kpi.outcome import Outcome


def _numerator(figure: Figure, records: list[EntryRecord], params: KpiParams) -> int:
    kpis = compute_kpis(records, params)
    by_outcome = {o: sum(1 for r in records if r.outcome is o) for o in Outcome}
    return {
        Figure.OFFERED: kpis.offered,
        Figure.ANSWERED: kpis.answered,
        Figure.ANSWERED_WITHIN_SL: kpis.answered_in_sl,
        Figure.ABANDONED: kpis.abandoned,
        Figure.SHORT_ABANDONED: kpis.short_abandoned,
        Figure.TIMEOUT: by_outcome[Outcome.TIMEOUT],
        Figure.NO_AGENTS: by_outcome[Outcome.EMPTY],
        Figure.KEY: by_outcome[Outcome.KEY],
        Figure.TRANSFER: by_outcome[Outcome.TRANSFER],
        Figure.LOST: kpis.lost,
    }[figure]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("figure", list(Figure))
def test_predicate_count_equals_the_figure(seed: int, figure: Figure) -> None:
    rng = random.Random(seed)
    params = KpiParams(service_level_s=rng.choice((15, 20)), short_abandon_s=rng.choice((0, 5)))
    records = [EntryRecord(rng.choice(list(Outcome)), rng.randrange(40)) for _ in range(200)]
    admitted = sum(1 for r in records if entry_in_figure(figure, r, params))
    assert admitted == _numerator(figure, records, params)
