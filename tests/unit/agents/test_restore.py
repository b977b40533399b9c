"""What is put back after a node restart: members' logins and pauses (agents.restore)."""

from __future__ import annotations

import pytest

from agents.restore import KnownMember, MemberBook, plan_after_restart, restore_actions
from ami.actions import Action
from ami.events import AmiEvent, QueueMember, parse_event
from ami.frames import Frame

NODE = "ast1"


def _event(name: str, **headers: str) -> AmiEvent:
    return parse_event(Frame.from_pairs({"Event": name, **headers}.items()), NODE, 0.0)


def listed(
    agent: str, *, paused: bool = False, reason: str = "", dynamic: bool = False
) -> QueueMember:
    event = _event(
        "QueueMember",
        Queue="hotline",
        Name=agent,
        Location=f"PJSIP/{agent}",
        StateInterface=f"PJSIP/{agent}",
        Membership="dynamic" if dynamic else "static",
        Penalty="0",
        Paused="1" if paused else "0",
        PausedReason=reason,
    )
    assert isinstance(event, QueueMember)
    return event


def member_event(name: str, agent: str, **headers: str) -> AmiEvent:
    return _event(name, Queue="hotline", MemberName=agent, Interface=f"PJSIP/{agent}", **headers)


def book_of(*members: QueueMember) -> dict[tuple[str, str], KnownMember]:
    book = MemberBook()
    book.resynced(members)
    return dict(book.members)


def test_static_members_paused_before_are_paused_again_with_their_reason() -> None:
    before = book_of(
        listed("1001", paused=True, reason="break"),
        listed("1002"),
        listed("1003", paused=True, reason="小休"),
    )
    after = [listed("1001"), listed("1002"), listed("1003")]  # a restart unpaused all

    plan = restore_actions(before, after)

    assert plan.actions == (
        Action(
            "QueuePause",
            (
                ("Interface", "PJSIP/1001"),
                ("Paused", "true"),
                ("Queue", "hotline"),
                ("Reason", "break"),
            ),
        ),
        Action(
            "QueuePause",
            (
                ("Interface", "PJSIP/1003"),
                ("Paused", "true"),
                ("Queue", "hotline"),
                ("Reason", "小休"),
            ),
        ),
    )


def test_nothing_is_sent_when_the_restart_kept_everything() -> None:
    members = [listed("1001", paused=True, reason="break", dynamic=True), listed("1002")]

    assert restore_actions(book_of(*members), members).actions == ()


def test_a_missing_dynamic_member_is_added_back_paused_and_a_static_one_is_not() -> None:
    before = book_of(listed("1001", paused=True, reason="lunch", dynamic=True), listed("1002"))

    plan = restore_actions(before, [])

    [add] = plan.actions
    assert add.name == "QueueAdd"
    assert dict(add.headers) == {
        "Queue": "hotline",
        "Interface": "PJSIP/1001",
        "MemberName": "1001",
        "Penalty": "0",
        "Paused": "true",
        "Reason": "lunch",
        "StateInterface": "PJSIP/1001",
    }


def test_a_pause_under_another_reason_is_corrected_and_a_stale_pause_lifted() -> None:
    before = book_of(listed("1001", paused=True, reason="break"), listed("1002"))
    after = [listed("1001", paused=True, reason="acw"), listed("1002", paused=True, reason="x")]

    plan = restore_actions(before, after)

    assert [dict(a.headers) for a in plan.actions] == [
        {"Interface": "PJSIP/1001", "Paused": "true", "Queue": "hotline", "Reason": "break"},
        {"Interface": "PJSIP/1002", "Paused": "false", "Queue": "hotline"},
    ]


def test_the_book_follows_member_events_after_the_snapshot() -> None:
    book = MemberBook()
    book.resynced([listed("1001"), listed("1002")])
    book.on_event(member_event("QueueMemberPause", "1001", Paused="1", PausedReason="break"))
    book.on_event(member_event("QueueMemberRemoved", "1002"))
    book.on_event(
        member_event("QueueMemberAdded", "1004", Membership="dynamic", Paused="0", Penalty="2")
    )

    members = book.members
    assert sorted(members) == [("hotline", "PJSIP/1001"), ("hotline", "PJSIP/1004")]
    assert (
        members[("hotline", "PJSIP/1001")].paused,
        members[("hotline", "PJSIP/1001")].reason,
    ) == (True, "break")
    assert members[("hotline", "PJSIP/1004")].dynamic


def test_an_unsafe_stored_reason_is_refused_not_sent() -> None:
    before = book_of(listed("1001", paused=True, reason="break\r\nAction: Originate"))

    plan = restore_actions(before, [listed("1001")])

    assert plan.actions == ()
    assert len(plan.refused) == 1 and "PJSIP/1001" in plan.refused[0]


@pytest.mark.parametrize(
    ("last_heard_at", "skipped"),
    [(None, True), (1000.0, False), (1000.0 - 500, True)],
)
def test_knowledge_older_than_the_silence_limit_is_not_restored(
    last_heard_at: float | None, skipped: bool
) -> None:
    before = book_of(listed("1001", paused=True, reason="break"))

    plan = plan_after_restart(
        before, [listed("1001")], last_heard_at=last_heard_at, restarted_at=1005, max_silence_s=120
    )

    assert (plan.skipped is not None) is skipped
    assert len(plan.actions) == (0 if skipped else 1)
