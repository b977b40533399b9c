"""Window planning: clean whole intervals to rollups, the rest to the facts, disjoint."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest

from kpi.intervals import INTERVAL, interval_ceil, interval_floor, plan_window

DAY = datetime(2026, 3, 1, tzinfo=UTC)
M = timedelta(minutes=1)


def test_floor_and_ceil_align_to_utc_quarter_hours_whatever_the_offset() -> None:
    shanghai = timezone(timedelta(hours=8))
    t = datetime(2026, 3, 1, 8, 7, 30, tzinfo=shanghai)  # 00:07:30 UTC
    assert interval_floor(t) == DAY
    assert interval_ceil(t) == DAY + INTERVAL
    assert interval_ceil(DAY) == DAY


def test_aligned_clean_window_is_all_rollups() -> None:
    plan = plan_window(DAY, DAY + timedelta(days=1), set())
    assert plan.rollup == ((DAY, DAY + timedelta(days=1)),)
    assert plan.raw == ()


def test_unaligned_edges_and_dirty_intervals_go_raw() -> None:
    start, end = DAY + 7 * M, DAY + 2 * timedelta(hours=1) + 3 * M
    dirty = {DAY + 30 * M, DAY + 45 * M, DAY + 5 * timedelta(hours=1)}
    plan = plan_window(start, end, dirty)
    assert plan.raw == (
        (start, DAY + 15 * M),
        (DAY + 30 * M, DAY + 60 * M),
        (DAY + 120 * M, end),
    )
    assert plan.rollup == ((DAY + 15 * M, DAY + 30 * M), (DAY + 60 * M, DAY + 120 * M))


def test_spans_cover_the_window_exactly_once() -> None:
    start, end = DAY + 1 * M, DAY + 10 * timedelta(hours=1) + 59 * M
    dirty = {DAY + k * INTERVAL for k in (0, 3, 4, 9, 43, 44)}
    plan = plan_window(start, end, dirty)
    spans = sorted([*plan.raw, *plan.rollup])
    assert spans[0][0] == start and spans[-1][1] == end
    for (_, a_end), (b_start, _) in itertools.pairwise(spans):
        assert a_end == b_start
    for rolled_start, rolled_end in plan.rollup:
        assert interval_floor(rolled_start) == rolled_start
        assert interval_floor(rolled_end) == rolled_end
        assert not any(rolled_start <= d < rolled_end for d in dirty)


def test_window_inside_one_interval_or_rollups_unusable_is_raw() -> None:
    assert plan_window(DAY + M, DAY + 2 * M, set()).raw == ((DAY + M, DAY + 2 * M),)
    whole = plan_window(DAY, DAY + timedelta(hours=1), set(), use_rollups=False)
    assert whole.rollup == () and whole.raw == ((DAY, DAY + timedelta(hours=1)),)


def test_naive_or_empty_windows_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        plan_window(datetime(2026, 3, 1), DAY, set())
    with pytest.raises(ValueError, match="after start"):
        plan_window(DAY, DAY, set())


def test_day_blocks_start_at_china_midnight() -> None:
    from kpi.intervals import DAY as ONE_DAY
    from kpi.intervals import day_ceil, day_floor, split_days

    cst_midnight = datetime(2026, 2, 28, 16, tzinfo=UTC)  # 2026-03-01 00:00 UTC+8
    assert day_floor(cst_midnight + timedelta(hours=23, minutes=59)) == cst_midnight
    assert day_ceil(cst_midnight + M) == cst_midnight + ONE_DAY
    start, end = cst_midnight - INTERVAL, cst_midnight + 2 * ONE_DAY + 3 * INTERVAL
    days, rest = split_days(((start, end),))
    assert days == ((cst_midnight, cst_midnight + 2 * ONE_DAY),)
    assert rest == ((start, cst_midnight), (cst_midnight + 2 * ONE_DAY, end))
    short = ((cst_midnight + INTERVAL, cst_midnight + 2 * INTERVAL),)
    assert split_days(short) == ((), short)
