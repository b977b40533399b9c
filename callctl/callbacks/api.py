"""REST for callback tasks (回访): ``/api/v1/callbacks`` (create with a work-order id,
list, one task with its attempts), each line's forbidden hours, and the KPIs
回访率 (reached ÷ due) and 24-hour timeliness."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from callctl.api.deps import DbPool, Reader, require
from callctl.api.errors import ApiError
from callctl.api.filters import MAX_OFFSET
from callctl.api.window import parse_window
from callctl.auth.principal import Principal
from callctl.auth.roles import Role
from callctl.callbacks import repository
from callctl.callbacks.calendar import PRESETS, CalendarError, CallbackCalendar
from callctl.callbacks.scheduler import RESULT_LABELS, AttemptResult, TaskStatus
from callctl.calls.transfer import InvalidTargetError, check_number
from callctl.privacy import mask_number
from callctl.routing_config.api import routing_service

router = APIRouter(prefix="/api/v1/callbacks", tags=["callbacks"])
WRITERS = (Role.SUPERVISOR, Role.OPS, Role.ADMIN)

Writer = Annotated[Principal, Depends(require(*WRITERS))]
LineNumber = Annotated[str, Path(pattern=r"^[0-9]{3,20}$")]


class TaskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a typo is a 422, not dropped
    work_order: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="工单号")
    line: str = Field(pattern=r"^[0-9]{3,20}$", description="service line (DNIS)")
    number: str = Field(max_length=40, description="the citizen's number to call back")
    due_from: datetime | None = Field(default=None, description="default: now")
    due_until: datetime | None = Field(default=None, description="default: due_from + 24 h")
    max_attempts: int = Field(default=3, ge=1, le=10)
    retry_after_s: int = Field(default=1800, ge=60, le=86400)


class TaskCreated(BaseModel):
    id: int
    created: bool


class AttemptOut(BaseModel):
    attempt: int
    started_at: datetime
    ended_at: datetime | None
    agent: str | None
    result: str | None
    result_label: dict[str, str] | None


class TaskOut(BaseModel):
    id: int
    source: str
    source_ref: str
    work_order: str | None
    line: str
    number: str
    created_at: datetime
    due_from: datetime
    due_until: datetime
    status: str
    result: str | None
    attempts: int
    max_attempts: int
    retry_after_s: int
    reached_at: datetime | None
    agent: str | None
    attempt_log: list[AttemptOut] = []


class CalendarIn(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a typo is a 422, not dropped
    preset: str | None = Field(default=None, description="haikou: 12:00-14:30, 22:00-08:00")
    timezone: str = "Asia/Shanghai"
    forbidden: list[str] = Field(default=[], max_length=8, description='["12:00-14:30", ...]')


class CalendarOut(BaseModel):
    line: str
    timezone: str
    forbidden: list[str]


class CallbackKpis(BaseModel):
    start: datetime
    end: datetime
    due: int
    reached: int
    reached_within_24h: int
    callback_rate: Decimal | None = Field(description="回访率: reached ÷ due, %")
    timeliness_24h: Decimal | None = Field(description="24小时回访及时率: reached in 24 h ÷ due, %")
    labels: dict[str, dict[str, str]]


def _percent(numerator: int, denominator: int) -> Decimal | None:
    if denominator == 0:
        return None
    value = Decimal(numerator * 100) / Decimal(denominator)
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _task_out(row: Any, who: Principal, attempts: list[Any] | None = None) -> TaskOut:
    number = row["number"] if who.can_see_numbers else mask_number(row["number"]) or ""
    return TaskOut(
        id=row["id"],
        source=row["source"],
        source_ref=row["source_ref"],
        work_order=row["work_order"],
        line=row["line"],
        number=number,
        created_at=row["created_at"],
        due_from=row["due_from"],
        due_until=row["due_until"],
        status=row["status"],
        result=row["result"],
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        retry_after_s=row["retry_after_s"],
        reached_at=row["reached_at"],
        agent=row["agent"],
        attempt_log=[
            AttemptOut(
                attempt=a["attempt"],
                started_at=a["started_at"],
                ended_at=a["ended_at"],
                agent=a["agent"],
                result=a["result"],
                result_label=None
                if a["result"] is None
                else RESULT_LABELS[AttemptResult(a["result"])],
            )
            for a in attempts or []
        ],
    )


@router.post("", response_model=TaskCreated, status_code=201)
async def create_task(body: TaskIn, who: Writer, pool: DbPool, request: Request) -> TaskCreated:
    """A callback task for a work order; the same work order again returns the first."""
    _, doc = await routing_service(request).in_force()
    if body.line not in {line.number for line in doc.lines}:
        raise ApiError(
            422, "callbacks.unknown_line", f"line: no service line {body.line}", {"field": "line"}
        )
    try:
        number = check_number(body.number, "number")
    except InvalidTargetError as exc:
        raise ApiError(422, "callbacks.invalid_number", str(exc), {"field": "number"}) from None
    now = datetime.now(UTC)
    due_from = body.due_from or now
    if due_from.tzinfo is None:
        raise ApiError(
            422, "request.invalid_time", "due_from: give a time zone", {"field": "due_from"}
        )
    due_until = body.due_until or due_from + repository.DEFAULT_WINDOW
    if due_until.tzinfo is None or due_until <= due_from:
        raise ApiError(
            422,
            "callbacks.invalid_window",
            "due_until: must be after due_from, with a zone",
            {"field": "due_until"},
        )
    task_id, created = await repository.create_task(
        pool,
        repository.NewTask(
            source="api",
            source_ref=body.work_order,
            line=body.line,
            number=number,
            created_at=now,
            due_from=due_from,
            due_until=due_until,
            work_order=body.work_order,
            max_attempts=body.max_attempts,
            retry_after_s=body.retry_after_s,
        ),
    )
    return TaskCreated(id=task_id, created=created)


@router.get("", response_model=list[TaskOut])
async def list_tasks(
    who: Reader,
    pool: DbPool,
    status: Annotated[TaskStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[TaskOut]:
    rows = await repository.list_tasks(
        pool, None if status is None else status.value, limit, offset
    )
    return [_task_out(r, who) for r in rows]


@router.get("/kpis", response_model=CallbackKpis)
async def kpis(
    who: Reader,
    pool: DbPool,
    start: Annotated[str | None, Query()] = None,
    end: Annotated[str | None, Query()] = None,
) -> CallbackKpis:
    window = parse_window(start, end, "Asia/Shanghai")
    row = await repository.callback_kpis(pool, window.start, window.end)
    due, reached, within = int(row["due"]), int(row["reached"]), int(row["reached_24h"])
    return CallbackKpis(
        start=window.start,
        end=window.end,
        due=due,
        reached=reached,
        reached_within_24h=within,
        callback_rate=_percent(reached, due),
        timeliness_24h=_percent(within, due),
        labels={
            "callback_rate": {"zh-CN": "回访率", "en": "callback rate"},
            "timeliness_24h": {"zh-CN": "24小时回访及时率", "en": "reached within 24 h"},
        },
    )


@router.get("/{task_id}", response_model=TaskOut)
async def get_task(
    who: Reader, pool: DbPool, task_id: Annotated[int, Path(ge=1, le=2**62)]
) -> TaskOut:
    row = await repository.get_task(pool, task_id)
    if row is None:
        raise ApiError(404, "callbacks.not_found", f"no callback task {task_id}")
    return _task_out(row, who, await repository.attempts_of(pool, task_id))


@router.put("/calendars/{line}", response_model=CalendarOut)
async def put_calendar(
    body: CalendarIn, line: LineNumber, who: Writer, pool: DbPool
) -> CalendarOut:
    """A line's forbidden hours: a preset (``haikou``) or windows ``HH:MM-HH:MM``."""
    try:
        if body.preset is not None:
            if body.preset not in PRESETS:
                raise CalendarError("preset", f"unknown preset {body.preset!r}")
            calendar = PRESETS[body.preset]
        else:
            calendar = CallbackCalendar.of(body.forbidden, body.timezone)
    except CalendarError as exc:
        raise ApiError(422, "callbacks.invalid_calendar", str(exc), {"field": exc.field}) from None
    await repository.put_calendar(pool, line, calendar)
    return CalendarOut(
        line=line, timezone=calendar.timezone, forbidden=[str(w) for w in calendar.forbidden]
    )


@router.get("/calendars/{line}", response_model=CalendarOut)
async def get_calendar(line: LineNumber, who: Reader, pool: DbPool) -> CalendarOut:
    calendar = (await repository.calendars(pool)).get(line, CallbackCalendar())
    return CalendarOut(
        line=line, timezone=calendar.timezone, forbidden=[str(w) for w in calendar.forbidden]
    )
