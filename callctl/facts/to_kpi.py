"""Queue entry facts (+ their ACW and survey) to the KPI arithmetic's input."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from callctl.facts.models import AcwInterval, QueueEntryFact
from kpi.inputs import EntryRecord
from kpi.outcome import Outcome

EntryKey = tuple[str, str, str, int]


def acw_by_entry(intervals: Iterable[AcwInterval]) -> dict[EntryKey, AcwInterval]:
    """ACW intervals indexed by the key of the entry that caused them."""
    return {key: acw for acw in intervals if (key := acw.entry_key) is not None}


def entry_record(
    entry: QueueEntryFact, acw: AcwInterval | None = None, survey: int | None = None
) -> EntryRecord | None:
    """The KPI view of one entry; ``None`` while the caller still waits.

    An answered call that has ended with no ACW interval tied to it had no
    after-call work: 0 s (kpi-definitions.md). Its ACW is unknown (``None``)
    while the call or the ACW is still going on.
    """
    if entry.outcome is None or entry.wait_s is None:
        return None
    if entry.outcome is not Outcome.ANSWERED:
        return EntryRecord(entry.outcome, entry.wait_s, line=entry.line)
    if acw is not None:
        return EntryRecord(
            entry.outcome, entry.wait_s, entry.talk_s, acw.length_s, survey, line=entry.line
        )
    acw_s = 0 if entry.completed_at is not None else None
    return EntryRecord(entry.outcome, entry.wait_s, entry.talk_s, acw_s, survey, line=entry.line)


def entry_records(
    entries: Iterable[QueueEntryFact],
    acw_intervals: Iterable[AcwInterval] = (),
    surveys: Mapping[EntryKey, int] | None = None,
) -> Iterator[EntryRecord]:
    """KPI records of the entries that have an outcome."""
    acws = acw_by_entry(acw_intervals)
    surveys = surveys or {}
    for entry in entries:
        record = entry_record(entry, acws.get(entry.key), surveys.get(entry.key))
        if record is not None:
            yield record
