"""``POST /api/v1/recordings/export``: a ZIP of up to 50 recordings, with a reason;
one ``export`` audit row per recording, committed before the bundle is sent."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from callctl.api.deps import DbPool, require
from callctl.api.errors import ApiError
from callctl.auth.principal import Principal
from callctl.auth.roles import Role
from recording.export import ExportItem, build_bundle, chunks
from recording.repository import write_audit

router = APIRouter()
Exporter = Annotated[Principal, Depends(require(Role.SUPERVISOR, Role.ADMIN, Role.AUDITOR))]


class ExportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a typo is a 422, not dropped
    recording_ids: list[Annotated[int, Field(ge=1, le=2**62)]] = Field(min_length=1, max_length=50)
    reason: str = Field(min_length=1, max_length=500, description="why (原因), required")


@router.post("/export")
async def export(
    request: Request, body: ExportIn, who: Exporter, pool: DbPool
) -> StreamingResponse:
    ids = sorted(set(body.recording_ids))
    store: Path = request.app.state.settings.recordings_root
    client = request.client.host if request.client is not None else None
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            "SELECT id, location, sha256, started_at FROM recordings"
            " WHERE id = ANY($1::bigint[]) AND deleted_at IS NULL ORDER BY id",
            ids,
        )
        missing = sorted(set(ids) - {r["id"] for r in rows})
        if missing:
            raise ApiError(
                422,
                "recording.not_found",
                f"no recordings {missing}",
                {"field": "recording_ids", "missing": missing},
            )
        items = [
            ExportItem(r["id"], r["location"], r["sha256"], r["started_at"].isoformat())
            for r in rows
        ]
        try:
            bundle = await asyncio.to_thread(build_bundle, store, items)
        except (OSError, ValueError) as exc:
            raise ApiError(409, "recording.file_missing", f"export failed: {exc}") from None
        for item in items:
            await write_audit(
                conn,
                actor=who.username,
                actor_role=who.role.value,
                action="export",
                recording_id=item.recording_id,
                remote_addr=client,
                detail={"reason": body.reason, "bundle": ids},
            )
    return StreamingResponse(
        chunks(bundle),
        media_type="application/zip",
        headers={
            "Content-Disposition": 'attachment; filename="recordings-export.zip"',
            "Cache-Control": "no-store",
        },
    )
