"""Time windows in query strings: ISO date-times, today in the hotline's zone by default."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from annotated_types import Interval

from callctl.api.errors import ApiError

MAX_WINDOW = timedelta(days=400)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)

Day = Annotated[date, Interval(ge=EARLIEST.date(), lt=LATEST.date())]
"""A day in a path, query or body: 2000-2099, so that its zone's midnight and the day
after it are always dates (a year 1 or 9999 is a 422, not an overflow)."""


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive


def _parse(name: str, value: str, tz: ZoneInfo) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ApiError(
            422,
            "request.invalid_time",
            f"{name}: not an ISO 8601 date/time: {value[:40]!r}",
            {"field": name},
        ) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    try:
        utc = parsed.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 shifted past datetime's range
        utc = None
    if utc is None or not EARLIEST <= utc <= LATEST:
        raise ApiError(
            422,
            "request.time_out_of_range",
            f"{name}: must lie between {EARLIEST.year} and {LATEST.year}",
            {"field": name},
        )
    return utc


def today(tz_name: str, now: datetime | None = None) -> Window:
    tz = ZoneInfo(tz_name)
    local = (now or datetime.now(UTC)).astimezone(tz)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return Window(start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC))


def parse_window(
    start: str | None, end: str | None, tz_name: str, now: datetime | None = None
) -> Window:
    """``start``/``end`` as given (zone-less values are in ``tz_name``), else today there."""
    tz = ZoneInfo(tz_name)
    default = today(tz_name, now)
    window = Window(
        _parse("start", start, tz) if start else default.start,
        _parse("end", end, tz) if end else default.end,
    )
    if window.end <= window.start:
        raise ApiError(422, "request.empty_window", "end must be after start", {"field": "end"})
    if window.end - window.start > MAX_WINDOW:
        raise ApiError(
            422,
            "request.window_too_long",
            f"a window may span at most {MAX_WINDOW.days} days",
            {"field": "end"},
        )
    return window
