"""The callback scheduler with a moved clock: forbidden hours, retries, pacing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from callctl.callbacks.calendar import HAIKOU_PRESET, CalendarError, CallbackCalendar
from callctl.callbacks.scheduler import (
    AttemptResult,
    CallbackTask,
    IllegalMoveError,
    TaskStatus,
    due_now,
    expire,
    finish_attempt,
    next_dial_at,
    pacing_slots,
    start_attempt,
)

SH = ZoneInfo("Asia/Shanghai")


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=SH)


def task(due: datetime, **kw: object) -> CallbackTask:
    return CallbackTask(
        task_id=int(kw.pop("task_id", 1)),  # type: ignore[call-overload]
        line="12345",
        number="13800138000",
        created_at=due,
        due_from=due,
        due_until=due + timedelta(hours=24),
        **kw,  # type: ignore[arg-type]
    )


def test_due_at_noon_waits_until_half_past_two() -> None:
    t = task(local(3, 12, 10))
    assert next_dial_at(t, HAIKOU_PRESET, local(3, 12, 10)) == local(3, 14, 30)
    calendars = {"12345": HAIKOU_PRESET}
    assert due_now([t], calendars, local(3, 12, 10)) == []
    assert due_now([t], calendars, local(3, 14, 29)) == []
    assert due_now([t], calendars, local(3, 14, 30)) == [t]


def test_due_before_ten_pm_not_dialled_after_ten_waits_until_eight() -> None:
    t = task(local(3, 21, 50))
    calendars = {"12345": HAIKOU_PRESET}
    assert due_now([t], calendars, local(3, 21, 50)) == [t]  # still allowed at 21:50
    # Not dialled before 22:00 (no free agent, say): from then on it waits for 08:00.
    assert next_dial_at(t, HAIKOU_PRESET, local(3, 22, 0)) == local(4, 8, 0)
    assert due_now([t], calendars, local(3, 22, 0)) == []
    assert due_now([t], calendars, local(4, 7, 59)) == []
    assert due_now([t], calendars, local(4, 8, 0)) == [t]
    # A busy attempt at 21:55 with 30 min spacing: next at 08:00, not 22:25.
    retry = finish_attempt(start_attempt(t, local(3, 21, 55)), AttemptResult.BUSY, local(3, 21, 56))
    assert next_dial_at(retry, HAIKOU_PRESET, local(3, 21, 56)) == local(4, 8, 0)


def test_utc_input_gives_the_same_moment() -> None:
    due = local(3, 12, 10).astimezone(UTC)
    at = next_dial_at(task(due), HAIKOU_PRESET, due)
    assert at == local(3, 14, 30) and at is not None and at.tzinfo is UTC


def test_retry_spacing_max_attempts_and_results() -> None:
    t = task(local(3, 9, 0), max_attempts=2, retry_after=timedelta(minutes=30))
    t = start_attempt(t, local(3, 9, 0))
    assert t.status is TaskStatus.DIALLING and t.attempts == 1
    t = finish_attempt(t, AttemptResult.BUSY, local(3, 9, 1))
    assert t.status is TaskStatus.RETRY
    assert next_dial_at(t, HAIKOU_PRESET, local(3, 9, 1)) == local(3, 9, 30)
    t = start_attempt(t, local(3, 9, 30))
    t = finish_attempt(t, AttemptResult.NO_ANSWER, local(3, 9, 31))
    assert t.status is TaskStatus.EXHAUSTED
    assert next_dial_at(t, HAIKOU_PRESET, local(3, 10)) is None

    reached = finish_attempt(
        start_attempt(task(local(3, 9)), local(3, 9)), AttemptResult.ANSWERED, local(3, 9, 1)
    )
    assert reached.status is TaskStatus.REACHED and reached.reached_at == local(3, 9, 1)
    invalid = finish_attempt(
        start_attempt(task(local(3, 9)), local(3, 9)), AttemptResult.INVALID, local(3, 9)
    )
    assert invalid.status is TaskStatus.INVALID
    failed = finish_attempt(
        start_attempt(task(local(3, 9)), local(3, 9)), AttemptResult.FAILED, local(3, 9)
    )
    assert failed.status is TaskStatus.PENDING and failed.attempts == 0


def test_illegal_moves_raise() -> None:
    with pytest.raises(IllegalMoveError):
        finish_attempt(task(local(3, 9)), AttemptResult.ANSWERED, local(3, 9))
    reached = finish_attempt(
        start_attempt(task(local(3, 9)), local(3, 9)), AttemptResult.ANSWERED, local(3, 9)
    )
    with pytest.raises(IllegalMoveError):
        start_attempt(reached, local(3, 10))


def test_window_end_expires_a_task() -> None:
    t = CallbackTask(1, "12345", "13800138000", local(3, 21), local(3, 22, 30), local(3, 23))
    assert next_dial_at(t, HAIKOU_PRESET, local(3, 21)) is None
    assert expire(t, HAIKOU_PRESET, local(3, 21)).status is TaskStatus.EXPIRED


def test_oldest_first_and_pacing() -> None:
    a = task(local(3, 9, 5), task_id=2)
    b = task(local(3, 9, 0), task_id=3)
    assert due_now([a, b], {}, local(3, 10)) == [b, a]
    assert pacing_slots(in_flight=2, limit=3, free_agents=5) == 1
    assert pacing_slots(in_flight=3, limit=3, free_agents=5) == 0
    assert pacing_slots(in_flight=0, limit=3, free_agents=2) == 2
    assert pacing_slots(in_flight=4, limit=3, free_agents=2) == 0


def test_calendar_checks() -> None:
    with pytest.raises(CalendarError):
        CallbackCalendar.of(["25:00-01:00"])
    with pytest.raises(CalendarError):
        CallbackCalendar.of(["08:00-08:00"])
    with pytest.raises(CalendarError):
        CallbackCalendar.of(["00:00-12:00", "12:00-00:00"])
    with pytest.raises(CalendarError):
        CallbackCalendar.of([], timezone="Mars/Base")
    adjacent = CallbackCalendar.of(["12:00-13:00", "13:00-14:00"])
    assert adjacent.next_allowed(local(3, 12, 30)) == local(3, 14, 0)


def test_interrupted_attempt_counts_and_waits_for_the_spacing() -> None:
    """callctl stopped mid-attempt, nothing tells how it ended: the attempt counts (the
    citizen may have been rung) and the next waits for the spacing, never at once."""
    t = task(local(3, 9, 0), max_attempts=2, retry_after=timedelta(minutes=30))
    t = finish_attempt(start_attempt(t, local(3, 9)), AttemptResult.INTERRUPTED, local(3, 9, 5))
    assert (t.status, t.attempts) == (TaskStatus.RETRY, 1)
    assert next_dial_at(t, HAIKOU_PRESET, local(3, 9, 5)) == local(3, 9, 30)
    t = finish_attempt(start_attempt(t, local(3, 9, 30)), AttemptResult.INTERRUPTED, local(3, 10))
    assert t.status is TaskStatus.EXHAUSTED
