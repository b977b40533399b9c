"""ACW limits per line and the tracker that says which ACW pauses are overdue (pure)."""

from __future__ import annotations

from agents.acw_timer import (
    FALLBACK_ACW_MAX_S,
    AcwLimits,
    AcwTracker,
    MemberPause,
    acw_caps,
    acw_limits,
    lines_by_queue,
)
from callctl.lab.sample_model import sample_model
from routing.model import AmiUser, PbxModel

LIMITS = AcwLimits(
    by_line={"12345": 300, "12333": 3}, by_interface={"PJSIP/2001": 60}, default_s=90
)


def test_limits_follow_the_line_then_the_agents_lines_then_the_default() -> None:
    assert LIMITS.limit_for("PJSIP/2001", "12333") == 3
    assert LIMITS.limit_for("PJSIP/2001", None) == 60
    assert LIMITS.limit_for("PJSIP/2001", "99999") == 60
    assert LIMITS.limit_for("PJSIP/2999", None) == 90


def test_sample_model_limits_use_lines_reaching_each_queue_through_timeouts() -> None:
    model = sample_model("secret-0123456789abc")
    assert lines_by_queue(model) == {
        "general-12345": {"12345", "12320"},
        "hrss-expert": {"12333"},
        "health-12320": {"12320"},
    }
    limits = acw_limits(model)
    assert limits.by_line == {"12345": 300, "12333": 180, "12320": 240}
    # 2001 is in all three queues: the longest of 300, 180, 240.
    assert limits.by_interface["PJSIP/2001"] == 300
    assert limits.default_s == 300


def test_the_watchs_limits_and_the_kpis_caps_are_the_same_lines_acw_max_s() -> None:
    model = sample_model("secret-0123456789abc")
    caps = acw_caps(model)
    limits = acw_limits(model)
    assert dict(caps.by_line) == limits.by_line == {"12345": 300, "12333": 180, "12320": 240}
    assert caps.default_s == limits.default_s == 300


def test_a_model_without_lines_falls_back() -> None:
    limits = acw_limits(PbxModel(ami=AmiUser("callctl", "secret-0123456789abc")))
    assert limits.default_s == FALLBACK_ACW_MAX_S
    assert limits.limit_for("PJSIP/1001", None) == FALLBACK_ACW_MAX_S


def test_acw_pause_is_due_at_its_lines_limit() -> None:
    tracker = AcwTracker()
    tracker.line_reported("PJSIP/2001", "12333")
    assert tracker.pause_changed("PJSIP/2001", True, "acw", at=100.0)
    # The same pause reported for the member's other queues opens nothing new.
    assert not tracker.pause_changed("PJSIP/2001", True, "acw", at=100.1)
    assert tracker.due(102.9, LIMITS) == []
    (spell,) = tracker.due(103.0, LIMITS)
    assert (spell.interface, spell.started_at, spell.line) == ("PJSIP/2001", 100.0, "12333")
    tracker.released("PJSIP/2001")
    assert tracker.due(1000.0, LIMITS) == []


def test_line_reported_after_the_pause_still_applies() -> None:
    tracker = AcwTracker()
    tracker.pause_changed("PJSIP/2001", True, "acw", at=100.0)
    tracker.line_reported("PJSIP/2001", "12333")
    assert [s.interface for s in tracker.due(103.0, LIMITS)] == ["PJSIP/2001"]


def test_other_pauses_and_unpause_end_the_spell() -> None:
    tracker = AcwTracker()
    tracker.pause_changed("PJSIP/2001", True, "acw", at=100.0)
    assert not tracker.pause_changed("PJSIP/2001", True, "break", at=101.0)
    assert tracker.spells == ()
    tracker.pause_changed("PJSIP/2001", True, "acw", at=200.0)
    tracker.pause_changed("PJSIP/2001", False, "acw-end", at=201.0)
    assert tracker.due(10_000.0, LIMITS) == []


def test_resync_dates_a_forgotten_acw_by_last_pause_and_drops_ended_ones() -> None:
    tracker = AcwTracker()
    tracker.pause_changed("PJSIP/2002", True, "acw", at=50.0)
    opened = tracker.resynced(
        [
            MemberPause("PJSIP/2001", True, "acw", last_pause=1000.0),
            MemberPause("PJSIP/2001", True, "acw", last_pause=999.0),
            MemberPause("PJSIP/2002", False, None, last_pause=50.0),
            MemberPause("PJSIP/2003", True, "break", last_pause=10.0),
        ],
        now=1010.0,
    )
    assert opened
    (spell,) = tracker.spells
    assert (spell.interface, spell.started_at, spell.line) == ("PJSIP/2001", 999.0, None)
    # No line known: the agent's own longest limit (60 s).
    assert tracker.due(1058.9, LIMITS) == []
    assert [s.interface for s in tracker.due(1059.0, LIMITS)] == ["PJSIP/2001"]


def test_resync_keeps_a_spell_already_timed_from_its_event() -> None:
    tracker = AcwTracker()
    tracker.pause_changed("PJSIP/2001", True, "acw", at=100.25)
    assert not tracker.resynced([MemberPause("PJSIP/2001", True, "acw", 100.0)], now=101.0)
    assert tracker.spells[0].started_at == 100.25


def test_member_seen_without_last_pause_starts_now() -> None:
    tracker = AcwTracker()
    assert tracker.member_seen(MemberPause("PJSIP/2001", True, "acw", None), now=500.0)
    assert tracker.spells[0].started_at == 500.0
    assert not tracker.member_seen(MemberPause("PJSIP/2001", False, None, None), now=501.0)
    assert tracker.spells == ()
