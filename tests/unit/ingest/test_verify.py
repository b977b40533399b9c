"""verify's pure side: comparing entries, the report text, and folding a whole file."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from callctl.facts.models import (
    AcwInterval,
    AgentState,
    AgentStateInterval,
    HangupSide,
    QueueEntryFact,
)
from callctl.ingest.queue_log.fold import (
    QueueLogMissingError,
    assume_zone,
    fold_file,
    last_time,
    to_epoch,
)
from callctl.ingest.verify import (
    Comparison,
    EntryDifference,
    FieldDifference,
    VerifyReport,
    compare_entries,
    format_report,
)
from kpi.outcome import Outcome

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "queue_log"

ANSWERED = QueueEntryFact(
    node="ast1",
    callid="1732150893.5",
    queue="general",
    seq=1,
    entered_at=1732150900,
    caller_num="13800138000",
    position=1,
    outcome=Outcome.ANSWERED,
    ended_wait_at=1732150904,
    wait_s=4,
    agent="1001",
    ring_attempts=1,
    talk_s=120,
    hangup_side=HangupSide.CALLER,
    completed_at=1732151024,
)
WAITING = QueueEntryFact(
    node="ast1", callid="1732150999.9", queue="general", seq=1, entered_at=1732151000
)


def report(
    comparison: Comparison, *, malformed: int = 0, notes: tuple[str, ...] = ()
) -> VerifyReport:
    return VerifyReport(
        path=Path("/var/log/asterisk/queue_log"),
        node="ast1",
        window_start=1732150900,
        window_end=1732151024,
        lines_read=9,
        malformed=malformed,
        comparison=comparison,
        notes=notes,
    )


def test_identical_entries_have_no_difference() -> None:
    result = compare_entries([ANSWERED, WAITING], [WAITING, ANSWERED])

    assert result == Comparison(2, 2, (), (), ())
    assert result.differences == 0


def test_missing_and_extra_entries() -> None:
    other_stay = replace(ANSWERED, seq=2)

    result = compare_entries([ANSWERED, WAITING], [other_stay])

    assert result.missing == (ANSWERED, WAITING)
    assert result.extra == (other_stay,)
    assert result.differing == ()
    assert result.differences == 3


def test_kpi_field_differences_are_listed_field_by_field() -> None:
    stored = replace(ANSWERED, wait_s=5, outcome=Outcome.ABANDONED, agent=None)

    result = compare_entries([ANSWERED], [stored])

    assert result.differing == (
        EntryDifference(
            ANSWERED.key,
            (
                FieldDifference("outcome", Outcome.ANSWERED, Outcome.ABANDONED),
                FieldDifference("wait_s", 4, 5),
                FieldDifference("agent", "1001", None),
            ),
        ),
    )


def test_fields_outside_the_kpis_are_not_compared() -> None:
    stored = replace(ANSWERED, completed_at=ANSWERED.completed_at + 1)  # type: ignore[operator]

    assert compare_entries([ANSWERED], [stored]).differences == 0


def test_an_open_entry_is_compared_as_open() -> None:
    stored = replace(WAITING, outcome=Outcome.ABANDONED, wait_s=30)

    result = compare_entries([WAITING], [stored])

    assert [d.field for d in result.differing[0].fields] == ["outcome", "wait_s"]


def test_a_key_twice_in_the_database_is_extra() -> None:
    result = compare_entries([ANSWERED], [ANSWERED, ANSWERED])

    assert result.actual == 2
    assert result.extra == (ANSWERED,)
    assert result.missing == ()


def test_format_report_summary() -> None:
    text = format_report(report(compare_entries([ANSWERED, WAITING], [ANSWERED, WAITING])))

    assert text.splitlines() == [
        "queue_log /var/log/asterisk/queue_log (node ast1), "
        "2024-11-21T01:01:40Z → 2024-11-21T01:03:44Z",
        "queue_log entries: 2  db entries: 2  missing: 0  extra: 0  differing: 0",
    ]


def test_format_report_details() -> None:
    extra = replace(WAITING, callid="bogus")
    comparison = compare_entries([ANSWERED, WAITING], [replace(ANSWERED, talk_s=None), extra])

    text = format_report(report(comparison, malformed=2, notes=("queue_log begins later",)))

    assert text.splitlines()[1:] == [
        "queue_log entries: 2  db entries: 2  missing: 1  extra: 1  differing: 1",
        "malformed queue_log lines: 2 (logged, skipped)",
        "note: queue_log begins later",
        "missing in db:",
        "  1732150999.9 general #1 entered 2024-11-21T01:03:20Z open",
        "extra in db:",
        "  bogus general #1 entered 2024-11-21T01:03:20Z open",
        "differing:",
        "  1732150893.5 general #1: talk_s queue_log=120 db=NULL",
    ]


def test_format_report_caps_the_details() -> None:
    missing = [replace(WAITING, callid=f"c{i}") for i in range(5)]

    text = format_report(report(compare_entries(missing, [])), details=2)

    assert text.splitlines()[-4:] == [
        "missing in db:",
        "  c0 general #1 entered 2024-11-21T01:03:20Z open",
        "  c1 general #1 entered 2024-11-21T01:03:20Z open",
        "  … and 3 more",
    ]


def test_last_time_of_each_fact_kind() -> None:
    pause = AgentStateInterval("ast1", "1001", AgentState.PAUSED, "acw", 100)

    assert last_time(ANSWERED) == 1732151024
    assert last_time(WAITING) == 1732151000
    assert last_time(pause) == 100
    assert last_time(AcwInterval("ast1", "1001", 100, ended_at=130)) == 130


def test_times_need_a_zone() -> None:
    local = datetime(2024, 11, 21, 9, 1, 40)

    with pytest.raises(ValueError):
        to_epoch(local)
    shanghai = assume_zone(local, "Asia/Shanghai")
    assert shanghai is not None and to_epoch(shanghai) == 1732150900
    utc = datetime(2024, 11, 21, 1, 1, 40, tzinfo=UTC)
    assert assume_zone(utc, "Asia/Shanghai") is utc
    assert to_epoch(utc.astimezone(timezone(timedelta(hours=-5)))) == 1732150900


def test_fold_file_keeps_the_last_value_of_each_fact(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    answered = (FIXTURES / "answered.log").read_bytes()
    path.write_bytes(answered + b"1732151100|1732151099.7|general|NONE|ENTERQ")

    fold = fold_file(path, "ast1")

    assert fold.entries == [replace(ANSWERED, node="ast1")]
    assert fold.lines == 9  # the partial last line is not read
    assert fold.end_offset == len(answered)
    assert (fold.first_time, fold.last_time) == (1732150800, 1732151054)


def test_fold_file_counts_malformed_lines() -> None:
    fold = fold_file(FIXTURES / "malformed.log", "ast1")

    assert fold.malformed == 5
    assert [m.line_no for m in fold.malformed_samples] == [2, 4, 5, 7, 8]
    assert [e.outcome for e in fold.entries] == [Outcome.ANSWERED]


def test_fold_file_missing(tmp_path: Path) -> None:
    with pytest.raises(QueueLogMissingError):
        fold_file(tmp_path / "nope", "ast1")
