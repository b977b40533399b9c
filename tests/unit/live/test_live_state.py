"""LiveState from the recorded lab transcripts: waiting callers, agents, today's KPIs."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from ami.events import AmiEvent, parse_event
from ami.frames import Frame, parse_frames
from ami.testing import load_transcript
from callctl.facts.from_queue_log import fold_queue_log, latest_facts
from callctl.facts.models import AcwEnd, AcwInterval, Fact, QueueEntryFact
from callctl.facts.to_kpi import entry_records
from callctl.ingest.normalizer import AmiNormalizer
from callctl.live.state import Delta, LiveState
from callctl.live.today import ZERO, add_all, figures, shift, subtract
from kpi.counters import counters_from_entries
from kpi.definitions import compute_kpis
from kpi.inputs import AcwCaps, KpiParams
from kpi.outcome import Outcome

NODE = "lab"
RECORDED = Path(__file__).resolve().parents[2] / "fixtures" / "ami_recorded"
T_ANSWERED = 1_795_291_045  # QueueCallerJoin of answered.ami (2026-11-21 Asia/Shanghai)


def recorded(name: str) -> list[AmiEvent]:
    frames = parse_frames(load_transcript(RECORDED / f"{name}.ami"))
    events = []
    for frame in frames:
        if "Event" in frame.headers:
            raw = frame.headers.get("Timestamp")
            events.append(parse_event(frame, NODE, float(raw) if raw else T_ANSWERED))
    return events


def replay(
    state: LiveState, events: list[AmiEvent], normalizer: AmiNormalizer | None = None
) -> tuple[list[Delta], list[Fact]]:
    normalizer = normalizer or AmiNormalizer(NODE)
    deltas: list[Delta] = []
    facts: list[Fact] = []
    for event in events:
        made = normalizer.feed(event)
        facts += made
        deltas += state.apply(event, made)
    return deltas, facts


def of_type(deltas: list[Delta], kind: str) -> list[Delta]:
    return [d for d in deltas if d["type"] == kind]


def test_answered_call_waits_then_counts_as_answered_within_15_s() -> None:
    state = LiveState(T_ANSWERED)
    deltas, _ = replay(state, recorded("answered"))

    waiting = [d["waiting"] for d in of_type(deltas, "queue")]
    assert waiting == [1, 0]
    first = of_type(deltas, "queue")[0]
    assert first["queue"] == "hotline" and first["node"] == NODE
    assert first["oldest_joined_at"] == 1795291045.078142  # the join event's own clock
    assert [d["state"] for d in of_type(deltas, "agent")] == ["ringing", "talking", "available"]

    total = state.snapshot(T_ANSWERED + 10)["today"]["total"]
    assert total["offered"] == 1
    assert total["answered"] == 1
    assert total["answer_rate"] == 100.0
    assert total["service_level"] == 100.0
    assert total["avg_acw_s"] == 0.0  # the lab runs without ACW: the call had none
    assert state.summary(T_ANSWERED + 10)["waiting"] == 0


def test_abandoned_call_counts_in_the_denominator_only() -> None:
    state = LiveState(T_ANSWERED)
    deltas, _ = replay(state, recorded("abandoned"))

    assert [d["waiting"] for d in of_type(deltas, "queue")] == [1, 0]
    total = state.today_json()["total"]
    assert (total["offered"], total["answered"], total["abandoned"]) == (1, 0, 1)
    assert total["answer_rate"] == 0.0
    assert total["abandon_rate"] == 100.0
    assert total["avg_acw_s"] is None  # no answered call: no value, never 0


def test_ring_no_answer_keeps_the_caller_waiting_until_it_gives_up() -> None:
    state = LiveState(T_ANSWERED)
    events = recorded("ring_no_answer")
    normalizer = AmiNormalizer(NODE)
    rna = next(i for i, e in enumerate(events) if e.name == "AgentRingNoAnswer")
    replay(state, events[: rna + 1], normalizer)

    summary = state.summary(events[rna].received_at)
    assert summary["waiting"] == 1
    assert 14.9 < summary["longest_wait_s"] < 16  # agent 1010 rang 15 s

    replay(state, events[rna + 1 :], normalizer)
    assert state.summary(events[-1].received_at)["waiting"] == 0
    total = state.today_json()["total"]
    assert (total["offered"], total["abandoned"]) == (1, 1)


def test_pause_with_reason_then_unpause() -> None:
    state = LiveState(T_ANSWERED)
    deltas, _ = replay(state, recorded("pause_unpause"))

    agents = of_type(deltas, "agent")
    assert [(d["agent"], d["state"], d["reason"]) for d in agents] == [
        ("1005", "paused", "小休"),
        ("1005", "available", ""),
    ]
    assert state.summary(T_ANSWERED)["agents"]["available"] == 1


def test_acw_pause_shows_as_acw_and_its_length_counts() -> None:
    state = LiveState(T_ANSWERED)
    entry = QueueEntryFact(
        NODE, "c1", "hotline", 1, T_ANSWERED, outcome=Outcome.ANSWERED, wait_s=3,
        ended_wait_at=T_ANSWERED + 3, agent="1008", talk_s=60, completed_at=T_ANSWERED + 63,
    )  # fmt: skip
    acw = AcwInterval(NODE, "1008", T_ANSWERED + 63, callid="c1", queue="hotline", seq=1)
    state.on_facts([entry, acw])
    assert state.today_json()["total"]["avg_acw_s"] is None  # ACW still going on

    state.on_facts([AcwInterval(**{**_fields(acw), "ended_at": T_ANSWERED + 93})])
    assert state.today_json()["total"]["avg_acw_s"] == 30.0

    pause = parse_event(
        Frame.from_pairs(
            {
                "Event": "QueueMemberPause",
                "Queue": "hotline",
                "MemberName": "1008",
                "Interface": "PJSIP/1008",
                "Status": "1",
                "Paused": "1",
                "PausedReason": "acw",
            }.items()
        ),
        NODE,
        T_ANSWERED + 63,
    )
    (delta,) = state.apply(pause)
    assert (delta["state"], delta["reason"], delta["at"]) == ("acw", "acw", T_ANSWERED + 63)


def _fields(fact: AcwInterval) -> dict[str, Any]:
    return {name: getattr(fact, name) for name in fact.__slots__}


def test_live_figures_equal_the_historical_computation_of_the_same_facts() -> None:
    """Live counters == KPIs computed afresh from the stored facts (as history does)."""
    params = KpiParams()
    state = LiveState(T_ANSWERED, params=params, lines={"hotline": "12345"})
    normalizer = AmiNormalizer(NODE)
    facts: list[Fact] = []
    for name in ("answered", "abandoned", "ring_no_answer", "pause_unpause"):
        facts += replay(state, recorded(name), normalizer)[1]
    synthetic = synthetic_day(random.Random(7))
    state.on_facts(synthetic)
    state.on_facts(synthetic[-200:])  # replayed: must change nothing
    facts += synthetic

    stored = latest_facts(facts)  # what the database holds after the upserts
    entries = [f for f in stored if isinstance(f, QueueEntryFact)]
    acws = [f for f in stored if isinstance(f, AcwInterval)]
    historical = compute_kpis(entry_records(entries, acws), params)

    assert state.today.total() == counters_from_entries(entry_records(entries, acws), params)
    total = state.today_json()["total"]
    assert total["offered"] == historical.offered == len(entries)
    assert total["answered"] == historical.answered
    assert state.today_json()["lines"]["12345"] == state.today_json()["queues"]["hotline"]
    # Per interval sums add up to the day.
    intervals = state.today.by_interval.values()
    assert sum(c.answered for c in intervals) == historical.answered


def test_a_replayed_fact_is_not_counted_twice() -> None:
    state = LiveState(T_ANSWERED)
    _, facts = replay(state, recorded("answered"))
    before = state.today.total()
    state.on_facts(facts)
    state.on_facts(facts)
    assert state.today.total() == before


def test_seed_keeps_facts_seen_live_and_restores_a_restart() -> None:
    queue_log = (RECORDED / "answered.queue_log").read_text(encoding="utf-8").splitlines()
    from_db = latest_facts(fold_queue_log(queue_log, NODE).facts)

    restarted = LiveState(T_ANSWERED + 60)
    deltas = restarted.seed(from_db)
    assert deltas[0]["type"] == "today" and deltas[0]["today"]["seeded"] is True
    assert restarted.today_json()["total"]["answered"] == 1

    live = LiveState(T_ANSWERED)
    _, facts = replay(live, recorded("answered"))
    stale = [
        QueueEntryFact(NODE, f.callid, f.queue, f.seq, f.entered_at)
        for f in facts
        if isinstance(f, QueueEntryFact)
    ]
    live.seed(stale)  # an older row of the same entry must not replace the live fact
    assert live.today_json()["total"]["answered"] == 1


def test_entries_of_another_day_are_left_out_and_midnight_rolls_over() -> None:
    state = LiveState(T_ANSWERED)
    window = state.today.window
    yesterday = QueueEntryFact(
        NODE, "y", "hotline", 1, window.start - 1, outcome=Outcome.ABANDONED, wait_s=1
    )
    state.on_facts([yesterday])
    assert state.today_json()["total"]["offered"] == 0

    assert state.tick(window.end - 1) == []
    (delta,) = state.tick(window.end)
    assert delta["type"] == "today"
    assert delta["today"]["start"] == window.end
    assert delta["today"]["day"] > window.day.isoformat()


def test_snapshot_and_deltas_are_json() -> None:
    state = LiveState(T_ANSWERED, lines={"hotline": "12345"})
    deltas, _ = replay(state, recorded("answered"))
    text = json.dumps({"deltas": deltas, "snapshot": state.snapshot(T_ANSWERED)})
    snapshot = json.loads(text)["snapshot"]
    assert snapshot["nodes"][NODE]["queues"]["hotline"]["waiting"] == 0
    assert snapshot["nodes"][NODE]["agents"]["1008"]["state"] == "available"
    assert snapshot["today"]["lines"]["12345"]["answered"] == 1
    kpi = of_type(deltas, "kpi")[-1]
    assert kpi["line"] == "12345" and kpi["line_today"]["answered"] == 1
    assert kpi["interval"]["start"] == T_ANSWERED - T_ANSWERED % 900


def test_subtract_undoes_an_addition() -> None:
    params = KpiParams()
    facts = latest_facts(synthetic_day(random.Random(3)))
    records = list(entry_records(f for f in facts if isinstance(f, QueueEntryFact)))
    a = counters_from_entries(records[:10], params)
    b = counters_from_entries(records[10:], params)
    assert subtract(a + b, b) == a


def test_shift_replaces_a_part_as_minus_then_plus_would() -> None:
    params = KpiParams()
    facts = latest_facts(synthetic_day(random.Random(5)))
    records = list(entry_records(f for f in facts if isinstance(f, QueueEntryFact)))
    a = counters_from_entries(records[:10], params)
    b = counters_from_entries(records[10:20], params)
    c = counters_from_entries(records[20:], params)
    assert shift(a + b, b, c) == a + c
    assert shift(a + b, b, b) == a + b
    assert shift(ZERO, ZERO, c) == c
    assert add_all([a, b, c]) == a + b + c and add_all([]) == ZERO


def test_figures_of_equal_counters_are_equal_and_independent() -> None:
    params = KpiParams()
    facts = latest_facts(synthetic_day(random.Random(7)))
    records = list(entry_records(f for f in facts if isinstance(f, QueueEntryFact)))
    counters = counters_from_entries(records, params)
    first = figures(counters, params)
    first["answered"] = -1  # a caller's copy: changing it changes no later answer
    again = figures(counters_from_entries(records, params), params)
    assert again["answered"] == counters.answered > 0


def synthetic_day(rng: random.Random, calls: int = 300) -> list[Fact]:
    """Entries in successive versions (waiting, answered, completed) and their ACW."""
    facts: list[Fact] = []
    for n in range(calls):
        entered = T_ANSWERED + n * 37
        queue = rng.choice(["hotline", "expert"])
        waiting = QueueEntryFact(NODE, f"s{n}", queue, 1, entered)
        facts.append(waiting)
        wait = rng.randint(0, 70)
        if rng.random() < 0.25:
            facts.append(_with(waiting, outcome=Outcome.ABANDONED, wait_s=wait))
            continue
        answered = _with(
            waiting, outcome=Outcome.ANSWERED, wait_s=wait, agent="1001",
            ended_wait_at=entered + wait,
        )  # fmt: skip
        done = _with(answered, talk_s=rng.randint(5, 400), completed_at=entered + wait + 400)
        facts += [answered, done]
        if rng.random() < 0.7:
            acw = AcwInterval(
                NODE, "1001", entered + wait + 400, callid=f"s{n}", queue=queue, seq=1
            )
            ended = AcwInterval(
                NODE, "1001", acw.started_at, acw.started_at + rng.randint(0, 500),
                AcwEnd.UNPAUSE, f"s{n}", queue, 1,
            )  # fmt: skip
            facts += [acw, ended]
    return facts


def _with(entry: QueueEntryFact, **changes: Any) -> QueueEntryFact:
    values = {name: getattr(entry, name) for name in entry.__slots__}
    values.update(changes)
    return QueueEntryFact(**values)


def test_a_stored_fact_further_along_fills_in_what_a_gap_hid() -> None:
    state = LiveState(T_ANSWERED)
    waiting = QueueEntryFact(NODE, "g", "hotline", 1, T_ANSWERED)
    state.on_facts([waiting])  # joined live, then the AMI link dropped
    reconciled = _with(
        waiting, outcome=Outcome.ANSWERED, wait_s=4, agent="1001", talk_s=30,
        ended_wait_at=T_ANSWERED + 4, completed_at=T_ANSWERED + 34,
    )  # fmt: skip
    missed = QueueEntryFact(NODE, "h", "hotline", 1, T_ANSWERED + 5, outcome=Outcome.ABANDONED,
                            wait_s=2)  # fmt: skip
    state.seed([reconciled, missed])
    total = state.today_json()["total"]
    assert (total["offered"], total["answered"], total["abandoned"]) == (2, 1, 1)


def test_callers_waiting_at_a_restart_are_offered_as_lost_on_the_wallboard() -> None:
    """The answered call replayed, then two callers waiting when Asterisk restarts."""
    state = LiveState(T_ANSWERED)
    normalizer = AmiNormalizer(NODE)

    def booted(at: float, uptime_s: int) -> AmiEvent:
        frame = Frame.from_pairs([("Event", "FullyBooted"), ("Uptime", str(uptime_s))])
        return parse_event(frame, NODE, at)

    def join(uniqueid: str, at: float) -> AmiEvent:
        headers = {"Event": "QueueCallerJoin", "Timestamp": f"{at:.6f}", "Uniqueid": uniqueid}
        return parse_event(Frame.from_pairs({**headers, "Queue": "hotline"}.items()), NODE, at)

    replay(state, [booted(T_ANSWERED - 1, 305), *recorded("answered")], normalizer)
    deltas, facts = replay(
        state,
        [
            join("9.1", T_ANSWERED + 10),
            join("9.2", T_ANSWERED + 11),
            booted(T_ANSWERED + 40, 3),  # killed, started again at +37
        ],
        normalizer,
    )

    lost = [f for f in facts if isinstance(f, QueueEntryFact) and f.outcome is Outcome.LOST]
    assert [(f.callid, f.wait_s) for f in lost] == [("9.1", 27), ("9.2", 26)]
    total = state.today_json()["total"]
    assert (total["offered"], total["answered"], total["lost"]) == (3, 1, 2)
    assert total["answer_rate"] == 33.33
    assert of_type(deltas, "kpi")


def _answered_with_acw(callid: str, line: str, acw_s: int, at: int) -> list[Fact]:
    entry = QueueEntryFact(
        node=NODE, callid=callid, queue="hotline", seq=1, entered_at=at, outcome=Outcome.ANSWERED,
        wait_s=2, ended_wait_at=at + 2, agent="PJSIP/1001", talk_s=30, completed_at=at + 32,
        line=line,
    )  # fmt: skip
    acw = AcwInterval(
        NODE, "PJSIP/1001", at + 32, at + 32 + acw_s, AcwEnd.UNPAUSE, callid, "hotline", 1
    )
    return [entry, acw]


def test_each_calls_acw_is_capped_by_its_lines_cap_and_a_changed_cap_recounts() -> None:
    """The issue's case, live: line 12345 at acw_max_s 6, eight ACWs of 6 s and one of 7 s."""
    state = LiveState(T_ANSWERED, lines={"hotline": "12345"})
    facts: list[Fact] = []
    for i in range(9):
        facts += _answered_with_acw(f"h{i}", "12345", 7 if i == 4 else 6, T_ANSWERED + 60 * i)
    facts += _answered_with_acw("o1", "12333", 7, T_ANSWERED + 600)
    state.on_facts(facts)
    # Before the routing config's caps are read: kpi-definitions.md's default, 300.
    assert state.today_json()["lines"]["12345"]["avg_acw_s"] == 6.11

    (delta,) = state.set_acw_caps(AcwCaps.of({"12345": 6, "12333": 300}, 300))
    assert delta["type"] == "today"
    today = state.today_json()
    assert today["lines"]["12345"]["avg_acw_s"] == 6.0
    assert today["lines"]["12333"]["avg_acw_s"] == 7.0
    assert today["total"]["avg_acw_s"] == 6.1  # (9 × 6 + 7) / 10
    assert state.set_acw_caps(AcwCaps.of({"12333": 300, "12345": 6}, 300)) == []

    # Later facts are counted with the caps in force.
    state.on_facts(_answered_with_acw("h9", "12345", 40, T_ANSWERED + 900))
    assert state.today_json()["lines"]["12345"]["avg_acw_s"] == 6.0


def test_queue_log_corrections_replace_ami_and_stand_against_later_ami_facts() -> None:
    state = LiveState(T_ANSWERED)
    ami = QueueEntryFact(
        NODE, "q", "hotline", 1, T_ANSWERED + 1, outcome=Outcome.ANSWERED, wait_s=15,
        agent="1001", ended_wait_at=T_ANSWERED + 16,
    )  # fmt: skip
    state.on_facts([ami])
    assert state.today.total().sum_wait_answered == 15
    from_queue_log = _with(ami, entered_at=T_ANSWERED, wait_s=16)
    deltas = state.on_corrections([from_queue_log])
    assert [d["type"] for d in deltas] == ["kpi"]  # the wallboard hears of it
    assert state.today.total().sum_wait_answered == 16
    # AMI's completion arrives after: its talk time fills in, its wait does not undo
    state.on_facts([_with(ami, talk_s=30, completed_at=T_ANSWERED + 46)])
    (entry,) = state.today.entries
    assert (entry.entered_at, entry.wait_s, entry.talk_s) == (T_ANSWERED, 16, 30)
    assert state.today.total().sum_wait_answered == 16


def test_ami_facts_of_entries_queue_log_never_corrected_still_replace() -> None:
    state = LiveState(T_ANSWERED)
    waiting = QueueEntryFact(NODE, "r", "hotline", 1, T_ANSWERED)
    state.on_corrections([QueueEntryFact(NODE, "other", "hotline", 1, T_ANSWERED)])
    state.on_facts([waiting])
    state.on_facts([_with(waiting, outcome=Outcome.ABANDONED, wait_s=3)])
    assert state.today.total().abandoned == 1
