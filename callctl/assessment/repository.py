"""SQL for assessment schemes, external inputs and outage days (append-only, with history)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from callctl.db_types import Queryable
from kpi.assessment.presets import PRESETS
from kpi.assessment.scheme import ExternalInput, Scheme


@dataclass(frozen=True, slots=True)
class SchemeVersion:
    scheme: Scheme
    valid_from: str
    created_by: str | None
    """``None`` for a preset."""
    created_at: datetime | None


async def scheme_for_month(conn: Queryable, name: str, month: str) -> SchemeVersion | None:
    """The version of ``name`` in force in ``month``: the latest stored with ``valid_from``
    ≤ month, else the preset of that name, else ``None``."""
    row = await conn.fetchrow(
        "SELECT body, valid_from, created_by, created_at FROM assessment_schemes "
        "WHERE name = $1 AND valid_from <= $2 ORDER BY valid_from DESC, id DESC LIMIT 1",
        name,
        month,
    )
    if row is not None:
        scheme = Scheme.model_validate_json(row["body"])
        return SchemeVersion(scheme, row["valid_from"], row["created_by"], row["created_at"])
    preset = PRESETS.get(name)
    return None if preset is None else SchemeVersion(preset, preset.valid_from, None, None)


async def scheme_names(conn: Queryable) -> list[str]:
    rows = await conn.fetch("SELECT DISTINCT name FROM assessment_schemes")
    return sorted({*PRESETS, *(r["name"] for r in rows)})


async def scheme_versions(conn: Queryable, name: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT id, valid_from, created_by, created_at FROM assessment_schemes "
        "WHERE name = $1 ORDER BY valid_from, id",
        name,
    )
    return [dict(r) for r in rows]


async def store_scheme(conn: Queryable, scheme: Scheme, user: str) -> int:
    body = json.dumps(scheme.model_dump(mode="json"), ensure_ascii=False)
    value: int = await conn.fetchval(
        "INSERT INTO assessment_schemes (name, valid_from, body, created_by) "
        "VALUES ($1, $2, $3::jsonb, $4) RETURNING id",
        scheme.name,
        scheme.valid_from,
        body,
        user,
    )
    return value


@dataclass(frozen=True, slots=True)
class InputEntry:
    key: str
    value: Decimal | None
    entered_by: str
    entered_at: datetime


async def current_inputs(conn: Queryable, month: str) -> dict[ExternalInput, Decimal]:
    rows = await conn.fetch(
        "SELECT DISTINCT ON (key) key, value FROM assessment_inputs WHERE month = $1 "
        "ORDER BY key, id DESC",
        month,
    )
    return {ExternalInput(r["key"]): r["value"] for r in rows if r["value"] is not None}


async def input_history(conn: Queryable, month: str) -> list[InputEntry]:
    rows = await conn.fetch(
        "SELECT key, value, entered_by, entered_at FROM assessment_inputs WHERE month = $1 "
        "ORDER BY key, id",
        month,
    )
    return [InputEntry(r["key"], r["value"], r["entered_by"], r["entered_at"]) for r in rows]


async def store_inputs(
    conn: Queryable, month: str, values: dict[ExternalInput, Decimal | None], user: str
) -> None:
    """One row per key whose value changes; an unchanged value adds nothing."""
    current = await current_inputs(conn, month)
    for key, value in sorted(values.items()):
        if current.get(key) == value:
            continue
        await conn.execute(
            "INSERT INTO assessment_inputs (month, key, value, entered_by) VALUES ($1, $2, $3, $4)",
            month,
            key.value,
            value,
            user,
        )


@dataclass(frozen=True, slots=True)
class OutageMark:
    day: date
    reason: str
    active: bool
    marked_by: str
    marked_at: datetime


async def outage_marks(conn: Queryable, start: date, end: date) -> list[OutageMark]:
    """Every mark of the days in ``[start, end)``, oldest first (the history)."""
    rows = await conn.fetch(
        "SELECT day, reason, active, marked_by, marked_at FROM outage_days "
        "WHERE day >= $1 AND day < $2 ORDER BY day, id",
        start,
        end,
    )
    return [OutageMark(**dict(r)) for r in rows]


def active_outages(marks: list[OutageMark]) -> dict[date, OutageMark]:
    """The latest mark of each day, where it is active."""
    latest: dict[date, OutageMark] = {}
    for mark in marks:
        latest[mark.day] = mark
    return {day: m for day, m in latest.items() if m.active}


async def mark_outage(conn: Queryable, day: date, reason: str, active: bool, user: str) -> None:
    await conn.execute(
        "INSERT INTO outage_days (day, reason, active, marked_by) VALUES ($1, $2, $3, $4)",
        day,
        reason,
        active,
        user,
    )


async def gap_days(
    conn: Queryable, start: datetime, end: datetime, tz: str
) -> list[dict[str, Any]]:
    """Days on which callctl itself saw a gap (AMI cut, Asterisk or callctl down)."""
    rows = await conn.fetch(
        "SELECT date_trunc('day', started_at, $3::text) AS day, node, reason, "
        "sum(extract(epoch FROM ended_at - started_at))::bigint AS seconds, count(*) AS gaps "
        "FROM ingest_gaps WHERE started_at < $2 AND ended_at > $1 "
        "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        start,
        end,
        tz,
    )
    return [dict(r) for r in rows]
