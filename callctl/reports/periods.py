"""Report periods (day, week from Monday, month, year in the hotline's zone) and their views."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from kpi.query import GroupBy


class ReportKind(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    YEARLY = "yearly"


KIND_LABELS = {
    ReportKind.DAILY: "日报",
    ReportKind.WEEKLY: "周报",
    ReportKind.MONTHLY: "月报",
    ReportKind.YEARLY: "年报",
}


@dataclass(frozen=True, slots=True)
class View:
    """One sheet: the figures of ``/kpis`` with ``group_by``."""

    key: str
    title: str
    group_by: GroupBy


SUMMARY = View("summary", "总览", GroupBy.NONE)
QUEUES = View("queues", "按队列", GroupBy.QUEUE)
AGENTS = View("agents", "按坐席", GroupBy.AGENT)
VIEWS: dict[ReportKind, tuple[View, ...]] = {
    ReportKind.DAILY: (SUMMARY, View("intervals", "按15分钟", GroupBy.INTERVAL), QUEUES, AGENTS),
    ReportKind.WEEKLY: (SUMMARY, View("days", "按日", GroupBy.DAY), QUEUES, AGENTS),
    ReportKind.MONTHLY: (
        SUMMARY, View("days", "按日", GroupBy.DAY), View("weeks", "按周", GroupBy.WEEK),
        QUEUES, AGENTS,
    ),
    ReportKind.YEARLY: (SUMMARY, View("months", "按月", GroupBy.MONTH), QUEUES),
}  # fmt: skip
"""Each report's views; the first trend view (intervals, days, months) feeds the charts."""


def period_start(kind: ReportKind, day: date) -> date:
    """The first day of the period of ``kind`` holding ``day``."""
    match kind:
        case ReportKind.DAILY:
            return day
        case ReportKind.WEEKLY:
            return day - timedelta(days=day.weekday())
        case ReportKind.MONTHLY:
            return day.replace(day=1)
        case ReportKind.YEARLY:
            return day.replace(month=1, day=1)


def period_end(kind: ReportKind, start: date) -> date:
    match kind:
        case ReportKind.DAILY:
            return start + timedelta(days=1)
        case ReportKind.WEEKLY:
            return start + timedelta(days=7)
        case ReportKind.MONTHLY:
            return date(start.year + start.month // 12, start.month % 12 + 1, 1)
        case ReportKind.YEARLY:
            return date(start.year + 1, 1, 1)


def window(kind: ReportKind, start: date, tz: str) -> tuple[datetime, datetime]:
    """The period as a UTC window ``[start 00:00, end 00:00)`` in ``tz``."""
    zone = ZoneInfo(tz)
    end = period_end(kind, start)
    return (
        datetime(start.year, start.month, start.day, tzinfo=zone).astimezone(UTC),
        datetime(end.year, end.month, end.day, tzinfo=zone).astimezone(UTC),
    )


def last_complete(kind: ReportKind, now: datetime, tz: str) -> date:
    """The start of the latest period of ``kind`` that has ended by ``now``."""
    today = now.astimezone(ZoneInfo(tz)).date()
    current = period_start(kind, today)
    return period_start(kind, current - timedelta(days=1))


def title(kind: ReportKind, start: date, line: str | None) -> str:
    end = period_end(kind, start) - timedelta(days=1)
    span = start.isoformat() if start == end else f"{start.isoformat()} 至 {end.isoformat()}"
    return f"{line or '全部热线'} {KIND_LABELS[kind]}（{span}）"
