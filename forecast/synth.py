"""A generated hotline history with a known structure, for the forecast's backtest.

Calls per interval are Poisson around a daily shape (night trough, morning and
afternoon peaks) times the day's volume, which depends on the day's kind (workday,
Saturday, Sunday, holiday, swapped workday), grows by ``growth_per_year`` and
varies ±``day_noise`` from day to day. Seeded: the same arguments give the same
history.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, timedelta

from forecast.calendar import DayKind, HolidayCalendar
from forecast.model import INTERVALS_PER_DAY

_PEAKS = ((10.0, 1.6, 1.0), (15.0, 2.0, 0.85), (20.5, 1.5, 0.35))
"""(hour, width in hours, height): the 12345 day's morning, afternoon and evening."""
_NIGHT_FLOOR = 0.04


def day_shape() -> list[float]:
    """Share of a day's calls in each interval (sums to 1)."""
    raw = []
    for i in range(INTERVALS_PER_DAY):
        hour = (i + 0.5) / 4
        raw.append(
            _NIGHT_FLOOR + sum(h * math.exp(-(((hour - c) / w) ** 2) / 2) for c, w, h in _PEAKS)
        )
    total = sum(raw)
    return [r / total for r in raw]


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 60:  # normal approximation, close enough for a benchmark's data
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def day_volume(calendar: HolidayCalendar, day: date, workday_calls: float) -> float:
    kind = calendar.kind(day)
    if kind is DayKind.HOLIDAY:
        return 0.35 * workday_calls
    if kind is DayKind.SWAPPED_WORKDAY:
        return 0.9 * workday_calls
    if kind is DayKind.WEEKEND:
        return (0.6 if day.weekday() == 5 else 0.5) * workday_calls
    return (1.12 if day.weekday() == 0 else 1.0) * workday_calls  # Mondays are busier


@dataclass(frozen=True, slots=True)
class SyntheticHistory:
    counts: dict[date, list[float]]
    """Calls per interval, as a hotline would have stored them."""
    expected: dict[date, list[float]]
    """The Poisson means they were drawn from: the best any forecast could do."""


def generate_history(
    calendar: HolidayCalendar,
    first: date,
    last: date,
    *,
    workday_calls: float = 12_000.0,
    growth_per_year: float = 0.10,
    day_noise: float = 0.04,
    seed: int = 12345,
) -> SyntheticHistory:
    """Every day of ``[first, last]``; ``workday_calls`` on an ordinary workday at ``last``."""
    rng = random.Random(seed)
    shape = day_shape()
    counts: dict[date, list[float]] = {}
    expected: dict[date, list[float]] = {}
    day = first
    while day <= last:
        years_before_last = (last - day).days / 365.0
        level = workday_calls / (1 + growth_per_year) ** years_before_last
        volume = day_volume(calendar, day, level) * math.exp(rng.gauss(0, day_noise))
        expected[day] = [volume * s for s in shape]
        counts[day] = [float(_poisson(rng, mean)) for mean in expected[day]]
        day += timedelta(days=1)
    return SyntheticHistory(counts, expected)
