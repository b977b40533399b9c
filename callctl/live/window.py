"""Today's window in the hotline's time zone, and its 15-minute intervals (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

INTERVAL_S = 900
"""The chart's interval: 15 minutes, as the KPI rollups use."""


@dataclass(frozen=True, slots=True)
class DayWindow:
    """One local calendar day as UTC epoch seconds ``[start, end)``."""

    day: date
    start: int
    end: int

    def contains(self, epoch_s: int) -> bool:
        return self.start <= epoch_s < self.end


def day_window(epoch_s: float, timezone: str) -> DayWindow:
    """The local day (in ``timezone``) that contains ``epoch_s``.

    Computed from local midnights, so a day with a DST change has its real length.
    """
    zone = ZoneInfo(timezone)
    local_day = datetime.fromtimestamp(epoch_s, zone).date()
    start = datetime(local_day.year, local_day.month, local_day.day, tzinfo=zone)
    following = local_day + timedelta(days=1)
    end = datetime(following.year, following.month, following.day, tzinfo=zone)
    return DayWindow(local_day, int(start.timestamp()), int(end.timestamp()))


def interval_start(epoch_s: int, window: DayWindow) -> int:
    """The start of the 15-minute interval of ``epoch_s``, counted from the local midnight."""
    return window.start + (epoch_s - window.start) // INTERVAL_S * INTERVAL_S
