"""From queue_log to KPIs: facts feed the arithmetic without loss."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from callctl.facts.from_queue_log import fold_queue_log
from callctl.facts.models import AcwInterval, QueueEntryFact
from callctl.facts.to_kpi import entry_record, entry_records
from kpi import EntryRecord, KpiParams, Outcome, as_percent, as_seconds, compute_kpis

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "queue_log"
NODE = "ast1"


def all_fixture_facts() -> tuple[list[QueueEntryFact], list[AcwInterval]]:
    entries: list[QueueEntryFact] = []
    acws: list[AcwInterval] = []
    for path in sorted(FIXTURES.glob("*.log")):
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        result = fold_queue_log(lines, NODE, agent_names={"PJSIP/1003": "1003"})
        entries += [f for f in result.facts if isinstance(f, QueueEntryFact)]
        acws += [f for f in result.facts if isinstance(f, AcwInterval)]
    return entries, acws


def test_kpis_over_all_fixtures() -> None:
    entries, acws = all_fixture_facts()
    answered = [e for e in entries if e.outcome is Outcome.ANSWERED]
    # A survey key on an unanswered entry is ignored: surveys follow a conversation.
    surveys = {answered[0].key: 1, answered[1].key: 3, entries[0].key: 1}

    records = list(entry_records(entries, acws, surveys))
    kpis = compute_kpis(records, KpiParams())

    # 11 entries: 7 answered (1 + 1 + 3 transfer stays + 1 logoff + 1 malformed
    # file), 1 abandoned, timeout, empty, key.
    assert (kpis.offered, kpis.answered, kpis.abandoned) == (11, 7, 1)
    assert as_percent(kpis.answer_rate) == Decimal("63.64")
    # Waits of answered: 2, 22, 2, 3, 12, 2, 4 -> within 15 s: all but 22.
    assert kpis.answered_in_sl == 6
    assert kpis.asa_s == Fraction(47, 7)
    # ACW: 40 (logoff), 60, 30, 30 tied to calls; the other three calls had none.
    assert kpis.avg_acw_s == Fraction(40 + 60 + 30 + 30, 7)
    assert as_seconds(kpis.avg_acw_s) == Decimal("22.86")
    assert entries[0].outcome is Outcome.ABANDONED
    assert (kpis.survey_answers, kpis.satisfaction) == (2, Fraction(1, 2))


WAITING = QueueEntryFact(node=NODE, callid="1.1", queue="general", seq=1, entered_at=100)


def entry(**changes: Any) -> QueueEntryFact:
    return replace(WAITING, **changes)


def test_waiting_entry_is_not_yet_a_record() -> None:
    assert entry_record(entry()) is None


def test_unanswered_entry() -> None:
    record = entry_record(entry(outcome=Outcome.TIMEOUT, wait_s=30, ended_wait_at=130))

    assert record == EntryRecord(Outcome.TIMEOUT, 30)


def test_acw_of_an_answered_entry() -> None:
    talking = entry(outcome=Outcome.ANSWERED, wait_s=5, agent="1001", ended_wait_at=105)
    done = entry(outcome=Outcome.ANSWERED, wait_s=5, agent="1001", talk_s=60, completed_at=165)
    open_acw = AcwInterval(NODE, "1001", 165, callid="1.1", queue="general", seq=1)
    closed_acw = AcwInterval(NODE, "1001", 165, 200, callid="1.1", queue="general", seq=1)

    assert entry_record(talking) == EntryRecord(Outcome.ANSWERED, 5, None, None)
    assert entry_record(done) == EntryRecord(Outcome.ANSWERED, 5, 60, 0)
    assert entry_record(done, open_acw) == EntryRecord(Outcome.ANSWERED, 5, 60, None)
    assert entry_record(done, closed_acw, 2) == EntryRecord(Outcome.ANSWERED, 5, 60, 35, 2)
