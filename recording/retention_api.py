"""REST for retention classes (保存期限类别) and each line's class (admins).

A recording's expiry is its start plus its line's class's days (class
``standard``, 1096 days = 3 years, for a line without one). Changing a class or a
line's class re-dates the line's recordings that are not deleted yet.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from callctl.api.deps import Admin, DbPool, Reader
from callctl.api.errors import ApiError

router = APIRouter(prefix="/retention")
ClassName = Annotated[str, PathParam(pattern=r"^[a-z][a-z0-9_-]{0,39}$")]
LineNumber = Annotated[str, PathParam(pattern=r"^[0-9]{3,20}$")]


class RetentionClass(BaseModel):
    name: str
    days: int
    label_zh: str


class RetentionClassIn(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a typo is a 422, not dropped
    days: int = Field(ge=1, le=36500, description="days kept after the recording's start")
    label_zh: str = Field(default="", max_length=40)


class LineRetentionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a typo is a 422, not dropped
    retention_class: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,39}$")


class LineRetention(BaseModel):
    line: str
    retention_class: str


_REDATE = """
UPDATE recordings r SET retention_class = c.name,
       expires_at = r.started_at + make_interval(days => c.days)
FROM recording_retention_classes c
WHERE r.deleted_at IS NULL
  AND c.name = COALESCE((SELECT class FROM recording_line_retention WHERE line = r.line),
                        'standard')
  AND ({where})
"""


@router.get("/classes", response_model=list[RetentionClass])
async def classes(who: Reader, pool: DbPool) -> list[RetentionClass]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT name, days, label_zh FROM recording_retention_classes")
    return [RetentionClass(**dict(r)) for r in rows]


@router.put("/classes/{name}", response_model=RetentionClass)
async def put_class(
    name: ClassName, body: RetentionClassIn, who: Admin, pool: DbPool
) -> RetentionClass:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO recording_retention_classes (name, days, label_zh) VALUES ($1, $2, $3)"
            " ON CONFLICT (name) DO UPDATE SET days = EXCLUDED.days, label_zh = EXCLUDED.label_zh",
            name,
            body.days,
            body.label_zh,
        )
        await conn.execute(_REDATE.format(where="r.retention_class = $1"), name)
    return RetentionClass(name=name, days=body.days, label_zh=body.label_zh)


@router.put("/lines/{line}", response_model=LineRetention)
async def put_line(
    line: LineNumber, body: LineRetentionIn, who: Admin, pool: DbPool
) -> LineRetention:
    async with pool.acquire() as conn, conn.transaction():
        known = await conn.fetchval(
            "SELECT 1 FROM recording_retention_classes WHERE name = $1", body.retention_class
        )
        if known is None:
            raise ApiError(
                422,
                "recording.unknown_class",
                f"no retention class {body.retention_class!r}",
                {"field": "retention_class"},
            )
        await conn.execute(
            "INSERT INTO recording_line_retention (line, class) VALUES ($1, $2)"
            " ON CONFLICT (line) DO UPDATE SET class = EXCLUDED.class",
            line,
            body.retention_class,
        )
        await conn.execute(_REDATE.format(where="r.line = $1"), line)
    return LineRetention(line=line, retention_class=body.retention_class)
