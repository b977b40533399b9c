"""Today's running KPIs, folded from the very facts the normalizer emits (pure).

"Live and historical figures for the same window agree exactly" holds by
construction: the facts are kept by their natural key (a newer version of a fact
replaces the older one, so a replayed fact is not counted twice), each entry is
turned into its KPI record by ``callctl.facts.to_kpi.entry_record`` and into
counters by ``kpi.counters.counters_from_entries``, exactly as a historical query
over the stored facts does. Running sums are kept per queue, per queue and
15-minute interval, and per interval for all queues; a changed entry takes its
old contribution out and puts its new one in.

An entry belongs to the day (and interval) in which it entered the queue; an ACW
interval counts with the entry it is tied to (``AcwInterval.entry_key``), and so
does a survey answer (``SurveyAnswerFact.key``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from functools import lru_cache

from callctl.facts.models import AcwInterval, Fact, QueueEntryFact, SurveyAnswerFact
from callctl.facts.to_kpi import EntryKey, entry_record
from callctl.live.window import DayWindow, interval_start
from kpi.counters import KpiCounters, counters_from_entries
from kpi.definitions import kpis_from_counters
from kpi.inputs import KpiParams
from kpi.presentation import present_kpis_as_numbers

Figures = dict[str, int | float | None]
"""KPIs as shown (``kpi.presentation``), percentages and seconds as two-decimal numbers."""

ZERO = KpiCounters()


def subtract(total: KpiCounters, part: KpiCounters) -> KpiCounters:
    """``total`` without ``part`` (which must be contained in it)."""
    return shift(total, part, ZERO)


def shift(total: KpiCounters, old: KpiCounters, new: KpiCounters) -> KpiCounters:
    """``total`` with ``old`` (contained in it) replaced by ``new``, built once.

    A live entry changes a handful of sums on every fact: this builds one
    ``KpiCounters`` instead of one per ``-`` and ``+`` (``KpiCounters.replaced``).
    """
    if old == new:
        return total
    if total == ZERO and old == ZERO:
        return new
    return total.replaced(old, new)


def add_all(counters: Iterable[KpiCounters]) -> KpiCounters:
    """The sum of ``counters`` (ZERO for none), with one addition less than a fold from ZERO."""
    total: KpiCounters | None = None
    for item in counters:
        total = item if total is None else total + item
    return ZERO if total is None else total


def figures(counters: KpiCounters, params: KpiParams) -> Figures:
    """The shown figures of ``counters`` (JSON-able); a fresh dict on each call."""
    return dict(_figures(counters, params))


# Equal counters give equal figures: one live change asks for the same sums several
# times (with one queue, the queue's, its line's and the total are equal), and a
# fact that changes no counter (a caller still waiting) asks again for all of them.
@lru_cache(maxsize=256)
def _figures(counters: KpiCounters, params: KpiParams) -> Figures:
    return present_kpis_as_numbers(kpis_from_counters(counters, params))


@dataclass(frozen=True, slots=True)
class _Counted:
    entry: QueueEntryFact
    interval: int
    counters: KpiCounters


@dataclass(frozen=True, slots=True)
class KpiChange:
    """Which sums a fact changed: the entry's queue and 15-minute interval."""

    queue: str
    interval: int


def prefer_queue_log(from_queue_log: QueueEntryFact, ami: QueueEntryFact) -> QueueEntryFact:
    """An AMI snapshot arriving after queue_log's version of the entry: queue_log's
    values stand, AMI's fill only what queue_log left blank (the stored row's merge,
    ``callctl.ingest.upserts``, does the same)."""
    changes = {
        f.name: getattr(ami, f.name)
        for f in fields(QueueEntryFact)
        if getattr(from_queue_log, f.name) is None and getattr(ami, f.name) is not None
    }
    ring_attempts = max(from_queue_log.ring_attempts, ami.ring_attempts)
    return replace(from_queue_log, **changes, ring_attempts=ring_attempts)


def _progress(fact: QueueEntryFact | AcwInterval) -> int:
    """How far along a fact is: a newer version of a fact never goes back."""
    if isinstance(fact, AcwInterval):
        return (fact.ended_at is not None) + (fact.entry_key is not None)
    if fact.outcome is None:
        return 0
    return 2 if fact.is_closed else 1


class TodayKpis:
    """Counters of one day's queue entries (all nodes), per queue and per interval."""

    def __init__(self, window: DayWindow, params: KpiParams) -> None:
        self.window = window
        self.params = params
        self._entries: dict[EntryKey, _Counted] = {}
        self._acws: dict[tuple[str, str, int], AcwInterval] = {}
        self._acw_of_entry: dict[EntryKey, AcwInterval] = {}
        self._survey_of_entry: dict[EntryKey, SurveyAnswerFact] = {}
        self._from_queue_log: set[EntryKey] = set()
        self.by_queue: dict[str, KpiCounters] = {}
        # Per (line the entry came in on, or None when unknown; queue).
        self.by_line_queue: dict[tuple[str | None, str], KpiCounters] = {}
        self.by_queue_interval: dict[tuple[str, int], KpiCounters] = {}
        self.by_interval: dict[int, KpiCounters] = {}

    # --- folding -------------------------------------------------------------------------

    def apply(
        self, facts: Iterable[Fact], *, stored: bool = False, from_queue_log: bool = False
    ) -> list[KpiChange]:
        """Fold facts in; returns the sums that changed.

        ``stored`` facts come from the database (seeding at start, or after a
        reconcile filled a gap): one replaces a fact already known only if it is
        further along (see ``_progress``), since the live one may be newer than the
        stored row while the writer still holds it. Facts ``from_queue_log`` (the
        follower's, once committed) replace what AMI said; a later AMI fact of the
        same entry then only fills in (``prefer_queue_log``).
        """
        changes: dict[KpiChange, None] = {}
        for fact in facts:
            if isinstance(fact, QueueEntryFact):
                known = self._entries.get(fact.key)
                if stored and known is not None and _progress(known.entry) >= _progress(fact):
                    continue
                if from_queue_log:
                    self._from_queue_log.add(fact.key)
                elif known is not None and not stored and fact.key in self._from_queue_log:
                    fact = prefer_queue_log(known.entry, fact)
                change = self._put_entry(fact)
            elif isinstance(fact, AcwInterval):
                acw = self._acws.get(fact.key)
                if stored and acw is not None and _progress(acw) >= _progress(fact):
                    continue
                change = self._put_acw(fact)
            elif isinstance(fact, SurveyAnswerFact):
                change = self._put_survey(fact)
            else:
                continue
            if change is not None:
                changes[change] = None
        return list(changes)

    def _put_entry(self, entry: QueueEntryFact) -> KpiChange | None:
        if not self.window.contains(entry.entered_at):
            return None
        old = self._entries.get(entry.key)
        survey = self._survey_of_entry.get(entry.key)
        record = entry_record(
            entry, self._acw_of_entry.get(entry.key), None if survey is None else survey.answer
        )
        new = ZERO if record is None else counters_from_entries((record,), self.params)
        interval = interval_start(entry.entered_at, self.window)
        if old is None:
            self._move(entry.queue, interval, ZERO, new)
            self._move_line(entry.line, entry.queue, ZERO, new)
        else:
            # The key fixes queue and entered_at, hence the interval.
            self._move(entry.queue, interval, old.counters, new)
            if old.entry.line == entry.line:
                self._move_line(entry.line, entry.queue, old.counters, new)
            else:
                self._move_line(old.entry.line, entry.queue, old.counters, ZERO)
                self._move_line(entry.line, entry.queue, ZERO, new)
        self._entries[entry.key] = _Counted(entry, interval, new)
        return KpiChange(entry.queue, interval)

    def _put_acw(self, acw: AcwInterval) -> KpiChange | None:
        if acw.started_at < self.window.start:
            return None  # an ACW of yesterday's call
        previous = self._acws.get(acw.key)
        self._acws[acw.key] = acw
        change = None
        old_key = None if previous is None else previous.entry_key
        # Linked to another entry now: the old one had no ACW after all.
        if (
            old_key is not None
            and old_key != acw.entry_key
            and self._acw_of_entry.get(old_key) is previous
        ):
            del self._acw_of_entry[old_key]
            change = self._recount(old_key)
        new_key = acw.entry_key
        if new_key is not None:
            self._acw_of_entry[new_key] = acw
            change = self._recount(new_key) or change
        return change

    def _put_survey(self, answer: SurveyAnswerFact) -> KpiChange | None:
        known = self._survey_of_entry.get(answer.key)
        self._survey_of_entry[answer.key] = answer
        if known is not None and known.answer == answer.answer:
            return None
        return self._recount(answer.key)

    def _recount(self, key: EntryKey) -> KpiChange | None:
        counted = self._entries.get(key)
        return None if counted is None else self._put_entry(counted.entry)

    def _move(self, queue: str, interval: int, old: KpiCounters, new: KpiCounters) -> None:
        pair = (queue, interval)
        if old == new:
            # Nothing to count yet (a caller waiting), but the queue and interval exist.
            self.by_queue.setdefault(queue, ZERO)
            self.by_queue_interval.setdefault(pair, ZERO)
            self.by_interval.setdefault(interval, ZERO)
            return
        self.by_queue[queue] = shift(self.by_queue.get(queue, ZERO), old, new)
        self.by_queue_interval[pair] = shift(self.by_queue_interval.get(pair, ZERO), old, new)
        self.by_interval[interval] = shift(self.by_interval.get(interval, ZERO), old, new)

    def _move_line(self, line: str | None, queue: str, old: KpiCounters, new: KpiCounters) -> None:
        pair = (line, queue)
        self.by_line_queue[pair] = shift(self.by_line_queue.get(pair, ZERO), old, new)

    # --- reading -------------------------------------------------------------------------

    def total(self) -> KpiCounters:
        return add_all(self.by_queue.values())

    def by_line(self, lines: Mapping[str, str]) -> dict[str, KpiCounters]:
        """Sums per service line: the entry's own line (from the dialplan), else its
        queue's line in ``lines``; entries of neither are left out."""
        sums: dict[str, KpiCounters] = {}
        for (entry_line, queue), counters in self.by_line_queue.items():
            line = entry_line or lines.get(queue)
            if line is not None:
                known = sums.get(line)
                sums[line] = counters if known is None else known + counters
        return sums

    @property
    def entries(self) -> list[QueueEntryFact]:
        return [counted.entry for counted in self._entries.values()]

    @property
    def acw_intervals(self) -> list[AcwInterval]:
        return list(self._acws.values())

    @property
    def survey_answers(self) -> list[SurveyAnswerFact]:
        return list(self._survey_of_entry.values())
