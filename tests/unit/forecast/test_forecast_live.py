"""The wallboard's staffing panel, peak warnings and agent tiles' time in state (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from ami.events import QueueMemberAdded, QueueMemberPause, QueueMemberStatus
from callctl.facts.models import QueueEntryFact
from callctl.kit.prometheus import Families, exposition
from callctl.live.state import LiveState
from callctl.routing_config.schemas import AgentDoc, LineDoc, QueueDoc, RoutingDoc
from forecast.calendar import DayKind
from forecast.live import directory_from_doc, staffing_metrics, staffing_panel
from forecast.model import DayForecast, Method
from forecast.service import staff_day
from forecast.staffing import StaffingTarget

DAY = date(2026, 12, 3)
MIDNIGHT = datetime(2026, 12, 2, 16, tzinfo=UTC).timestamp()  # 00:00 Asia/Shanghai
TEN = MIDNIGHT + 10 * 3600
TARGET = StaffingTarget(service_level=0.9, threshold_s=15, shrinkage=0.3)


def _doc() -> RoutingDoc:
    return RoutingDoc(
        queues=[QueueDoc(name="hotline"), QueueDoc(name="other")],
        lines=[
            LineDoc(number="12345", name="12345 热线", queue="hotline"),
            LineDoc(number="12333", name="12333 人社", queue="other"),
        ],
        agents=[
            AgentDoc(agent_id=f"10{i:02d}", name=f"张{i}", password="secretsecret12")
            for i in range(1, 6)
        ],
    )


def _member(cls: type, agent: str, queue: str, at: float, **kw: Any) -> Any:
    fields: dict[str, Any] = {
        "name": cls.__name__, "node": "lab", "received_at": at, "headers": {},
        "queue": queue, "interface": f"PJSIP/{agent}", "member_name": agent,
        "state_interface": None, "membership": "dynamic", "penalty": 0, "calls_taken": 0,
        "last_call": 0, "last_pause": 0, "login_time": 0, "in_call": False,
        "status": 1, "paused": False, "paused_reason": "", "ring_in_use": False, "wrapup_s": None,
    }  # fmt: skip
    fields.update(kw)
    return cls(**fields)


def _plan(calls_at_ten: float) -> Any:
    calls = [0.0] * 96
    calls[40] = calls_at_ten  # 10:00-10:15
    calls[41] = calls_at_ten / 2
    forecast = DayForecast(
        DAY, DayKind.WORKDAY, None, True, Method.SAME_WEEKDAY, (), None, 1.0, tuple(calls)
    )
    return staff_day(
        forecast, line="12345", timezone="Asia/Shanghai", handle_s=180, patience_s=None,
        target=TARGET,
    )  # fmt: skip


def test_panel_warns_when_the_forecast_needs_more_agents_than_logged_in() -> None:
    state = LiveState(TEN)
    for agent in ("1001", "1002", "1003"):
        state.apply(_member(QueueMemberAdded, agent, "hotline", TEN - 600))
    state.apply(_member(QueueMemberStatus, "1003", "hotline", TEN - 500, status=5))  # offline
    state.apply(_member(QueueMemberAdded, "1004", "other", TEN - 600))
    directory = directory_from_doc(_doc())
    plan = _plan(100.0)  # 100 calls of 180 s in 15 min: 20 Erlangs
    panel = staffing_panel({"12345": plan, "12333": None}, directory, state, TEN + 60)

    line = panel["lines"]["12345"]
    assert line["logged_in"] == 2  # 1003 is offline, 1004 is in another line's queue
    assert line["current"] == {
        "start": TEN,
        "calls": 100.0,
        "agents": plan.intervals[40].staffing.agents,
        "scheduled": plan.intervals[40].staffing.scheduled,
    }
    assert line["current"]["agents"] > 20 and line["next"]["calls"] == 50.0
    assert line["live"] is None  # one minute into the interval: too early to project
    assert panel["lines"]["12333"] == {
        "name": "12333 人社", "logged_in": 1, "current": None, "next": None, "live": None,
    }  # fmt: skip
    assert [(w["source"], w["interval"]) for w in panel["warnings"]] == [
        ("forecast", "current"),
        ("forecast", "next"),
    ]
    metrics = exposition(Families(staffing_metrics(panel))).splitlines()
    assert 'callctl_peak_warning{line="12345",source="forecast"} 1.0' in metrics
    assert 'callctl_peak_warning{line="12345",source="live"} 0.0' in metrics
    assert 'callctl_peak_warning{line="12333",source="forecast"} 0.0' in metrics
    assert 'callctl_staffing_agents_logged_in{line="12345"} 2.0' in metrics
    assert 'callctl_staffing_forecast_calls{interval="current",line="12345"} 100.0' in metrics
    assert "# TYPE callctl_peak_warning gauge" in metrics


def test_live_arrivals_warn_when_the_forecast_did_not() -> None:
    state = LiveState(TEN)
    for agent in ("1001", "1002"):
        state.apply(_member(QueueMemberAdded, agent, "hotline", TEN - 600))
    for i in range(40):  # 40 callers in the first 5 minutes: 120 in the interval
        entered = int(TEN) + 7 * i
        state.today.apply(
            [QueueEntryFact(node="lab", callid=f"c{i}", queue="hotline", seq=1, entered_at=entered)]
        )
    directory = directory_from_doc(_doc())
    panel = staffing_panel({"12345": _plan(1.0)}, directory, state, TEN + 300)
    live = panel["lines"]["12345"]["live"]
    assert live["calls"] == 40 and live["projected"] == 120.0
    assert [(w["source"], w["agents_needed"] > 2) for w in panel["warnings"]] == [("live", True)]


def test_directory_names_agents_and_labels_pause_reasons() -> None:
    directory = directory_from_doc(_doc()).as_json()
    assert directory["agents"]["1001"] == "张1"
    assert directory["pause_reasons"]["break"] == {"zh-CN": "小休", "en": "Break"}
    assert directory["lines"] == {"12333": "12333 人社", "12345": "12345 热线"}


def test_agent_time_in_state_starts_when_the_state_changes() -> None:
    state = LiveState(TEN)
    state.apply(_member(QueueMemberAdded, "1001", "hotline", TEN))
    paused = state.apply(
        _member(QueueMemberPause, "1001", "hotline", TEN + 30, paused=True, paused_reason="break")
    )
    assert (paused[0]["state"], paused[0]["reason"], paused[0]["since"]) == (
        "paused",
        "break",
        TEN + 30,
    )
    # A device-state event that leaves the agent paused does not restart the clock.
    again = state.apply(
        _member(QueueMemberStatus, "1001", "hotline", TEN + 90, paused=True, paused_reason="break")
    )
    assert again[0]["since"] == TEN + 30
    board = state.snapshot(TEN + 100)["nodes"]["lab"]
    assert board["agents"]["1001"]["since"] == TEN + 30
    back = state.apply(_member(QueueMemberPause, "1001", "hotline", TEN + 120))
    assert (back[0]["state"], back[0]["since"]) == ("available", TEN + 120)
