"""Each line's acw_max_s caps the ACW of that line's calls (kpi.inputs.AcwCaps)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from kpi.definitions import compute_kpis
from kpi.inputs import AcwCaps, EntryRecord, KpiParams
from kpi.outcome import Outcome


def test_a_line_gets_its_own_cap_and_an_unknown_line_the_default() -> None:
    caps = AcwCaps.of({"12345": 6, "12333": 180}, 240)
    assert caps.cap_for("12345") == 6
    assert caps.cap_for("12333") == 180
    assert caps.cap_for("12320") == 240
    assert caps.cap_for(None) == 240
    assert caps.longest_s == 240
    assert AcwCaps().cap_for("12345") == 300  # kpi-definitions.md's default


def test_equal_caps_compare_equal_whatever_their_order_and_survive_json() -> None:
    a = AcwCaps.of({"12345": 6, "12333": 180}, 300)
    b = AcwCaps((("12333", 180), ("12345", 6)), 300)
    assert a == b
    assert AcwCaps.from_json(a.to_json()) == a
    assert a != AcwCaps.of({"12345": 7, "12333": 180}, 300)
    assert a != AcwCaps.of({"12345": 6, "12333": 180}, 301)


@pytest.mark.parametrize(
    ("by_line", "default_s"),
    [({"12345": -1}, 300), ({}, -5), ({"12345": "6"}, 300)],
)
def test_a_negative_or_non_integer_cap_is_refused(by_line: dict[str, int], default_s: int) -> None:
    with pytest.raises(ValueError, match="acw_max_s"):
        AcwCaps.of(by_line, default_s)


def test_a_line_listed_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="two acw_max_s"):
        AcwCaps((("12345", 6), ("12345", 7)))


def test_average_acw_caps_each_call_by_its_own_lines_cap() -> None:
    """The issue's case: line 12345 at acw_max_s 6, one ACW of 7 s among 6 s ones."""
    caps = AcwCaps.of({"12345": 6, "12333": 300}, 300)
    hotline = [EntryRecord(Outcome.ANSWERED, 3, 60, 6, line="12345") for _ in range(8)]
    hotline.append(EntryRecord(Outcome.ANSWERED, 3, 60, 7, line="12345"))
    kpis = compute_kpis(hotline, KpiParams(acw_caps=caps))
    assert kpis.avg_acw_s == 6
    assert kpis.avg_handle_s == 66
    # The same 7 s on a line capped at 300 counts whole.
    other = [EntryRecord(Outcome.ANSWERED, 3, 60, 7, line="12333")]
    both = compute_kpis([*hotline, *other], KpiParams(acw_caps=caps))
    assert both.avg_acw_s == Fraction(9 * 6 + 7, 10)
