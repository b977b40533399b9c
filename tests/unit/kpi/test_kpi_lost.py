"""A crash must not raise the answer rate: entries lost in an Asterisk restart are offered.

The lab's Asterisk was SIGKILLed with 8 callers waiting among 40: 31 answered,
1 abandoned, 8 never reached a human. Without ``lost`` the 8 had no outcome and
fell out of ``offered`` (31/32 = 96.88%); the contract's figure is 31/40.
"""

from __future__ import annotations

from decimal import Decimal

from callctl.facts.from_queue_log import fold_queue_log
from callctl.facts.models import QueueEntryFact
from callctl.facts.to_kpi import entry_records
from kpi.definitions import compute_kpis
from kpi.outcome import Outcome
from kpi.presentation import present_kpis


def _crash_run() -> list[str]:
    lines = []
    t = 1_800_000_000
    for i in range(31):
        callid = f"{t}.{i}"
        lines += [
            f"{t + i}|{callid}|hotline|NONE|ENTERQUEUE||1380000{i:04d}|1\n",
            f"{t + i + 2}|{callid}|hotline|10{i % 20 + 1:02d}|CONNECT|2|{callid}9|1\n",
            f"{t + i + 9}|{callid}|hotline|10{i % 20 + 1:02d}|COMPLETECALLER|2|7|1\n",
        ]
    lines += [
        f"{t + 40}|{t}.40|hotline|NONE|ENTERQUEUE||13900000000|1\n",
        f"{t + 44}|{t}.40|hotline|NONE|ABANDON|1|1|4\n",
    ]
    for i in range(8):
        lines.append(f"{t + 45 + i}|{t}.5{i}|hotline|NONE|ENTERQUEUE||1370000000{i}|{i + 1}\n")
    lines.append(f"{t + 60}|NONE|NONE|NONE|QUEUESTART|\n")
    return lines


def test_lost_entries_are_offered_and_lower_the_answer_rate() -> None:
    result = fold_queue_log(_crash_run(), "ast1")
    entries = [f for f in result.facts if isinstance(f, QueueEntryFact)]
    assert sum(1 for e in entries if e.outcome is Outcome.LOST) == 8

    kpis = compute_kpis(entry_records(entries))
    shown = present_kpis(kpis)

    assert (kpis.offered, kpis.answered, kpis.abandoned, kpis.lost) == (40, 31, 1, 8)
    assert shown["answer_rate"] == Decimal("77.50")
    assert shown["abandon_rate"] == Decimal("2.50")
    assert shown["service_level"] == Decimal("77.50")


def test_without_the_restart_line_the_waiting_callers_are_not_offered_yet() -> None:
    # The same run before QUEUESTART: 8 callers still waiting are not counted at all.
    result = fold_queue_log(_crash_run()[:-1], "ast1")
    entries = [f for f in result.facts if isinstance(f, QueueEntryFact)]

    kpis = compute_kpis(entry_records(entries))

    assert (kpis.offered, kpis.answered, kpis.lost) == (32, 31, 0)
    assert present_kpis(kpis)["answer_rate"] == Decimal("96.88")
