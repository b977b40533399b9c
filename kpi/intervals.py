"""15-minute intervals, and how a query window splits into rollups and raw facts.

Intervals are aligned to the Unix epoch (every UTC quarter hour), the same
alignment as ``date_bin('15 minutes', ts, '1970-01-01Z')`` in the rollup SQL.
A window ``[start, end)`` is answered from the rollups of the intervals it
covers entirely and that are clean; the rest (partial edge intervals, dirty
intervals) is read from the facts. Both parts are disjoint and cover the
window exactly, so the sum is exact whatever the refresher's lag.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

INTERVAL = timedelta(minutes=15)
_INTERVAL_S = 900
DAY = timedelta(days=1)
DAY_ORIGIN = datetime(1970, 1, 1, tzinfo=timezone(timedelta(hours=8)))
"""Day rollups are blocks of 96 intervals from China Standard Time midnight
(UTC+8 all year, no DST), so a hotline's local days are whole blocks."""
_DAY_OFFSET_S = 8 * 3600

Span = tuple[datetime, datetime]
"""A half-open time range ``[start, end)``."""


def require_utc_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value.isoformat()}")


def interval_floor(value: datetime) -> datetime:
    """The start of the 15-minute interval holding ``value``."""
    require_utc_aware(value, "value")
    seconds = value.timestamp()
    return datetime.fromtimestamp(seconds - seconds % _INTERVAL_S, UTC)


def interval_ceil(value: datetime) -> datetime:
    floor = interval_floor(value)
    return floor if floor == value else floor + INTERVAL


@dataclass(frozen=True, slots=True)
class WindowPlan:
    """Disjoint spans covering a window: read from rollups, or from the facts."""

    rollup: tuple[Span, ...]
    raw: tuple[Span, ...]


def _merge(spans: list[Span]) -> tuple[Span, ...]:
    merged: list[Span] = []
    for start, end in spans:
        if merged and merged[-1][1] == start:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return tuple(merged)


def plan_window(
    start: datetime, end: datetime, dirty: Collection[datetime], *, use_rollups: bool = True
) -> WindowPlan:
    """Split ``[start, end)``: clean whole intervals to rollups, everything else raw.

    ``dirty`` holds interval starts whose rollups are stale.
    """
    require_utc_aware(start, "start")
    require_utc_aware(end, "end")
    if end <= start:
        raise ValueError("end must be after start")
    first, last = interval_ceil(start), interval_floor(end)
    if not use_rollups or first >= last:
        return WindowPlan(rollup=(), raw=((start, end),))
    raw: list[Span] = []
    rollup: list[Span] = []
    if start < first:
        raw.append((start, first))
    dirty_inside = sorted(d for d in dirty if first <= d < last)
    cursor = first
    for stale in dirty_inside:
        if stale > cursor:
            rollup.append((cursor, stale))
        raw.append((stale, stale + INTERVAL))
        cursor = stale + INTERVAL
    if cursor < last:
        rollup.append((cursor, last))
    if last < end:
        raw.append((last, end))
    return WindowPlan(rollup=_merge(rollup), raw=_merge(sorted(raw)))


def day_floor(value: datetime) -> datetime:
    """The start of the day block holding ``value``."""
    require_utc_aware(value, "value")
    seconds = value.timestamp() + _DAY_OFFSET_S
    return datetime.fromtimestamp(seconds - seconds % 86_400 - _DAY_OFFSET_S, UTC)


def day_ceil(value: datetime) -> datetime:
    floor = day_floor(value)
    return floor if floor == value else floor + DAY


def split_days(spans: tuple[Span, ...]) -> tuple[tuple[Span, ...], tuple[Span, ...]]:
    """Clean rollup spans → (whole day blocks, the remaining 15-minute spans)."""
    days: list[Span] = []
    rest: list[Span] = []
    for start, end in spans:
        first, last = day_ceil(start), day_floor(end)
        if first >= last:
            rest.append((start, end))
            continue
        days.append((first, last))
        if start < first:
            rest.append((start, first))
        if last < end:
            rest.append((last, end))
    return tuple(days), tuple(sorted(rest))
