"""The dialer's pure parts: Dial's status as a result, which agents are free."""

from __future__ import annotations

from ami.events import QueueMember, parse_event
from ami.frames import Frame
from callctl.callbacks.dialer import attempt_result, free_agents
from callctl.callbacks.scheduler import AttemptResult


def member(interface: str, status: int, paused: bool, queue: str = "hotline") -> QueueMember:
    frame = Frame.from_pairs(
        [
            ("Event", "QueueMember"),
            ("Queue", queue),
            ("Name", interface),
            ("Location", interface),
            ("StateInterface", interface),
            ("Status", str(status)),
            ("Paused", "1" if paused else "0"),
            ("Penalty", "0"),
        ]
    )
    event = parse_event(frame, "lab", 0.0)
    assert isinstance(event, QueueMember), event
    return event


def test_dial_status_to_result() -> None:
    assert attempt_result("ANSWER", "16") is AttemptResult.ANSWERED
    assert attempt_result("BUSY", "17") is AttemptResult.BUSY
    assert attempt_result("NOANSWER", "19") is AttemptResult.NO_ANSWER
    assert attempt_result("CANCEL", "") is AttemptResult.NO_ANSWER
    assert attempt_result("CHANUNAVAIL", "1") is AttemptResult.INVALID  # unallocated
    assert attempt_result("CONGESTION", "28") is AttemptResult.INVALID
    assert attempt_result("CONGESTION", "34") is AttemptResult.NO_ANSWER


def test_free_agents_are_idle_in_every_queue_and_not_dialling() -> None:
    members = [
        member("PJSIP/1001", 1, False),
        member("PJSIP/1002", 2, False),  # in use
        member("PJSIP/1003", 1, True),  # paused
        member("PJSIP/1004", 1, False),
        member("PJSIP/1004", 6, False, queue="other"),  # ringing in another queue
        member("PJSIP/1005", 1, False),
    ]
    assert free_agents(members, busy={"1005"}) == ["1001"]


def test_invalid_number_causes() -> None:
    """A SIP 404 (cause 1, unallocated) or a malformed number (28): 空号, no retry."""
    for cause in ("1", "3", "22", "28"):
        assert attempt_result("CHANUNAVAIL", cause) is AttemptResult.INVALID
        assert attempt_result("CONGESTION", cause) is AttemptResult.INVALID
    assert attempt_result("CHANUNAVAIL", "") is AttemptResult.NO_ANSWER
