"""Per-line forbidden hours for callbacks (pure), judged in the line's own time zone.

A window is a local time of day ``start``–``end``; an ``end`` before ``start`` crosses
midnight (22:00–08:00). Haikou's contract forbids calling citizens 12:00–14:30 and
22:00–08:00: ``HAIKOU_PRESET``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo


class CalendarError(ValueError):
    def __init__(self, field: str, why: str) -> None:
        super().__init__(f"{field}: {why}")
        self.field = field
        self.why = why


@dataclass(frozen=True, slots=True)
class ForbiddenWindow:
    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise CalendarError("forbidden", "a window's start and end must differ")

    @classmethod
    def parse(cls, text: str) -> ForbiddenWindow:
        """``"12:00-14:30"``."""
        try:
            start, end = text.split("-")
            return cls(time.fromisoformat(start.strip()), time.fromisoformat(end.strip()))
        except ValueError:
            raise CalendarError("forbidden", f"{text!r} is not HH:MM-HH:MM") from None

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"

    def contains(self, local: time) -> bool:
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def end_after(self, local: datetime) -> datetime:
        """The end of this window that ``local`` (inside it) is in."""
        end = local.replace(hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0)
        return end if end > local else end + timedelta(days=1)


@dataclass(frozen=True, slots=True)
class CallbackCalendar:
    timezone: str = "Asia/Shanghai"
    forbidden: tuple[ForbiddenWindow, ...] = ()

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ValueError, KeyError):
            raise CalendarError("timezone", f"unknown time zone {self.timezone!r}") from None
        if len(self.forbidden) > 8:
            raise CalendarError("forbidden", "at most 8 windows")
        if _covers_the_day(self.forbidden):
            raise CalendarError("forbidden", "the windows leave no time to call")

    @classmethod
    def of(cls, windows: Sequence[str], timezone: str = "Asia/Shanghai") -> CallbackCalendar:
        return cls(timezone, tuple(ForbiddenWindow.parse(w) for w in windows))

    def next_allowed(self, at: datetime) -> datetime:
        """The first moment at or after ``at`` (aware) outside every forbidden window."""
        zone = ZoneInfo(self.timezone)
        local = at.astimezone(zone)
        for _ in range(2 * len(self.forbidden) + 1):  # adjacent windows chain
            inside = [w for w in self.forbidden if w.contains(local.timetz().replace(tzinfo=None))]
            if not inside:
                return local.astimezone(at.tzinfo)
            local = max(w.end_after(local.replace(tzinfo=None)) for w in inside).replace(
                tzinfo=zone
            )
        return local.astimezone(at.tzinfo)


def _covers_the_day(windows: Sequence[ForbiddenWindow]) -> bool:
    minutes = [False] * (24 * 60)
    for w in windows:
        for m in range(24 * 60):
            if w.contains(time(m // 60, m % 60)):
                minutes[m] = True
    return bool(windows) and all(minutes)


HAIKOU_PRESET = CallbackCalendar.of(("12:00-14:30", "22:00-08:00"))
PRESETS: dict[str, CallbackCalendar] = {"haikou": HAIKOU_PRESET}
