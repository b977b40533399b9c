"""Reports built from the same queries as ``/kpis``, written to the report folder."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from callctl.api.kpis import KpiParamsOut, row_out
from callctl.assessment.api import assessment_out
from callctl.assessment.service import assess_month
from callctl.db_types import Connection, Pool, Queryable, fetch_one
from callctl.reports.model import ReportData, ViewData
from callctl.reports.page import build_html
from callctl.reports.periods import VIEWS, ReportKind, last_complete, title, window
from callctl.reports.workbook import build_workbook
from kpi.assessment.scheme import CallKpi, StepRule
from kpi.inputs import AcwCaps, KpiParams
from kpi.query import GroupBy, KpiQuery, query_kpis

log = logging.getLogger(__name__)

FORMATS = ("xlsx", "html")
LINE_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


async def build_report(
    conn: Connection, kind: ReportKind, start: date, *, line: str | None, acw_caps: AcwCaps,
    tz: str,
    scheme: str | None = None, now: datetime | None = None,
) -> ReportData:  # fmt: skip
    """The report of ``kind`` for the period starting ``start`` (one of its first days)."""
    window_start, window_end = window(kind, start, tz)
    params = KpiParams(acw_caps=acw_caps)
    views = []
    for view in VIEWS[kind]:
        q = KpiQuery(window_start, window_end, line=line, group_by=view.group_by,
                     params=params, tz=tz)  # fmt: skip
        views.append(ViewData(view, [row_out(r) for r in await query_kpis(conn, q)]))
    hourly = [0] * 24
    if kind is not ReportKind.YEARLY:
        q = KpiQuery(window_start, window_end, line=line, group_by=GroupBy.INTERVAL,
                     params=params, tz=tz)  # fmt: skip
        zone = ZoneInfo(tz)
        for row in await query_kpis(conn, q):
            if row.group is not None:
                hourly[datetime.fromisoformat(row.group).astimezone(zone).hour] += row.kpis.offered
    assessment = target = None
    if scheme is not None and kind is ReportKind.MONTHLY:
        month = f"{start:%Y-%m}"
        result = await assess_month(conn, scheme, month, line=line, acw_caps=acw_caps, tz=tz)
        assessment, target = assessment_out(result), _answer_target(result)
    return ReportData(
        kind=kind, start=start, line=line, tz=tz, title=title(kind, start, line),
        window_start=window_start, window_end=window_end,
        generated_at=now or datetime.now(UTC),
        params=KpiParamsOut(
            service_level_s=params.service_level_s, short_abandon_s=params.short_abandon_s,
            acw_max_s=dict(acw_caps.by_line), acw_max_s_default=acw_caps.default_s,
        ),
        views=views, hourly_offered=hourly, answer_rate_target=target, assessment=assessment,
    )  # fmt: skip


def _answer_target(result: Any) -> float | None:
    for rule in result.version.scheme.rules:
        if rule.kpi is not CallKpi.ANSWER_RATE:
            continue
        if isinstance(rule, StepRule):
            return float(rule.target)
        tier = next(t for t in rule.tiers if t.name == rule.pass_tier)
        return float(tier.at_least) if isinstance(tier.at_least, Decimal) else None
    return None


def render(report: ReportData, fmt: str) -> bytes:
    if fmt == "xlsx":
        return build_workbook(report)
    if fmt == "html":
        return build_html(report).encode()
    raise ValueError(f"unknown report format {fmt!r}")


def file_name(kind: ReportKind, start: date, line: str | None, fmt: str) -> str:
    if line is not None and not LINE_RE.fullmatch(line):
        raise ValueError(f"not a line id: {line!r}")
    return f"{kind.value}-{start.isoformat()}-{line or 'all'}.{fmt}"


async def write_report(
    conn: Queryable, folder: Path, report: ReportData, fmt: str
) -> dict[str, Any]:
    """Write the file (atomically, by rename) and record it in ``report_files``."""
    data = render(report, fmt)
    path = folder / file_name(report.kind, report.start, report.line, fmt)

    def write() -> None:
        folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(path.suffix + ".partial")
        partial.write_bytes(data)
        partial.replace(path)

    await asyncio.to_thread(write)
    row = await fetch_one(
        conn,
        "INSERT INTO report_files (kind, line, period_start, format, path, bytes) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (kind, line, period_start, format) "
        "DO UPDATE SET path = EXCLUDED.path, bytes = EXCLUDED.bytes, created_at = now() "
        "RETURNING id, created_at",
        report.kind.value, report.line, report.start, fmt, str(path), len(data),
    )  # fmt: skip
    return {"id": row["id"], "path": str(path), "bytes": len(data)}


@dataclass(frozen=True, slots=True)
class ScheduleSettings:
    folder: Path
    tz: str
    interval_s: float
    scheme: str | None


async def generate_due(
    pool: Pool, settings: ScheduleSettings, lines: list[str | None], acw_caps: AcwCaps,
    now: datetime,
) -> int:  # fmt: skip
    """Every report of the last complete day, week, month and year not written yet.

    With a scheme set, the current month's assessment is computed too, which keeps its
    per-call corrections cached for the API (only days changed since are recomputed)."""
    written = 0
    async with pool.acquire() as conn:
        if settings.scheme is not None:
            month = f"{now.astimezone(ZoneInfo(settings.tz)):%Y-%m}"
            for line in lines:
                await assess_month(
                    conn, settings.scheme, month, line=line, acw_caps=acw_caps, tz=settings.tz
                )
        for kind in ReportKind:
            start = last_complete(kind, now, settings.tz)
            for line in lines:
                for fmt in FORMATS:
                    exists = await conn.fetchval(
                        "SELECT 1 FROM report_files WHERE kind = $1 AND line IS NOT DISTINCT "
                        "FROM $2 AND period_start = $3 AND format = $4",
                        kind.value, line, start, fmt,
                    )  # fmt: skip
                    if exists:
                        continue
                    report = await build_report(
                        conn, kind, start, line=line, acw_caps=acw_caps, tz=settings.tz,
                        scheme=settings.scheme, now=now,
                    )  # fmt: skip
                    await write_report(conn, settings.folder, report, fmt)
                    written += 1
    return written


async def run_schedule(
    pool: Pool,
    settings: ScheduleSettings,
    lines: Callable[[], Awaitable[list[str | None]]],
    acw_caps: Callable[[], Awaitable[AcwCaps]],
) -> None:
    """Generate due reports every ``interval_s``; a failed round is logged and retried."""
    while True:
        try:
            count = await generate_due(
                pool, settings, await lines(), await acw_caps(), datetime.now(UTC)
            )
            if count:
                log.info("reports: %d written to %s", count, settings.folder)
        except (OSError, ValueError, LookupError) as exc:
            log.warning(
                "reports: generation failed, retried in %.0f s: %s", settings.interval_s, exc
            )
        except Exception as exc:
            log.warning("reports: generation failed (%s), retried later", type(exc).__name__)
        await asyncio.sleep(settings.interval_s)
