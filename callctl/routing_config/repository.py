"""Stored routing config versions (asyncpg). Each function is one statement."""

from __future__ import annotations

from callctl.db_types import Pool
from callctl.routing_config.schemas import RoutingDoc, VersionView

VERSION_COLUMNS = "id, created_at, created_by, change, status, applied_at, error_id, error_message"


async def current(pool: Pool) -> tuple[int, RoutingDoc] | None:
    """The newest version Asterisk accepted, or None before the first change."""
    row = await pool.fetchrow(
        "SELECT id, document FROM routing_config_versions"
        " WHERE status = 'applied' ORDER BY id DESC LIMIT 1"
    )
    if row is None:
        return None
    return int(row["id"]), RoutingDoc.model_validate_json(row["document"])


async def add_version(pool: Pool, doc: RoutingDoc, created_by: int | None, change: str) -> int:
    version: int = await pool.fetchval(
        "INSERT INTO routing_config_versions (document, created_by, change)"
        " VALUES ($1::jsonb, $2, $3) RETURNING id",
        doc.model_dump_json(),
        created_by,
        change,
    )
    return version


async def set_status(
    pool: Pool,
    version: int,
    status: str,
    *,
    error_id: str | None = None,
    error_message: str | None = None,
) -> None:
    await pool.execute(
        "UPDATE routing_config_versions SET status = $2, error_id = $3, error_message = $4,"
        " applied_at = CASE WHEN $2 = 'applied' THEN now() END WHERE id = $1",
        version,
        status,
        error_id,
        error_message,
    )


async def versions(pool: Pool, limit: int) -> list[VersionView]:
    rows = await pool.fetch(
        f"SELECT {VERSION_COLUMNS} FROM routing_config_versions ORDER BY id DESC LIMIT $1",
        limit,
    )
    return [VersionView.model_validate(dict(row)) for row in rows]
