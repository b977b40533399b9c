"""The callback scheduler (pure): when each task may be dialled, and what a result does.

A task is due from ``due_from`` until ``due_until``; it is never dialled inside its
line's forbidden hours (the next dial moves to the window's end), never before its
retry spacing after the last attempt, and at most ``max_attempts`` times. Results:
answered (reached: done), busy and no answer (retry while attempts remain), invalid
number (done, not reached). The state machine refuses an illegal move.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from callctl.callbacks.calendar import CallbackCalendar


class TaskStatus(StrEnum):
    PENDING = "pending"  # not yet dialled
    DIALLING = "dialling"  # an attempt is in flight
    RETRY = "retry"  # the last attempt failed, another is allowed
    REACHED = "reached"  # answered: done
    EXHAUSTED = "exhausted"  # max attempts without reaching the citizen
    INVALID = "invalid"  # invalid number: done
    EXPIRED = "expired"  # the due window ended before reaching the citizen


class AttemptResult(StrEnum):
    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    INVALID = "invalid"
    FAILED = "failed"  # the agent leg failed (agent did not answer): no attempt counted
    # callctl stopped during the attempt and nothing recorded how it ended: counted as
    # an attempt (the citizen may have been rung), retried after the spacing.
    INTERRUPTED = "interrupted"


RESULT_LABELS: dict[AttemptResult, dict[str, str]] = {
    AttemptResult.ANSWERED: {"zh-CN": "已接通", "en": "answered"},
    AttemptResult.BUSY: {"zh-CN": "忙", "en": "busy"},
    AttemptResult.NO_ANSWER: {"zh-CN": "无人接听", "en": "no answer"},
    AttemptResult.INVALID: {"zh-CN": "空号", "en": "invalid number"},
    AttemptResult.FAILED: {"zh-CN": "坐席未接", "en": "agent leg failed"},
    AttemptResult.INTERRUPTED: {"zh-CN": "中断（系统重启）", "en": "interrupted (callctl stopped)"},
}

OPEN = frozenset({TaskStatus.PENDING, TaskStatus.RETRY})
_MOVES: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.PENDING: frozenset({TaskStatus.DIALLING, TaskStatus.EXPIRED}),
    TaskStatus.RETRY: frozenset({TaskStatus.DIALLING, TaskStatus.EXPIRED}),
    TaskStatus.DIALLING: frozenset(
        {
            TaskStatus.REACHED,
            TaskStatus.RETRY,
            TaskStatus.EXHAUSTED,
            TaskStatus.INVALID,
            TaskStatus.PENDING,
        }
    ),
}


class IllegalMoveError(RuntimeError):
    def __init__(self, old: TaskStatus, new: TaskStatus) -> None:
        super().__init__(f"callback task cannot go from {old.value} to {new.value}")


def _move(old: TaskStatus, new: TaskStatus) -> TaskStatus:
    if new not in _MOVES.get(old, frozenset()):
        raise IllegalMoveError(old, new)
    return new


@dataclass(frozen=True, slots=True)
class CallbackTask:
    task_id: int
    line: str
    number: str
    created_at: datetime
    due_from: datetime
    due_until: datetime
    max_attempts: int = 3
    retry_after: timedelta = timedelta(minutes=30)
    attempts: int = 0
    status: TaskStatus = TaskStatus.PENDING
    last_attempt_at: datetime | None = None
    reached_at: datetime | None = None


def next_dial_at(task: CallbackTask, calendar: CallbackCalendar, now: datetime) -> datetime | None:
    """When ``task`` may next be dialled, seen at ``now``; None when it never will again.
    A task due before a forbidden window and not dialled by its start waits for its end."""
    if task.status not in OPEN:
        return None
    earliest = max(task.due_from, now)
    if task.last_attempt_at is not None:
        earliest = max(earliest, task.last_attempt_at + task.retry_after)
    allowed = calendar.next_allowed(earliest)
    return allowed if allowed < task.due_until else None


def due_now(
    tasks: Iterable[CallbackTask],
    calendars: Mapping[str, CallbackCalendar],
    now: datetime,
    default: CallbackCalendar | None = None,
) -> list[CallbackTask]:
    """The open tasks that may be dialled at ``now``, the longest-due first."""
    fallback = default or CallbackCalendar()
    ready: list[tuple[datetime, int, CallbackTask]] = []
    for task in tasks:
        at = next_dial_at(task, calendars.get(task.line, fallback), now)
        if at is not None and at <= now:
            ready.append((task.due_from, task.task_id, task))
    return [t for _, _, t in sorted(ready, key=lambda r: (r[0], r[1]))]


def expire(task: CallbackTask, calendar: CallbackCalendar, now: datetime) -> CallbackTask:
    """An open task with no dial time left in its window ends as expired."""
    if task.status in OPEN and next_dial_at(task, calendar, now) is None:
        return replace(task, status=_move(task.status, TaskStatus.EXPIRED))
    return task


def start_attempt(task: CallbackTask, at: datetime) -> CallbackTask:
    return replace(
        task,
        status=_move(task.status, TaskStatus.DIALLING),
        attempts=task.attempts + 1,
        last_attempt_at=at,
    )


def finish_attempt(task: CallbackTask, result: AttemptResult, at: datetime) -> CallbackTask:
    if result is AttemptResult.ANSWERED:
        return replace(task, status=_move(task.status, TaskStatus.REACHED), reached_at=at)
    if result is AttemptResult.INVALID:
        return replace(task, status=_move(task.status, TaskStatus.INVALID))
    if result is AttemptResult.FAILED:  # the citizen was never dialled: not an attempt
        return replace(
            task,
            status=_move(
                task.status, TaskStatus.PENDING if task.attempts == 1 else TaskStatus.RETRY
            ),
            attempts=task.attempts - 1,
        )
    if task.attempts >= task.max_attempts:
        return replace(task, status=_move(task.status, TaskStatus.EXHAUSTED))
    return replace(task, status=_move(task.status, TaskStatus.RETRY))


def pacing_slots(in_flight: int, limit: int, free_agents: int) -> int:
    """How many attempts to start now: never more in flight than ``limit`` (the outbound
    trunk's channels), never more than agents free to take them (agent-first)."""
    return max(0, min(limit - in_flight, free_agents))
