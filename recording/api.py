"""REST for recordings (录音): search, metadata, audio with HTTP Range, holds, the
audit trail. Every listen, download, hold, release and permanence writes one
``recording_audit`` row in the transaction that authorises it, before any byte of
audio is sent; auditors read the trail, nothing changes it.

Who may hear: supervisors (班长), admins and auditors (审计); an agent only its own
calls and only with ``CALLCTL_RECORDINGS_AGENTS_LISTEN``; ops never.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from callctl.api.deps import DbPool, require
from callctl.api.errors import ApiError
from callctl.api.filters import ID_PATTERN, MAX_ROW_ID, agent_scope
from callctl.api.window import parse_window
from callctl.auth.principal import Principal
from callctl.auth.roles import Role
from callctl.db_types import Pool
from callctl.privacy import mask_number
from recording import export_api, page, qa_api, retention_api, upload_api
from recording.naming import is_safe_location
from recording.ranges import ByteRange, RangeError, parse_range
from recording.repository import write_audit
from recording.survey_keys import DEFAULT_DISSATISFIED_KEYS

router = APIRouter(prefix="/api/v1/recordings", tags=["recordings"])
router.include_router(retention_api.router)
router.include_router(qa_api.router)
router.include_router(export_api.router)
router.include_router(upload_api.router)
routes = APIRouter()
"""Everything of recordings the app serves: the API and the player page."""

LISTENERS = (Role.SUPERVISOR, Role.ADMIN, Role.AUDITOR, Role.AGENT)
HOLDERS = (Role.SUPERVISOR, Role.AUDITOR)
Listener = Annotated[Principal, Depends(require(*LISTENERS))]
Holder = Annotated[Principal, Depends(require(*HOLDERS))]
Auditor = Annotated[Principal, Depends(require(Role.AUDITOR))]
Keeper = Annotated[Principal, Depends(require(Role.SUPERVISOR, Role.ADMIN))]
RecordingId = Annotated[int, PathParam(ge=1, le=2**62, description="the recording's id")]
CHUNK = 64 * 1024


class RecordingOut(BaseModel):
    id: int
    node: str
    callid: str
    queue: str
    seq: int | None
    line: str | None
    agent: str | None
    caller_num: str | None
    started_at: datetime
    duration_s: float
    channels: int
    channel_layout: dict[str, int] = Field(
        default={"caller": 1, "agent": 2}, description="caller left (1), agent right (2)"
    )
    sample_rate: int
    codec: str
    size_bytes: int
    sha256: str
    retention_class: str
    expires_at: datetime
    legal_hold: bool
    hold_reason: str | None
    permanent: bool
    permanent_reason: str | None
    deleted_at: datetime | None
    survey_answer: int | None


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a typo is a 422, not dropped
    reason: str = Field(min_length=1, max_length=500, description="why (原因), required")


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str
    actor_role: str
    action: str
    recording_id: int
    remote_addr: str | None
    detail: dict[str, Any]


_SELECT = """
SELECT r.*, q.caller_num, s.answer AS survey_answer
FROM recordings r
LEFT JOIN queue_entries q
  ON q.node = r.node AND q.callid = r.callid AND q.queue = r.queue AND q.seq = r.seq
LEFT JOIN survey_answers s
  ON s.node = r.node AND s.callid = r.callid AND s.queue = r.queue AND s.seq = r.seq
"""


def _out(row: asyncpg.Record, principal: Principal) -> RecordingOut:
    data = dict(row)
    number = data.pop("caller_num")
    data["caller_num"] = number if principal.can_see_numbers else mask_number(number)
    return RecordingOut.model_validate(data, from_attributes=False)


def _may_hear(request: Request, principal: Principal, agent: str | None) -> None:
    if principal.role is not Role.AGENT:
        return
    if not request.app.state.settings.recordings_agents_listen:
        raise ApiError(403, "auth.forbidden", "agents may not hear recordings here")
    if principal.agent_id is None or agent != principal.agent_id:
        raise ApiError(403, "auth.other_agent", "an agent may only hear its own calls")


async def _fetch(conn: asyncpg.Connection, recording_id: int, lock: bool = False) -> asyncpg.Record:
    sql = _SELECT + " WHERE r.id = $1" + (" FOR UPDATE OF r" if lock else "")
    row = await conn.fetchrow(sql, recording_id)
    if row is None:
        raise ApiError(404, "recording.not_found", f"no recording {recording_id}")
    return row


def _client(request: Request) -> str | None:
    return request.client.host if request.client is not None else None


@router.get("", response_model=list[RecordingOut])
async def search(
    request: Request,
    who: Listener,
    pool: DbPool,
    start: Annotated[str | None, Query(description="ISO 8601; default today")] = None,
    end: Annotated[str | None, Query()] = None,
    line: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    agent: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    caller: Annotated[str | None, Query(pattern=r"^\+?[0-9]{3,20}$")] = None,
    survey: Annotated[
        Literal["dissatisfied", "answered", "none"] | None,
        Query(
            description="dissatisfied (不满意): an answer among the line's survey keys not "
            "counted as satisfied (3 by default); none: no answer"
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[RecordingOut]:
    """Recordings by time, line, agent, caller number and survey result (不满意: per the
    line's survey, 3 by default)."""
    window = parse_window(start, end, request.app.state.settings.timezone)
    agent = agent_scope(who, agent)
    if caller is not None and not who.can_see_numbers:
        raise ApiError(
            403, "auth.numbers_hidden", "searching by caller number needs can_see_numbers"
        )
    where = ["r.started_at >= $1", "r.started_at < $2", "r.deleted_at IS NULL"]
    args: list[Any] = [window.start, window.end]
    for column, value in (("r.line", line), ("r.agent", agent), ("q.caller_num", caller)):
        if value is not None:
            args.append(value)
            where.append(f"{column} = ${len(args)}")
    if survey == "dissatisfied":
        by_line = await request.app.state.dissatisfied_keys()
        args.append(json.dumps({line: sorted(keys) for line, keys in by_line.items()}))
        args.append(sorted(DEFAULT_DISSATISFIED_KEYS))
        where.append(
            f"s.answer IN (SELECT jsonb_array_elements_text(${len(args) - 1}::jsonb -> r.line)"
            f"::int UNION ALL SELECT unnest(${len(args)}::int[])"
            f" WHERE NOT (${len(args) - 1}::jsonb ? COALESCE(r.line, '')))"
        )
    elif survey == "answered":
        where.append("s.answer IS NOT NULL")
    elif survey == "none":
        where.append("s.answer IS NULL")
    args.append(limit)
    sql = f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY r.started_at, r.id LIMIT ${len(args)}"
    async with pool.acquire() as conn:
        rows = await conn.fetch(sql, *args)
    return [_out(row, who) for row in rows]


@router.get("/audit", response_model=list[AuditOut])
async def audit_trail(
    who: Auditor,
    pool: DbPool,
    recording_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[AuditOut]:
    """The access audit trail (审计日志), auditors only; append-only."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT id, at, actor, actor_role, action, recording_id, remote_addr, detail::text"
            " FROM recording_audit WHERE ($1::bigint IS NULL OR recording_id = $1)"
            " ORDER BY id LIMIT $2",
            recording_id,
            limit,
        )
    return [AuditOut(**{**dict(row), "detail": json.loads(row["detail"])}) for row in rows]


@router.get("/{recording_id}", response_model=RecordingOut)
async def metadata(
    request: Request, recording_id: RecordingId, who: Listener, pool: DbPool
) -> RecordingOut:
    async with pool.acquire() as conn:
        row = await _fetch(conn, recording_id)
    _may_hear(request, who, row["agent"])
    return _out(row, who)


def _file_chunks(path: Path, byte_range: ByteRange) -> Iterator[bytes]:
    with path.open("rb") as f:
        f.seek(byte_range.first)
        left = byte_range.length
        while left > 0:
            block = f.read(min(CHUNK, left))
            if not block:
                return
            left -= len(block)
            yield block


@router.get("/{recording_id}/audio")
async def audio(
    request: Request,
    recording_id: RecordingId,
    who: Listener,
    pool: DbPool,
    download: Annotated[bool, Query(description="as an attachment (下载)")] = False,
    range_header: Annotated[str | None, Header(alias="Range")] = None,
) -> StreamingResponse:
    """The FLAC (stereo: caller left, agent right), with HTTP Range for seeking."""
    store: Path = request.app.state.settings.recordings_root
    async with pool.acquire() as conn:
        row = await _fetch(conn, recording_id)
        _may_hear(request, who, row["agent"])
        if row["deleted_at"] is not None:
            raise ApiError(410, "recording.deleted", f"recording {recording_id} was deleted")
        location: str = row["location"]
        if not is_safe_location(location):
            raise ApiError(500, "recording.bad_location", "stored location is not inside the store")
        path = store / location
        try:
            size = (await asyncio.to_thread(path.stat)).st_size
        except FileNotFoundError:
            raise ApiError(
                404, "recording.file_missing", f"recording {recording_id}: file missing"
            ) from None
        try:
            byte_range = parse_range(range_header, size) if range_header else ByteRange(0, size - 1)
        except RangeError as exc:
            raise ApiError(416, exc.error_id, str(exc), {"field": "Range", "size": size}) from None
        action = "download" if download else "listen"
        async with conn.transaction():
            await write_audit(
                conn,
                actor=who.username,
                actor_role=who.role.value,
                action=action,
                recording_id=recording_id,
                remote_addr=_client(request),
                detail={"range": range_header} if range_header else {},
            )
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Length": str(byte_range.length),
        "Cache-Control": "no-store",
    }
    if download:
        headers["Content-Disposition"] = f'attachment; filename="recording-{recording_id}.flac"'
    status = 200
    if range_header:
        status = 206
        headers["Content-Range"] = byte_range.content_range(size)
    return StreamingResponse(
        _file_chunks(path, byte_range), status_code=status, media_type="audio/flac", headers=headers
    )


async def _set_flag(
    request: Request,
    pool: Pool,
    who: Principal,
    recording_id: int,
    action: str,
    sql: str,
    reason: str,
) -> RecordingOut:
    async with pool.acquire() as conn, conn.transaction():
        await _fetch(conn, recording_id, lock=True)
        await conn.execute(sql, recording_id, reason)
        await write_audit(
            conn,
            actor=who.username,
            actor_role=who.role.value,
            action=action,
            recording_id=recording_id,
            remote_addr=_client(request),
            detail={"reason": reason},
        )
        row = await _fetch(conn, recording_id)
    return _out(row, who)


@router.put("/{recording_id}/hold", response_model=RecordingOut)
async def hold(
    request: Request, recording_id: RecordingId, body: ReasonIn, who: Holder, pool: DbPool
) -> RecordingOut:
    """Legal hold (冻结): never deleted while held. A reason is required."""
    return await _set_flag(
        request,
        pool,
        who,
        recording_id,
        "hold",
        "UPDATE recordings SET legal_hold = true, hold_reason = $2 WHERE id = $1",
        body.reason,
    )


@router.post("/{recording_id}/hold/release", response_model=RecordingOut)
async def release(
    request: Request, recording_id: RecordingId, body: ReasonIn, who: Holder, pool: DbPool
) -> RecordingOut:
    return await _set_flag(
        request,
        pool,
        who,
        recording_id,
        "release",
        "UPDATE recordings SET legal_hold = false, hold_reason = $2 WHERE id = $1",
        body.reason,
    )


@router.put("/{recording_id}/permanent", response_model=RecordingOut)
async def permanent(
    request: Request,
    recording_id: RecordingId,
    body: ReasonIn,
    who: Keeper,
    pool: DbPool,
) -> RecordingOut:
    """Keep for ever (重要录音永久保存). A reason is required."""
    return await _set_flag(
        request,
        pool,
        who,
        recording_id,
        "permanent",
        "UPDATE recordings SET permanent = true, permanent_reason = $2 WHERE id = $1",
        body.reason,
    )


routes.include_router(router)
routes.include_router(page.router)
