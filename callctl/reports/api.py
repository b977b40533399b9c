"""REST: render a report, generate one into the report folder, list and fetch the folder's."""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from callctl.api.deps import DbPool, Reader, require
from callctl.api.errors import ApiError
from callctl.api.filters import ID_PATTERN, MAX_ROW_ID
from callctl.api.openapi import error_responses
from callctl.api.window import Day
from callctl.assessment.service import UnknownScheme
from callctl.auth.principal import Principal
from callctl.auth.roles import Role
from callctl.db_types import Connection
from callctl.reports.periods import ReportKind, period_start
from callctl.reports.service import FORMATS, build_report, file_name, render, write_report

router = APIRouter(prefix="/api/v1", tags=["reports"], responses=error_responses(404, 503))

Editor = Annotated[Principal, Depends(require(Role.SUPERVISOR, Role.ADMIN))]
Format = Literal["xlsx", "html"]
MEDIA = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "html": "text/html; charset=utf-8",
}


class ReportFileOut(BaseModel):
    id: int
    kind: ReportKind
    line: str | None
    period_start: date
    format: str
    bytes: int
    created_at: datetime
    url: str


class GenerateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a typo is a 422, not dropped
    kind: ReportKind
    start: Day = Field(description="any day of the period (a week starts on Monday), 2000-2099")
    line: str | None = Field(default=None, pattern=ID_PATTERN)
    scheme: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_-]{0,39}$")


async def _build(request: Request, conn: Connection, body: GenerateIn) -> Any:
    caps = await request.app.state.acw_caps()
    tz = request.app.state.settings.timezone
    start = period_start(body.kind, body.start)
    try:
        return await build_report(
            conn, body.kind, start, line=body.line, acw_caps=caps, tz=tz, scheme=body.scheme
        )
    except UnknownScheme as exc:
        raise ApiError(
            404, "assessment.unknown_scheme", f"no scheme named {body.scheme!r}",
            {"field": "scheme"},
        ) from exc  # fmt: skip


@router.get("/reports/render", response_class=Response, responses=error_responses(404))
async def render_report(
    request: Request,
    pool: DbPool,
    principal: Reader,
    kind: ReportKind,
    start: Annotated[Day, Query(description="any day of the period, 2000-2099")],
    format: Format = "xlsx",
    line: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    scheme: Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9_-]{0,39}$")] = None,
) -> Response:
    """日报/周报/月报/年报 of a line, rendered now (not stored)."""
    body = GenerateIn(kind=kind, start=start, line=line, scheme=scheme)
    async with pool.acquire() as conn:
        report = await _build(request, conn, body)
    name = file_name(report.kind, report.start, report.line, format)
    return Response(
        render(report, format),
        media_type=MEDIA[format],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _folder(request: Request) -> Path:
    folder: Path | None = request.app.state.settings.reports_dir
    if folder is None:
        raise ApiError(503, "reports.no_folder", "no report folder is configured (reports_dir)")
    return folder


@router.post(
    "/reports",
    response_model=list[ReportFileOut],
    status_code=201,
    responses=error_responses(503),
)
async def generate_report(
    request: Request, body: GenerateIn, pool: DbPool, principal: Editor
) -> list[ReportFileOut]:
    """Generate a report now into the report folder (XLSX and HTML)."""
    folder = _folder(request)
    async with pool.acquire() as conn:
        report = await _build(request, conn, body)
        for fmt in FORMATS:
            await write_report(conn, folder, report, fmt)
        rows = await conn.fetch(
            "SELECT * FROM report_files WHERE kind = $1 AND line IS NOT DISTINCT FROM $2 "
            "AND period_start = $3 ORDER BY format",
            report.kind.value, report.line, report.start,
        )  # fmt: skip
    return [_file_out(r) for r in rows]


def _file_out(row: Any) -> ReportFileOut:
    return ReportFileOut(
        id=row["id"], kind=row["kind"], line=row["line"], period_start=row["period_start"],
        format=row["format"], bytes=row["bytes"], created_at=row["created_at"],
        url=f"/api/v1/reports/{row['id']}/file",
    )  # fmt: skip


@router.get("/reports", response_model=list[ReportFileOut])
async def list_reports(
    pool: DbPool,
    principal: Reader,
    kind: ReportKind | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[ReportFileOut]:
    """Reports in the folder (generated on schedule or on request), newest first."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT * FROM report_files WHERE $1::text IS NULL OR kind = $1 "
            "ORDER BY period_start DESC, kind, line, format LIMIT $2",
            None if kind is None else kind.value,
            limit,
        )
    return [_file_out(r) for r in rows]


@router.get("/reports/{report_id}/file", response_class=Response)
async def report_file(
    report_id: Annotated[int, PathParam(ge=1, le=MAX_ROW_ID)], pool: DbPool, principal: Reader
) -> Response:
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM report_files WHERE id = $1", report_id)
    if row is None:
        raise ApiError(404, "reports.not_found", f"no report {report_id}")
    path = Path(row["path"])
    try:
        data = await asyncio.to_thread(path.read_bytes)
    except FileNotFoundError as exc:
        raise ApiError(410, "reports.file_gone", f"{path.name} is no longer in the folder") from exc
    return Response(
        data,
        media_type=MEDIA[row["format"]],
        headers={"Content-Disposition": f'attachment; filename="{path.name}"'},
    )
