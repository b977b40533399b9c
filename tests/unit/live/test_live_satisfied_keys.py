"""满意率 live: each line's satisfied keys from the routing config in force, as ``/kpis``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from callctl.facts.models import Fact, QueueEntryFact, SurveyAnswerFact
from callctl.ingest.pipeline import IngestPipeline
from callctl.live.hub import LiveHub
from callctl.live.service import LiveService
from callctl.live.state import LiveState
from callctl.routing_config.target import NoTargetError
from kpi.inputs import AcwCaps
from kpi.outcome import Outcome

NODE = "lab"
T0 = 1_795_291_045  # 2026-11-21 Asia/Shanghai
LINES = {"hotline": "12345", "expert": "12333"}


def surveyed(callid: str, queue: str, line: str, key: int | None, at: int) -> list[Fact]:
    entry = QueueEntryFact(
        node=NODE, callid=callid, queue=queue, seq=1, entered_at=at, outcome=Outcome.ANSWERED,
        wait_s=2, ended_wait_at=at + 2, agent="PJSIP/1001", talk_s=30, completed_at=at + 32,
        line=line,
    )  # fmt: skip
    if key is None:  # hung up during the survey: no answer
        return [entry]
    answer = SurveyAnswerFact(NODE, callid, queue, 1, key, at + 40, "PJSIP/1001")
    return [entry, answer]


def hotline_day() -> list[Fact]:
    """12345: keys 1, 2, 3 and one hang-up; 12333: keys 1 and 2."""
    facts: list[Fact] = []
    for i, key in enumerate((1, 2, 3, None)):
        facts += surveyed(f"h{i}", "hotline", "12345", key, T0 + 60 * i)
    for i, key in enumerate((1, 2)):
        facts += surveyed(f"e{i}", "expert", "12333", key, T0 + 600 + 60 * i)
    return facts


def satisfaction(figures: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    return figures["satisfaction"], figures["survey_satisfied"], figures["survey_answers"]


def test_a_lines_satisfied_keys_set_its_live_satisfaction_and_a_change_rereads_today() -> None:
    state = LiveState(T0, lines=LINES)
    state.on_facts(hotline_day())
    # Before the routing config is read: kpi-definitions.md's default, keys 1 and 2.
    today = state.today_json()
    assert satisfaction(today["lines"]["12345"]) == (66.67, 2, 3)
    assert satisfaction(today["total"]) == (80.0, 4, 5)

    # 12345 counts only key 1; 12333 keeps 1 and 2.
    (delta,) = state.set_satisfied_keys({"12345": frozenset({1}), "12333": frozenset({1, 2})})
    assert delta["type"] == "today"
    today = delta["today"]
    assert satisfaction(today["lines"]["12345"]) == (33.33, 1, 3)
    assert satisfaction(today["lines"]["12333"]) == (100.0, 2, 2)
    # Lines that score differently: queues, intervals and the total as /kpis without
    # line= reads them (the default, 1 and 2).
    assert satisfaction(today["total"]) == (80.0, 4, 5)
    assert satisfaction(today["queues"]["hotline"]) == (66.67, 2, 3)
    # Take-up does not depend on the keys.
    assert today["lines"]["12345"]["survey_take_up"] == 75.0
    assert state.set_satisfied_keys({"12333": frozenset({1, 2}), "12345": frozenset({1})}) == []

    # A later answer's kpi delta reads its line with the line's keys.
    deltas = state.on_facts(surveyed("h9", "hotline", "12345", 2, T0 + 900))
    (kpi,) = [d for d in deltas if d["type"] == "kpi"]
    assert kpi["line"] == "12345"
    assert satisfaction(kpi["line_today"]) == (25.0, 1, 4)
    assert satisfaction(kpi["total"]) == (83.33, 5, 6)


def test_one_setting_shared_by_all_surveyed_lines_is_the_totals_too() -> None:
    state = LiveState(T0, lines=LINES)
    state.on_facts(hotline_day())
    (delta,) = state.set_satisfied_keys({"12345": frozenset({1})})
    today = delta["today"]
    assert satisfaction(today["lines"]["12345"]) == (33.33, 1, 3)
    # The only surveyed line's setting is the one /kpis applies to all lines.
    assert satisfaction(today["total"]) == (40.0, 2, 5)
    intervals = [i["total"] for i in today["intervals"]]
    assert sum(i["survey_satisfied"] for i in intervals) == 2
    assert satisfaction(intervals[0]) == (33.33, 1, 3)  # 12345's calls alone
    # Back to no setting: the default again.
    (delta,) = state.set_satisfied_keys({})
    assert satisfaction(delta["today"]["lines"]["12345"]) == (66.67, 2, 3)


def test_a_changed_acw_cap_keeps_the_lines_satisfied_keys() -> None:
    state = LiveState(T0, lines=LINES)
    state.on_facts(hotline_day())
    state.set_satisfied_keys({"12345": frozenset({1}), "12333": frozenset({1, 2})})
    state.set_acw_caps(AcwCaps.of({"12345": 6}, 300))
    assert satisfaction(state.today_json()["lines"]["12345"]) == (33.33, 1, 3)


async def test_the_service_reads_the_keys_in_force_and_keeps_them_when_reading_fails() -> None:
    in_force: list[Any] = [{"12345": frozenset({1})}]

    async def load() -> Mapping[str, frozenset[int]]:
        current = in_force[-1]
        if isinstance(current, Exception):
            raise current
        return cast(Mapping[str, frozenset[int]], current)

    async def caps() -> AcwCaps:
        return AcwCaps.of({})

    hub = LiveHub(LiveState(T0, lines=LINES), clock=lambda: T0)
    hub.state.on_facts(hotline_day())
    # refresh_satisfied_keys touches only the hub and the loader: no pipeline needed.
    service = LiveService(
        hub,
        cast(IngestPipeline, None),
        "postgresql://unused",
        caps,
        satisfied_keys=load,
        satisfied_every_s=0,
    )
    await service.refresh_satisfied_keys()
    assert hub.state.satisfied_keys == {"12345": frozenset({1})}
    assert satisfaction(hub.snapshot()["today"]["lines"]["12345"]) == (33.33, 1, 3)
    seq = hub.seq
    in_force.append(NoTargetError("CALLCTL_NODES_FILE: not set"))
    await service.refresh_satisfied_keys()
    assert hub.state.satisfied_keys == {"12345": frozenset({1})}
    assert hub.seq == seq  # nothing published
    in_force.append({"12345": frozenset({1, 2})})
    await service.refresh_satisfied_keys()
    assert satisfaction(hub.snapshot()["today"]["lines"]["12345"]) == (66.67, 2, 3)
    assert hub.seq == seq + 1  # one today delta
