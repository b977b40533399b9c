"""``PUT /api/v1/recordings/ingest/{node}/{file_name}``: a node's shipper delivers one
finished raw recording (``callctl recordings ship``, ``recording.shipper``).

- Who: a token of role ops or admin (a user per node, e.g. ``ship-a``).
- Body: the raw MixMonitor file as Asterisk left it, streamed to a temporary file in
  the store while it is hashed (never held in memory; the API guard allows
  ``CALLCTL_RECORDINGS_MAX_UPLOAD_BYTES`` for this method and path only).
- ``X-Content-SHA256`` (the node's hash of the raw file) must equal the hash of what
  arrived, else 400 and nothing is kept; ``X-Recording-Mtime`` (MixMonitor's last write,
  epoch seconds) dates the recording as the collector does from the file.
- Then the collector's own path (``recording.store``): sox to stereo FLAC (caller 1,
  agent 2), SHA-256, the metadata row, an ``ingest`` audit row, the link to its entry.
- Idempotent on ``(node, file_key)``: the same name with the same raw hash again is
  answered 200 ``already`` (or ``deleted`` when retention deleted it meanwhile) and
  stored once; the same name with another hash is 409 and changes nothing.

The answer names what was stored (node, file_key, raw_sha256, id): the shipper removes
its file only when all of them match what it sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import IO, Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Depends, Header, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from callctl.api.deps import DbPool, require
from callctl.api.errors import ApiError
from callctl.api.openapi import error_responses
from callctl.auth.principal import Principal
from callctl.auth.roles import Role
from callctl.db_types import Pool
from recording.audio import ConversionError
from recording.naming import (
    NODE_ID,
    RawName,
    RecordingNameError,
    is_safe_location,
    shipped_name,
)
from recording.repository import link_entries
from recording.store import INCOMING, IngestAudit, store_raw

log = logging.getLogger(__name__)

router = APIRouter(prefix="/ingest", tags=["recordings"])
Shipper = Annotated[Principal, Depends(require(Role.OPS, Role.ADMIN))]
SHA256_PATTERN = r"^[0-9a-f]{64}$"
_WRITE_BLOCK = 1 << 20
CONVERSIONS_AT_ONCE = 2  # sox is CPU-bound: at most this many uploads convert at once
_IN_FLIGHT: set[tuple[str, str]] = set()
_DB_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)
_EARLIEST_MTIME = 946684800.0  # 2000-01-01
_FUTURE_SLACK_S = 86400.0
_RECENT = timedelta(hours=1)
_BINARY = {"type": "string", "format": "binary"}


class IngestOut(BaseModel):
    stored: Literal["new", "already", "deleted"]
    id: int | None
    node: str
    file_key: str
    raw_sha256: str
    raw_bytes: int
    sha256: str | None
    size_bytes: int | None
    duration_s: float | None


def _check_mtime(mtime: float) -> float:
    if not math.isfinite(mtime) or not _EARLIEST_MTIME <= mtime <= time.time() + _FUTURE_SLACK_S:
        raise ApiError(
            422,
            "recording.bad_mtime",
            "X-Recording-Mtime: not a plausible epoch time of the recording's end",
            {"field": "X-Recording-Mtime"},
        )
    return mtime


def _declared_length(request: Request) -> int:
    value = request.headers.get("content-length", "")
    if not value.isdigit() or len(value) > 15:
        raise ApiError(
            411,
            "recording.length_required",
            "the raw recording's length must be declared in Content-Length",
            {"field": "Content-Length"},
        )
    return int(value)


def _check_node(request: Request, node: str, file_name: str) -> RawName:
    try:
        name, _complete = shipped_name(node, file_name)
    except RecordingNameError as exc:
        field = "file_name" if NODE_ID.fullmatch(node) else "node"
        raise ApiError(422, exc.error_id, str(exc), {"field": field}) from None
    known: frozenset[str] | None = getattr(request.app.state, "recording_nodes", None)
    if known is not None and node not in known:
        message = f"node {node!r} is not in the nodes file"
        raise ApiError(422, "recording.unknown_node", message, {"field": "node"})
    return name


async def _existing(pool: Pool, node: str, file_key: str) -> asyncpg.Record | None:
    try:
        async with pool.acquire() as conn:
            row: asyncpg.Record | None = await conn.fetchrow(
                "SELECT id, raw_sha256, deleted_at, location, sha256, size_bytes, duration_s"
                " FROM recordings WHERE node = $1 AND file_key = $2",
                node,
                file_key,
            )
            return row
    except _DB_ERRORS as exc:
        raise ApiError(503, "recording.db_unavailable", f"database unavailable: {exc}") from None


async def _receive(request: Request, sink: Path | None) -> tuple[str, int]:
    """The body, hashed and (when ``sink``) written to ``sink``: (sha256, bytes)."""
    digest = hashlib.sha256()
    received = 0
    pending: list[bytes] = []
    pending_bytes = 0
    out: IO[bytes] | None = None
    try:
        if sink is not None:
            out = await asyncio.to_thread(sink.open, "wb")
        async for chunk in request.stream():
            digest.update(chunk)
            received += len(chunk)
            if out is not None:
                pending.append(chunk)
                pending_bytes += len(chunk)
                if pending_bytes >= _WRITE_BLOCK:
                    await asyncio.to_thread(out.write, b"".join(pending))
                    pending, pending_bytes = [], 0
        if out is not None:
            await asyncio.to_thread(out.write, b"".join(pending))
    finally:
        if out is not None:
            await asyncio.to_thread(out.close)
    return digest.hexdigest(), received


async def _needs_body(store: Path, existing: asyncpg.Record, declared: str) -> bool:
    """Whether an upload of a name stored before must be stored (again): only when the
    row is live and its file is not there, or it came from a spool scan (no raw hash:
    refreshed, as a second scan would). A deleted one stays deleted; another hash is
    refused; the same hash with its file kept is a replay."""
    if existing["deleted_at"] is not None:
        return False
    if existing["raw_sha256"] is None:
        return True
    if existing["raw_sha256"] != declared:
        return False
    location: str = existing["location"]
    present = is_safe_location(location) and await asyncio.to_thread((store / location).is_file)
    return not present


def _answer(
    status: int,
    stored: Literal["new", "already", "deleted"],
    node: str,
    name: RawName,
    raw_sha256: str,
    raw_bytes: int,
    row: dict[str, Any] | None,
) -> JSONResponse:
    body = IngestOut(
        stored=stored,
        id=row["id"] if row else None,
        node=node,
        file_key=name.file_key,
        raw_sha256=raw_sha256,
        raw_bytes=raw_bytes,
        sha256=row["sha256"] if row else None,
        size_bytes=row["size_bytes"] if row else None,
        duration_s=row["duration_s"] if row else None,
    )
    return JSONResponse(body.model_dump(), status_code=status)


@router.put(
    "/{node}/{file_name}",
    response_model=IngestOut,
    status_code=201,
    responses={
        200: {"description": "Stored before (same name, same raw hash): nothing changed"},
        **error_responses(400, 409, 411, 503),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "the raw MixMonitor file (8 kHz, 16-bit, stereo), streamed",
            "content": {"application/octet-stream": {"schema": _BINARY}},
        }
    },
)
async def ingest(
    request: Request,
    node: Annotated[str, PathParam(max_length=32, description="the node's id")],
    file_name: Annotated[str, PathParam(max_length=255, description="the spool file's name")],
    who: Shipper,
    pool: DbPool,
    content_sha256: Annotated[
        str, Header(alias="X-Content-SHA256", pattern=SHA256_PATTERN, description="raw file")
    ],
    recording_mtime: Annotated[
        float, Header(alias="X-Recording-Mtime", description="epoch s of MixMonitor's last write")
    ],
) -> JSONResponse:
    """A node's finished raw recording, stored once (录音上传; for ``callctl recordings ship``).
    The body's length must be declared (``Content-Length``, not chunked)."""
    name = _check_node(request, node, file_name)
    mtime = _check_mtime(recording_mtime)
    content_length = _declared_length(request)
    key = (node, name.file_key)
    if key in _IN_FLIGHT:
        raise ApiError(
            503,
            "recording.busy",
            f"{name.file_key} is being stored by another request; retry",
            {"retry_after_s": 5},
        )
    _IN_FLIGHT.add(key)
    store: Path = request.app.state.settings.recordings_root
    incoming = store / INCOMING
    tmp = incoming / f"{uuid.uuid4().hex}.raw"
    try:
        existing = await _existing(pool, node, name.file_key)
        keep_body = existing is None or await _needs_body(store, existing, content_sha256)
        if keep_body:
            await asyncio.to_thread(incoming.mkdir, parents=True, exist_ok=True)
        digest, received = await _receive(request, tmp if keep_body else None)
        if digest != content_sha256 or received != content_length:
            raise ApiError(
                400,
                "recording.digest_mismatch",
                f"received {received} bytes with SHA-256 {digest}, not the declared"
                f" {content_length} bytes with {content_sha256}: nothing kept; send it again",
                {"field": "X-Content-SHA256"},
            )
        if existing is not None and existing["raw_sha256"] not in (None, digest):
            raise ApiError(
                409,
                "recording.conflict",
                f"{node}/{name.file_key} was stored with another raw SHA-256"
                f" ({existing['raw_sha256']}): not replaced",
                {"field": "file_name", "stored_raw_sha256": existing["raw_sha256"]},
            )
        if existing is not None and not keep_body:
            was: Literal["deleted", "already"] = (
                "deleted" if existing["deleted_at"] is not None else "already"
            )
            return _answer(200, was, node, name, digest, received, dict(existing))
        return await _store(request, pool, store, who, node, name, tmp, mtime, digest, received)
    finally:
        _IN_FLIGHT.discard(key)
        with contextlib.suppress(OSError):
            await asyncio.to_thread(tmp.unlink, missing_ok=True)


async def _store(
    request: Request,
    pool: Pool,
    store: Path,
    who: Principal,
    node: str,
    name: RawName,
    raw: Path,
    mtime: float,
    digest: str,
    received: int,
) -> JSONResponse:
    client = request.client.host if request.client is not None else None
    audit = IngestAudit(
        actor=who.username,
        actor_role=who.role.value,
        remote_addr=client,
        detail={"node": node, "raw_sha256": digest, "raw_bytes": received},
    )
    try:
        async with _conversions(request):
            stored = await store_raw(
                pool,
                store,
                node,
                name,
                raw,
                mtime=mtime,
                source="ship",
                raw_sha256=digest,
                audit=audit,
            )
    except ConversionError as exc:
        raise ApiError(503, exc.error_id, str(exc)) from None
    except _DB_ERRORS as exc:
        log.warning("recording %s/%s not stored: %s", node, name.file_key, exc)
        raise ApiError(503, "recording.store_unavailable", f"not stored: {exc}") from None
    row = {
        "id": stored.recording_id,
        "sha256": stored.converted.sha256,
        "size_bytes": stored.converted.size_bytes,
        "duration_s": stored.converted.duration_s,
    }
    log.info("recording %s/%s shipped by %s: id %s", node, name.file_key, who.username, row["id"])
    await _link_soon(request, pool)
    if stored.recording_id is None:
        return _answer(200, "deleted", node, name, digest, received, row)
    return _answer(201, "new", node, name, digest, received, row)


def _conversions(request: Request) -> asyncio.Semaphore:
    """The app's own (a semaphore belongs to the event loop it first waited in)."""
    state = request.app.state
    semaphore: asyncio.Semaphore | None = getattr(state, "recording_conversions", None)
    if semaphore is None:
        semaphore = state.recording_conversions = asyncio.Semaphore(CONVERSIONS_AT_ONCE)
    return semaphore


async def _link_soon(request: Request, pool: Pool) -> None:
    """Link the recording to its entry now if that is stored; else the collector's
    periodic link does it once the entry comes."""
    try:
        async with pool.acquire() as conn, conn.transaction():
            await link_entries(conn, _RECENT)
    except _DB_ERRORS as exc:  # stored and committed: the periodic link retries
        log.warning("recording link deferred: %s", exc)
    collector = getattr(request.app.state, "recordings", None)
    if collector is not None:
        collector.task.nudge()
