"""queue_log lines to typed events; bad lines become Malformed, never exceptions."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from callctl.facts.queue_log import (
    Abandon,
    AddMember,
    AttendedTransfer,
    BlindTransfer,
    CallEnded,
    CompleteAgent,
    CompleteCaller,
    Connect,
    EnterQueue,
    ExitEmpty,
    ExitWithKey,
    ExitWithTimeout,
    Malformed,
    OtherEvent,
    Pause,
    QueueLogEvent,
    QueueStart,
    RemoveMember,
    RingCanceled,
    RingNoAnswer,
    Unpause,
    WaitEnded,
    Withdraw,
    parse_line,
    parse_lines,
    read_queue_log,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "queue_log"


def parsed(line: str) -> QueueLogEvent:
    event = parse_line(line, 1)
    assert not isinstance(event, Malformed), event
    return event


def test_enterqueue() -> None:
    event = parsed("1732150900|1732150893.5|general|NONE|ENTERQUEUE||13800138000|1\n")

    assert event == EnterQueue(
        line_no=1,
        time=1732150900,
        callid="1732150893.5",
        queue="general",
        agent="NONE",
        event="ENTERQUEUE",
        url="",
        caller_num="13800138000",
        position=1,
    )


def test_enterqueue_caller_id_may_contain_the_separator() -> None:
    event = parsed("1732150900|1.5|general|NONE|ENTERQUEUE||138|0013|3")

    assert isinstance(event, EnterQueue)
    assert (event.caller_num, event.position) == ("138|0013", 3)


def test_enterqueue_without_caller_id_or_position() -> None:
    event = parsed("1732150900|1.5|general|NONE|ENTERQUEUE||")

    assert isinstance(event, EnterQueue)
    assert (event.caller_num, event.position) == (None, None)


def test_connect() -> None:
    event = parsed("1732150904|1732150893.5|general|1001|CONNECT|4|1732150900.6|4")

    assert isinstance(event, Connect)
    assert (event.agent, event.holdtime, event.member_uniqueid, event.ringtime) == (
        "1001",
        4,
        "1732150900.6",
        4,
    )


@pytest.mark.parametrize(
    ("name", "cls"), [("RINGNOANSWER", RingNoAnswer), ("RINGCANCELED", RingCanceled)]
)
def test_rings(name: str, cls: type[QueueLogEvent]) -> None:
    event = parsed(f"1732152115|1.20|general|1001|{name}|15000")

    assert type(event) is cls
    assert isinstance(event, RingNoAnswer | RingCanceled)
    assert event.ring_ms == 15000


@pytest.mark.parametrize(
    ("name", "cls"),
    [("ABANDON", Abandon), ("EXITWITHTIMEOUT", ExitWithTimeout), ("EXITEMPTY", ExitEmpty)],
)
def test_unanswered_exits(name: str, cls: type[QueueLogEvent]) -> None:
    event = parsed(f"1732153108|1.30|general|NONE|{name}|2|3|8")

    assert type(event) is cls
    assert isinstance(event, WaitEnded)
    assert (event.position, event.orig_position, event.waittime) == (2, 3, 8)


def test_exitwithkey() -> None:
    event = parsed("1732154245|1.42|general|NONE|EXITWITHKEY|1|1|2|45")

    assert isinstance(event, ExitWithKey)
    assert (event.key, event.position, event.orig_position, event.waittime) == ("1", 1, 2, 45)


def test_withdraw() -> None:
    event = parsed("1732154245|1.42|general|NONE|WITHDRAW|1|1|45|to expert")

    assert isinstance(event, Withdraw)
    assert (event.waittime, event.info) == (45, "to expert")


@pytest.mark.parametrize(
    ("name", "cls"), [("COMPLETECALLER", CompleteCaller), ("COMPLETEAGENT", CompleteAgent)]
)
def test_completions(name: str, cls: type[QueueLogEvent]) -> None:
    event = parsed(f"1732151024|1.5|general|1001|{name}|4|120|1")

    assert type(event) is cls
    assert isinstance(event, CallEnded)
    assert (event.holdtime, event.calltime, event.orig_position) == (4, 120, 1)


def test_blindtransfer() -> None:
    event = parsed("1732155163|1.50|general|1001|BLINDTRANSFER|expert|transfer-to-queue|3|60|1")

    assert isinstance(event, BlindTransfer)
    assert (event.exten, event.context, event.holdtime, event.calltime) == (
        "expert",
        "transfer-to-queue",
        3,
        60,
    )


@pytest.mark.parametrize(
    ("data", "target"),
    [
        ("BRIDGE|2d1e1b0f|12|120|1", ("BRIDGE", "2d1e1b0f")),
        ("APP|Queue|12|120|1", ("APP", "Queue")),
        (
            "LINK|PJSIP/1001-0001|PJSIP/2001-0002|12|120|1",
            ("LINK", "PJSIP/1001-0001", "PJSIP/2001-0002"),
        ),
    ],
)
def test_attendedtransfer_reads_the_times_from_the_end(data: str, target: tuple[str, ...]) -> None:
    event = parsed(f"1732155295|1.50|expert|2001|ATTENDEDTRANSFER|{data}")

    assert isinstance(event, AttendedTransfer)
    assert (event.target, event.holdtime, event.calltime, event.orig_position) == (
        target,
        12,
        120,
        1,
    )


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "1|NONE|NONE|1001|PAUSEALL|acw",
            Pause(1, 1, "NONE", "NONE", "1001", "PAUSEALL", "acw", True),
        ),
        (
            "1|NONE|general|1001|PAUSE|acw",
            Pause(1, 1, "NONE", "general", "1001", "PAUSE", "acw", False),
        ),
        ("1|NONE|general|1001|PAUSE", Pause(1, 1, "NONE", "general", "1001", "PAUSE", "", False)),
        (
            "1|NONE|NONE|1001|UNPAUSEALL|",
            Unpause(1, 1, "NONE", "NONE", "1001", "UNPAUSEALL", "", True),
        ),
        (
            "1|MANAGER|general|1001|ADDMEMBER|",
            AddMember(1, 1, "MANAGER", "general", "1001", "ADDMEMBER", False),
        ),
        (
            "1|MANAGER|general|1001|ADDMEMBER|PAUSED",
            AddMember(1, 1, "MANAGER", "general", "1001", "ADDMEMBER", True),
        ),
        (
            "1|MANAGER|general|1001|REMOVEMEMBER|",
            RemoveMember(1, 1, "MANAGER", "general", "1001", "REMOVEMEMBER"),
        ),
        ("1|NONE|NONE|NONE|QUEUESTART|", QueueStart(1, 1, "NONE", "NONE", "NONE", "QUEUESTART")),
        (
            "1|NONE|general|1001|PENALTY|3",
            OtherEvent(1, 1, "NONE", "general", "1001", "PENALTY", ("3",)),
        ),
    ],
)
def test_agent_and_system_events(line: str, expected: QueueLogEvent) -> None:
    assert parse_line(line, 1) == expected


def test_fractional_time_is_floored() -> None:
    assert parsed("1732150900.75|NONE|NONE|NONE|QUEUESTART|").time == 1732150900


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("garbage", "expected at least 5 fields"),
        ("1732150900|a|b|c", "expected at least 5 fields"),
        ("soon|1.5|general|1001|CONNECT|4|1.6|4", "time is not an epoch"),
        ("-1|1.5|general|1001|CONNECT|4|1.6|4", "time is not an epoch"),
        ("1732150900|1.5|general|1001||4", "empty event name"),
        ("1732150900|1.5|general|1001|CONNECT|four|1.6|4", "holdtime is not a whole number"),
        ("1732150900|1.5|general|1001|CONNECT", "CONNECT needs 1 data fields"),
        ("1732150900|1.5|general|NONE|ABANDON|1|1", "ABANDON needs 3 data fields"),
        ("1732150900|1.5|general|NONE|ABANDON|1|1|-3", "waittime is not a whole number"),
        ("1732150900|1.5|general|1001|COMPLETECALLER|4|120", "COMPLETECALLER needs 3 data fields"),
        ("1732150900|1.5|general|1001|RINGNOANSWER|١٥", "ms is not a whole number"),
    ],
)
def test_malformed_lines_say_why(line: str, why: str) -> None:
    result = parse_line(line + "\n", 7)

    assert isinstance(result, Malformed)
    assert result.line_no == 7
    assert result.raw == line + "\n"
    assert why in result.why


def test_random_garbage_never_raises() -> None:
    rng = random.Random(12345)
    alphabet = "0123456789|.abcNONE-\r\t ENTERQUEUECONNECTABANDONPAUSE"
    for _ in range(5000):
        line = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        result = parse_line(line, 1)
        assert isinstance(result, QueueLogEvent | Malformed)


def test_parse_lines_skips_blank_lines_but_keeps_numbering() -> None:
    lines = ["1|NONE|NONE|NONE|QUEUESTART|\n", "\n", "bad\n", "2|NONE|NONE|NONE|QUEUESTART|\n"]

    results = list(parse_lines(lines))

    assert [r.line_no for r in results] == [1, 3, 4]
    assert isinstance(results[1], Malformed)


def test_malformed_fixture_counts_every_bad_line() -> None:
    results = list(read_queue_log(FIXTURES / "malformed.log"))

    bad = [r for r in results if isinstance(r, Malformed)]
    assert [m.line_no for m in bad] == [2, 4, 5, 7, 8]
    assert len(results) == 11


def test_undecodable_bytes_do_not_stop_the_read(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    path.write_bytes(
        b"1732150900|1.5|general|NONE|ENTERQUEUE|\xff\xfe|138\xe4\xb8|1\n"
        b"1732150904|1.5|general|1001|CONNECT|4|1.6|4\n"
    )

    results = list(read_queue_log(path))

    assert [type(r) for r in results] == [EnterQueue, Connect]
