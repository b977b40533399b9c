"""The service line travels with each queue entry, from AMI and from queue_log alike."""

from __future__ import annotations

from dataclasses import replace

from ami.events import AmiEvent, parse_event
from ami.frames import Frame
from callctl.facts.entry_transitions import line_of
from callctl.facts.from_queue_log import fold_queue_log
from callctl.facts.models import QueueEntryFact
from callctl.ingest.normalizer import AmiNormalizer
from callctl.live.today import TodayKpis
from callctl.live.window import day_window
from kpi.inputs import KpiParams
from kpi.outcome import Outcome

NODE = "lab"
T0 = 1_795_400_000
CALLID = f"{T0}.7"


def join(**extra: str) -> AmiEvent:
    pairs = {
        "Event": "QueueCallerJoin",
        "Privilege": "agent,all",
        "Timestamp": f"{T0}.250000",
        "Channel": "PJSIP/trunk-00000007",
        "CallerIDNum": "13812345678",
        "Uniqueid": CALLID,
        "Linkedid": CALLID,
        "Queue": "hotline",
        "Position": "1",
        "Count": "1",
        **extra,
    }
    return parse_event(Frame.from_pairs(pairs.items()), NODE, float(T0))


def ami_entry(event: AmiEvent) -> QueueEntryFact:
    facts = AmiNormalizer(NODE).feed(event)
    (entry,) = [f for f in facts if isinstance(f, QueueEntryFact)]
    return entry


def test_line_from_the_channel_variable_on_ami_events() -> None:
    assert ami_entry(join(ChanVariable="CALLCTL_LINE=12345")).line == "12345"


def test_no_or_other_channel_variable_gives_no_line() -> None:
    assert ami_entry(join()).line is None
    assert ami_entry(join(ChanVariable="OTHER=12345")).line is None
    assert ami_entry(join(ChanVariable="CALLCTL_LINE=")).line is None


def test_line_from_enterqueue_url_in_queue_log_equals_amis() -> None:
    lines = [f"{T0}|{CALLID}|hotline|NONE|ENTERQUEUE|12345|13812345678|1"]
    entries = [f for f in fold_queue_log(lines, NODE).facts if isinstance(f, QueueEntryFact)]
    assert [e.line for e in entries] == ["12345"]
    assert entries[0] == ami_entry(join(ChanVariable="CALLCTL_LINE=12345"))


def test_a_value_that_is_not_a_line_id_is_never_stored() -> None:
    for bad in ("", "1234 5", "12345;drop", "x" * 33, "12345\n", "热线"):
        assert line_of(bad) is None, bad
    assert line_of("12333") == "12333"


def test_live_today_sums_lines_by_the_entrys_own_line() -> None:
    today = TodayKpis(day_window(T0, "Asia/Shanghai"), KpiParams())
    waiting = ami_entry(join(ChanVariable="CALLCTL_LINE=12333"))
    today.apply([waiting])
    answered = replace(
        waiting, outcome=Outcome.ANSWERED, ended_wait_at=T0 + 5, wait_s=5, agent="1001"
    )
    today.apply([answered])
    # The queue maps to 12345 by configuration, but this caller dialed 12333.
    sums = today.by_line({"hotline": "12345"})
    assert set(sums) == {"12333"}
    assert sums["12333"].entries == 1
