"""Callback tasks in PostgreSQL: create, read the open ones, record attempts, KPIs.

Tasks from the IVR's after-hours messages carry only the contracts' base columns:
their due window defaults to 24 h from ``created_at``, with 3 attempts 30 min apart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from callctl.callbacks.calendar import CallbackCalendar, ForbiddenWindow
from callctl.callbacks.scheduler import AttemptResult, CallbackTask, TaskStatus
from callctl.db_types import Pool

DEFAULT_WINDOW = timedelta(hours=24)

_TASK_COLUMNS = (
    "id, source, source_ref, line, number, created_at, work_order, status, result, agent, "
    "attempts, max_attempts, retry_after_s, reached_at, "
    "COALESCE(due_from, created_at) AS due_from, "
    "COALESCE(due_until, created_at + interval '24 hours') AS due_until, "
    "(SELECT max(a.started_at) FROM callback_attempts a WHERE a.task_id = callback_tasks.id) "
    "  AS last_attempt_at"
)


@dataclass(frozen=True, slots=True)
class NewTask:
    source: str
    source_ref: str
    line: str
    number: str
    created_at: datetime
    due_from: datetime
    due_until: datetime
    work_order: str | None
    max_attempts: int
    retry_after_s: int


async def create_task(pool: Pool, task: NewTask) -> tuple[int, bool]:
    """(id, created): the same (source, source_ref) again returns the first task."""
    row = await pool.fetchrow(
        "INSERT INTO callback_tasks (source, source_ref, line, number, created_at, work_order, "
        "due_from, due_until, max_attempts, retry_after_s) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
        "ON CONFLICT (source, source_ref) DO NOTHING RETURNING id",
        task.source,
        task.source_ref,
        task.line,
        task.number,
        task.created_at,
        task.work_order,
        task.due_from,
        task.due_until,
        task.max_attempts,
        task.retry_after_s,
    )
    if row is not None:
        return int(row["id"]), True
    existing = await pool.fetchval(
        "SELECT id FROM callback_tasks WHERE source = $1 AND source_ref = $2",
        task.source,
        task.source_ref,
    )
    return int(existing), False


def to_task(row: Any) -> CallbackTask:
    return CallbackTask(
        task_id=row["id"],
        line=row["line"],
        number=row["number"],
        created_at=row["created_at"],
        due_from=row["due_from"],
        due_until=row["due_until"],
        max_attempts=row["max_attempts"],
        retry_after=timedelta(seconds=row["retry_after_s"]),
        attempts=row["attempts"],
        status=TaskStatus(row["status"]),
        last_attempt_at=row["last_attempt_at"],
        reached_at=row["reached_at"],
    )


async def open_tasks(pool: Pool, limit: int = 500) -> list[CallbackTask]:
    rows = await pool.fetch(
        f"SELECT {_TASK_COLUMNS} FROM callback_tasks WHERE status IN ('pending', 'retry') "
        "ORDER BY COALESCE(due_from, created_at), id LIMIT $1",
        limit,
    )
    return [to_task(r) for r in rows]


async def list_tasks(pool: Pool, status: str | None, limit: int, offset: int) -> list[Any]:
    rows = await pool.fetch(
        f"SELECT {_TASK_COLUMNS} FROM callback_tasks "
        "WHERE ($1::text IS NULL OR status = $1) ORDER BY id DESC LIMIT $2 OFFSET $3",
        status,
        limit,
        offset,
    )
    return list(rows)


async def get_task(pool: Pool, task_id: int) -> Any:
    return await pool.fetchrow(f"SELECT {_TASK_COLUMNS} FROM callback_tasks WHERE id = $1", task_id)


async def attempts_of(pool: Pool, task_id: int) -> list[Any]:
    rows = await pool.fetch(
        "SELECT attempt, started_at, ended_at, agent, result FROM callback_attempts "
        "WHERE task_id = $1 ORDER BY attempt",
        task_id,
    )
    return list(rows)


async def in_flight(pool: Pool) -> int:
    count: int = await pool.fetchval(
        "SELECT count(*) FROM callback_tasks WHERE status = 'dialling'"
    )
    return count


async def start_attempt(
    pool: Pool, task: CallbackTask, agent: str, channel_id: str | None = None
) -> bool:
    """Claim ``task`` (already moved to dialling in memory) and log its attempt; False if
    another dialer took it first."""
    assert task.last_attempt_at is not None
    async with pool.acquire() as conn, conn.transaction():
        claimed = await conn.fetchval(
            "UPDATE callback_tasks SET status = 'dialling', attempts = $2, agent = $3 "
            "WHERE id = $1 AND status IN ('pending', 'retry') RETURNING id",
            task.task_id,
            task.attempts,
            agent,
        )
        if claimed is None:
            return False
        await conn.execute(
            "INSERT INTO callback_attempts (task_id, attempt, started_at, agent, channel_id) "
            "VALUES ($1, $2, $3, $4, $5)",
            task.task_id,
            task.attempts,
            task.last_attempt_at,
            agent,
            channel_id,
        )
    return True


async def finish_attempt(
    pool: Pool, task: CallbackTask, attempt: int, result: AttemptResult, at: datetime
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE callback_attempts SET ended_at = $3, result = $4 "
            "WHERE task_id = $1 AND attempt = $2 AND ended_at IS NULL",
            task.task_id,
            attempt,
            at,
            result.value,
        )
        await conn.execute(
            "UPDATE callback_tasks SET status = $2, attempts = $3, result = $4, reached_at = $5 "
            "WHERE id = $1 AND status = 'dialling'",
            task.task_id,
            task.status.value,
            task.attempts,
            result.value,
            task.reached_at,
        )


@dataclass(frozen=True, slots=True)
class LeftDialling:
    """A task left ``dialling`` (callctl stopped mid-attempt) and its open attempt."""

    task: CallbackTask
    agent: str | None
    channel_id: str | None
    started_at: datetime


async def left_dialling(pool: Pool) -> list[LeftDialling]:
    rows = await pool.fetch(
        f"SELECT {_TASK_COLUMNS}, a.attempt_channel AS channel_id, a.attempt_started_at, "
        "  a.attempt_agent "
        "FROM callback_tasks LEFT JOIN LATERAL ("
        "  SELECT o.channel_id AS attempt_channel, o.started_at AS attempt_started_at, "
        "    o.agent AS attempt_agent FROM callback_attempts o "
        "  WHERE o.task_id = callback_tasks.id AND o.ended_at IS NULL "
        "  ORDER BY o.started_at DESC LIMIT 1) a ON true "
        "WHERE status = 'dialling' ORDER BY id"
    )
    return [
        LeftDialling(
            to_task(r),
            r["attempt_agent"],
            r["channel_id"],
            r["attempt_started_at"] or r["last_attempt_at"] or r["created_at"],
        )
        for r in rows
    ]


async def recorded_outcome(pool: Pool, channel_id: str, since: datetime) -> tuple[str, str] | None:
    """(Status, Cause) of the ``CallctlCallback`` user event the attempt's agent leg sent,
    if ingest stored it among the raw AMI events (the leg's Linkedid is its own id)."""
    row = await pool.fetchrow(
        "SELECT headers->>'Status' AS status, headers->>'Cause' AS cause FROM ami_events "
        "WHERE linkedid = $1 AND received_at >= $2 AND name = 'UserEvent' "
        "AND headers->>'UserEvent' = 'CallctlCallback' ORDER BY received_at LIMIT 1",
        channel_id,
        since - timedelta(minutes=1),
    )
    if row is None:
        return None
    return row["status"] or "", row["cause"] or ""


async def set_status(pool: Pool, task_id: int, status: TaskStatus) -> None:
    await pool.execute("UPDATE callback_tasks SET status = $2 WHERE id = $1", task_id, status.value)


async def calendars(pool: Pool) -> dict[str, CallbackCalendar]:
    rows = await pool.fetch("SELECT line, timezone, forbidden FROM callback_calendars")
    out: dict[str, CallbackCalendar] = {}
    for row in rows:
        windows = (
            json.loads(row["forbidden"]) if isinstance(row["forbidden"], str) else row["forbidden"]
        )
        out[row["line"]] = CallbackCalendar(
            row["timezone"], tuple(ForbiddenWindow.parse(w) for w in windows)
        )
    return out


async def put_calendar(pool: Pool, line: str, calendar: CallbackCalendar) -> None:
    await pool.execute(
        "INSERT INTO callback_calendars (line, timezone, forbidden) VALUES ($1, $2, $3::jsonb) "
        "ON CONFLICT (line) DO UPDATE SET timezone = EXCLUDED.timezone, "
        "forbidden = EXCLUDED.forbidden, updated_at = now()",
        line,
        calendar.timezone,
        json.dumps([str(w) for w in calendar.forbidden]),
    )


async def callback_kpis(
    pool: Pool, start: datetime, end: datetime, line: str | None = None, agent: str | None = None
) -> Any:
    """回访率 and 24-hour timeliness over the tasks whose due window opened in [start, end)
    (of one line, or dialled by one agent, when given)."""
    return await pool.fetchrow(
        "SELECT count(*) AS due, "
        "  count(*) FILTER (WHERE status = 'reached') AS reached, "
        "  count(*) FILTER (WHERE status = 'reached' "
        "                   AND reached_at <= created_at + interval '24 hours') AS reached_24h "
        "FROM callback_tasks WHERE COALESCE(due_from, created_at) >= $1 "
        "AND COALESCE(due_from, created_at) < $2 "
        "AND ($3::text IS NULL OR line = $3) AND ($4::text IS NULL OR agent = $4)",
        start,
        end,
        line,
        agent,
    )
