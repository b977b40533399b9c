"""Report periods: local calendar days, weeks from Monday, months and years."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from callctl.reports.periods import (
    ReportKind,
    last_complete,
    period_end,
    period_start,
    title,
    window,
)

K = ReportKind


@pytest.mark.parametrize(
    ("kind", "day", "start", "end"),
    [
        (K.DAILY, date(2026, 3, 4), date(2026, 3, 4), date(2026, 3, 5)),
        (K.WEEKLY, date(2026, 3, 4), date(2026, 3, 2), date(2026, 3, 9)),  # Wednesday → Monday
        (K.WEEKLY, date(2026, 3, 1), date(2026, 2, 23), date(2026, 3, 2)),  # a Sunday
        (K.MONTHLY, date(2026, 12, 31), date(2026, 12, 1), date(2027, 1, 1)),
        (K.YEARLY, date(2026, 7, 9), date(2026, 1, 1), date(2027, 1, 1)),
    ],
)
def test_periods(kind: ReportKind, day: date, start: date, end: date) -> None:
    assert period_start(kind, day) == start
    assert period_end(kind, start) == end


def test_window_is_local_midnight_in_utc() -> None:
    assert window(K.MONTHLY, date(2026, 3, 1), "Asia/Shanghai") == (
        datetime(2026, 2, 28, 16, tzinfo=UTC),
        datetime(2026, 3, 31, 16, tzinfo=UTC),
    )


def test_last_complete_period_and_title() -> None:
    now = datetime(2026, 4, 1, 1, tzinfo=UTC)  # 09:00 Wednesday 1 April in Shanghai
    assert last_complete(K.DAILY, now, "Asia/Shanghai") == date(2026, 3, 31)
    assert last_complete(K.WEEKLY, now, "Asia/Shanghai") == date(2026, 3, 23)
    assert last_complete(K.MONTHLY, now, "Asia/Shanghai") == date(2026, 3, 1)
    assert last_complete(K.YEARLY, now, "Asia/Shanghai") == date(2025, 1, 1)
    # 23:30 UTC on 31 March is already 1 April in Shanghai.
    assert last_complete(K.DAILY, datetime(2026, 3, 31, 23, 30, tzinfo=UTC), "Asia/Shanghai") == (
        date(2026, 3, 31)
    )
    assert title(K.MONTHLY, date(2026, 3, 1), "12345") == "12345 月报（2026-03-01 至 2026-03-31）"
    assert title(K.DAILY, date(2026, 3, 1), None) == "全部热线 日报（2026-03-01）"
