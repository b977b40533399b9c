"""Asterisk queue_log lines to typed, immutable events.

A line is ``epoch|callid|queue|agent|event|data1|data2...``; data fields are not
escaped, so a field that may itself hold a ``|`` (caller ID, transfer target)
is located by counting from the fields around it. Formats follow app_queue.c
(see asterisk-notes.md, "queue_log"). ``agent`` is the member name for call and
pause events; ADDMEMBER/REMOVEMEMBER carry the interface unless queues.conf
sets ``log_membername_as_agent=yes``.

Parsing never raises: a line that cannot be read becomes ``Malformed`` for the
caller to count and log, so one bad line cannot stop ingest.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

NONE = "NONE"
"""What Asterisk writes in the callid, queue or agent field when there is none."""


@dataclass(frozen=True, slots=True)
class Malformed:
    """A line that could not be parsed: counted and logged, never fatal."""

    line_no: int
    raw: str
    why: str


@dataclass(frozen=True, slots=True)
class QueueLogEvent:
    """Fields common to every line. Subclasses add the event's data."""

    line_no: int
    time: int
    callid: str
    queue: str
    agent: str
    event: str


@dataclass(frozen=True, slots=True)
class EnterQueue(QueueLogEvent):
    """ENTERQUEUE ``url|callerid|position``."""

    url: str
    caller_num: str | None
    position: int | None


@dataclass(frozen=True, slots=True)
class Connect(QueueLogEvent):
    """CONNECT ``holdtime|member_uniqueid|ringtime`` (seconds)."""

    holdtime: int
    member_uniqueid: str | None
    ringtime: int | None


@dataclass(frozen=True, slots=True)
class RingNoAnswer(QueueLogEvent):
    """RINGNOANSWER ``ms``: an agent rang and did not answer (or was busy)."""

    ring_ms: int | None


@dataclass(frozen=True, slots=True)
class RingCanceled(QueueLogEvent):
    """RINGCANCELED ``ms``: the caller left while this agent was ringing."""

    ring_ms: int | None


@dataclass(frozen=True, slots=True)
class WaitEnded(QueueLogEvent):
    """A caller left the queue unanswered: ``pos|origpos|waittime`` (+ extras)."""

    position: int | None
    orig_position: int | None
    waittime: int


@dataclass(frozen=True, slots=True)
class Abandon(WaitEnded):
    """ABANDON: the caller hung up while waiting."""


@dataclass(frozen=True, slots=True)
class ExitWithTimeout(WaitEnded):
    """EXITWITHTIMEOUT: the queue's timeout sent the caller on."""


@dataclass(frozen=True, slots=True)
class ExitEmpty(WaitEnded):
    """EXITEMPTY: no member could take calls (leavewhenempty)."""


@dataclass(frozen=True, slots=True)
class ExitWithKey(WaitEnded):
    """EXITWITHKEY ``key|pos|origpos|waittime``."""

    key: str


@dataclass(frozen=True, slots=True)
class Withdraw(WaitEnded):
    """WITHDRAW ``pos|origpos|waittime|info``: removed by QueueWithdrawCaller."""

    info: str


@dataclass(frozen=True, slots=True)
class CallEnded(QueueLogEvent):
    """An answered queue call ended: ``...|holdtime|calltime|origpos``."""

    holdtime: int
    calltime: int
    orig_position: int | None


@dataclass(frozen=True, slots=True)
class CompleteCaller(CallEnded):
    """COMPLETECALLER: the caller hung up."""


@dataclass(frozen=True, slots=True)
class CompleteAgent(CallEnded):
    """COMPLETEAGENT: the agent hung up."""


@dataclass(frozen=True, slots=True)
class BlindTransfer(CallEnded):
    """BLINDTRANSFER ``exten|context|holdtime|calltime|origpos``."""

    exten: str
    context: str


@dataclass(frozen=True, slots=True)
class AttendedTransfer(CallEnded):
    """ATTENDEDTRANSFER ``BRIDGE|id`` / ``APP|app`` / ``LINK|a|b``, then the times."""

    target: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Pause(QueueLogEvent):
    """PAUSE ``reason`` (one queue) or PAUSEALL ``reason`` (queue NONE)."""

    reason: str
    all_queues: bool


@dataclass(frozen=True, slots=True)
class Unpause(QueueLogEvent):
    """UNPAUSE ``reason`` (one queue) or UNPAUSEALL (queue NONE)."""

    reason: str
    all_queues: bool


@dataclass(frozen=True, slots=True)
class AddMember(QueueLogEvent):
    """ADDMEMBER, data ``PAUSED`` when the member joined paused."""

    paused: bool


@dataclass(frozen=True, slots=True)
class RemoveMember(QueueLogEvent):
    """REMOVEMEMBER."""


@dataclass(frozen=True, slots=True)
class QueueStart(QueueLogEvent):
    """QUEUESTART: app_queue loaded, i.e. Asterisk (re)started."""


@dataclass(frozen=True, slots=True)
class OtherEvent(QueueLogEvent):
    """Any event callctl does not interpret (PENALTY, CONFIGRELOAD, AGENTDUMP ...)."""

    data: tuple[str, ...]


_Parser = Callable[[QueueLogEvent, Sequence[str]], QueueLogEvent]
_Head = tuple[int, int, str, str, str, str]


class _BadLine(Exception):
    """Internal: why a line is malformed. Never leaves this module."""


_EPOCH = re.compile(r"\d{1,12}(\.\d+)?")


def _int(text: str, name: str) -> int:
    if not text.isdecimal() or not text.isascii():
        raise _BadLine(f"{name} is not a whole number: {text!r}")
    return int(text)


def _optional_int(text: str | None, name: str) -> int | None:
    return None if text is None or text == "" else _int(text, name)


def _at(data: Sequence[str], index: int) -> str | None:
    return data[index] if -len(data) <= index < len(data) else None


def _need(data: Sequence[str], count: int, event: str) -> None:
    if len(data) < count:
        raise _BadLine(f"{event} needs {count} data fields, got {len(data)}")


def _enter_queue(head: QueueLogEvent, data: Sequence[str]) -> EnterQueue:
    _need(data, 2, head.event)
    # The caller ID is not escaped: take the URL from the front and the
    # position from the back, and the caller ID is whatever lies between.
    if len(data) >= 3:
        caller, position = "|".join(data[1:-1]), _optional_int(data[-1], "position")
    else:
        caller, position = data[1], None
    return EnterQueue(*_head(head), url=data[0], caller_num=caller or None, position=position)


def _connect(head: QueueLogEvent, data: Sequence[str]) -> Connect:
    _need(data, 1, head.event)
    return Connect(
        *_head(head),
        holdtime=_int(data[0], "holdtime"),
        member_uniqueid=_at(data, 1) or None,
        ringtime=_optional_int(_at(data, 2), "ringtime"),
    )


def _ring(cls: type[RingNoAnswer] | type[RingCanceled]) -> _Parser:
    def parse(head: QueueLogEvent, data: Sequence[str]) -> QueueLogEvent:
        return cls(*_head(head), ring_ms=_optional_int(_at(data, 0), "ms"))

    return parse


_Wait = tuple[int | None, int | None, int]


def _positions_and_wait(fields: Sequence[str]) -> _Wait:
    """``pos|origpos|waittime``, in ``WaitEnded`` field order."""
    return (
        _optional_int(fields[0], "pos"),
        _optional_int(fields[1], "origpos"),
        _int(fields[2], "waittime"),
    )


def _wait_ended(cls: type[Abandon] | type[ExitWithTimeout] | type[ExitEmpty]) -> _Parser:
    def parse(head: QueueLogEvent, data: Sequence[str]) -> QueueLogEvent:
        _need(data, 3, head.event)
        return cls(*_head(head), *_positions_and_wait(data[:3]))

    return parse


def _exit_with_key(head: QueueLogEvent, data: Sequence[str]) -> ExitWithKey:
    _need(data, 4, head.event)
    return ExitWithKey(*_head(head), *_positions_and_wait(data[-3:]), key="|".join(data[:-3]))


def _withdraw(head: QueueLogEvent, data: Sequence[str]) -> Withdraw:
    _need(data, 3, head.event)
    return Withdraw(*_head(head), *_positions_and_wait(data[:3]), info="|".join(data[3:]))


_Times = tuple[int, int, int | None]


def _times(data: Sequence[str], event: str) -> _Times:
    """``holdtime|calltime|origpos``, in ``CallEnded`` field order.

    Transfers put free text first, so the times are read from the end.
    """
    _need(data, 3, event)
    return (
        _int(data[-3], "holdtime"),
        _int(data[-2], "calltime"),
        _optional_int(data[-1], "origpos"),
    )


def _complete(cls: type[CompleteCaller] | type[CompleteAgent]) -> _Parser:
    def parse(head: QueueLogEvent, data: Sequence[str]) -> QueueLogEvent:
        return cls(*_head(head), *_times(data[:3], head.event))

    return parse


def _blind_transfer(head: QueueLogEvent, data: Sequence[str]) -> BlindTransfer:
    _need(data, 5, head.event)
    return BlindTransfer(
        *_head(head), *_times(data, head.event), exten=data[0], context="|".join(data[1:-3])
    )


def _attended_transfer(head: QueueLogEvent, data: Sequence[str]) -> AttendedTransfer:
    _need(data, 4, head.event)
    return AttendedTransfer(*_head(head), *_times(data, head.event), target=tuple(data[:-3]))


def _pause(head: QueueLogEvent, data: Sequence[str]) -> QueueLogEvent:
    cls = Pause if head.event in ("PAUSE", "PAUSEALL") else Unpause
    return cls(*_head(head), reason=_at(data, 0) or "", all_queues=head.event.endswith("ALL"))


def _add_member(head: QueueLogEvent, data: Sequence[str]) -> AddMember:
    return AddMember(*_head(head), paused=_at(data, 0) == "PAUSED")


def _remove_member(head: QueueLogEvent, data: Sequence[str]) -> RemoveMember:
    return RemoveMember(*_head(head))


def _queue_start(head: QueueLogEvent, data: Sequence[str]) -> QueueStart:
    return QueueStart(*_head(head))


_PARSERS: dict[str, _Parser] = {
    "ENTERQUEUE": _enter_queue,
    "CONNECT": _connect,
    "RINGNOANSWER": _ring(RingNoAnswer),
    "RINGCANCELED": _ring(RingCanceled),
    "ABANDON": _wait_ended(Abandon),
    "EXITWITHTIMEOUT": _wait_ended(ExitWithTimeout),
    "EXITEMPTY": _wait_ended(ExitEmpty),
    "EXITWITHKEY": _exit_with_key,
    "WITHDRAW": _withdraw,
    "COMPLETECALLER": _complete(CompleteCaller),
    "COMPLETEAGENT": _complete(CompleteAgent),
    "BLINDTRANSFER": _blind_transfer,
    "ATTENDEDTRANSFER": _attended_transfer,
    "PAUSE": _pause,
    "PAUSEALL": _pause,
    "UNPAUSE": _pause,
    "UNPAUSEALL": _pause,
    "ADDMEMBER": _add_member,
    "REMOVEMEMBER": _remove_member,
    "QUEUESTART": _queue_start,
}


def _head(head: QueueLogEvent) -> _Head:
    # Positional, in field order, so subclasses are built with a typed splat.
    return (head.line_no, head.time, head.callid, head.queue, head.agent, head.event)


def parse_line(raw: str, line_no: int) -> QueueLogEvent | Malformed:
    """One queue_log line (with or without its line end) to an event, or ``Malformed``."""
    line = raw.rstrip("\r\n")
    parts = line.split("|")
    if len(parts) < 5:
        return Malformed(line_no, raw, f"expected at least 5 fields, got {len(parts)}")
    epoch, callid, queue, agent, event = parts[:5]
    if not _EPOCH.fullmatch(epoch):
        return Malformed(line_no, raw, f"time is not an epoch: {epoch!r}")
    if not event:
        return Malformed(line_no, raw, "empty event name")
    # Asterisk writes whole seconds; floor a fractional time like AMI Timestamps.
    head = QueueLogEvent(line_no, int(epoch.split(".")[0]), callid, queue, agent, event)
    data = parts[5:]
    parser = _PARSERS.get(event)
    if parser is None:
        return OtherEvent(*_head(head), data=tuple(data))
    try:
        return parser(head, data)
    except _BadLine as bad:
        return Malformed(line_no, raw, str(bad))


def parse_lines(
    lines: Iterable[str], first_line_no: int = 1
) -> Iterator[QueueLogEvent | Malformed]:
    """Parse lines in order; blank lines (a trailing newline) are skipped but numbered."""
    for line_no, raw in enumerate(lines, start=first_line_no):
        if raw.strip():
            yield parse_line(raw, line_no)


def read_queue_log(path: Path) -> Iterator[QueueLogEvent | Malformed]:
    """The edge: parse a whole queue_log file.

    Undecodable bytes become U+FFFD instead of failing the read: queue_log is
    written byte for byte from caller-controlled data.
    """
    with path.open(encoding="utf-8", errors="replace", newline="\n") as lines:
        yield from parse_lines(lines)
