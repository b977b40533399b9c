"""Forecast backtest on a generated month: MAPE per day of the seasonal per-interval forecast.

    .venv/bin/python benchmarks/bench_forecast.py [--month 2026-10] [--weeks 4] [--calls 12000]

Generates 15 months of a hotline's calls per 15-minute interval (``forecast.synth``:
a known daily shape, weekday and holiday levels, 调休 swapped workdays, 10% yearly
growth, Poisson noise), forecasts each day of ``--month`` from the days before it
(``forecast.model``) and prints, per day: its kind, the method, the MAPE over the
intervals with calls, the error of the day's total, and the MAPE of the "oracle"
(the Poisson means the calls were drawn from: the noise no forecast can remove).
"""

from __future__ import annotations

import argparse
import statistics
from datetime import date, timedelta

from forecast.calendar import china_calendar
from forecast.model import DayForecast, backtest, day_error, forecast_day
from forecast.synth import generate_history


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--month", default="2026-10", help="YYYY-MM to backtest")
    parser.add_argument("--weeks", type=int, default=4)
    parser.add_argument("--calls", type=float, default=12_000.0, help="calls on a workday")
    parser.add_argument("--seed", type=int, default=12345)
    args = parser.parse_args()
    year, month = (int(p) for p in args.month.split("-"))
    first = date(year, month, 1)
    last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    calendar = china_calendar()
    synth = generate_history(
        calendar, first - timedelta(days=430), last, workday_calls=args.calls, seed=args.seed
    )
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    errors = backtest(synth.counts, calendar, days, weeks=args.weeks)
    print(
        f"forecast backtest {args.month}: {args.calls:.0f} calls on a workday, weeks={args.weeks}"
    )
    header = ("day", "wd", "kind", "method", "MAPE%", "total%", "oracle%")
    print("{:<11} {:<3} {:<16} {:<18} {:>6} {:>7} {:>8}".format(*header))
    mapes: dict[str, list[float]] = {}
    for error in errors:
        forecast = forecast_day(synth.counts, calendar, error.day, weeks=args.weeks)
        assert forecast is not None
        oracle = DayForecast(**{**_fields(forecast), "calls": tuple(synth.expected[error.day])})
        oracle_error = day_error(oracle, synth.counts[error.day])
        mape = error.mape or 0.0
        mapes.setdefault(error.kind, []).append(mape)
        print(
            f"{error.day.isoformat():<11} {error.day.strftime('%a'):<3} {error.kind:<16} "
            f"{forecast.method:<18} {mape:6.1f} {error.total_error or 0:+7.1f} "
            f"{oracle_error.mape or 0:8.1f}"
        )
    every = [m for values in mapes.values() for m in values]
    print(f"month MAPE {statistics.fmean(every):.1f}%", end="")
    for kind, values in sorted(mapes.items()):
        print(f"  {kind} {statistics.fmean(values):.1f}%", end="")
    print()


def _fields(forecast: DayForecast) -> dict[str, object]:
    return {name: getattr(forecast, name) for name in DayForecast.__slots__}


if __name__ == "__main__":
    main()
