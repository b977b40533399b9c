"""Additive counters behind every KPI.

Every KPI is a ratio of sums, so 15-minute counters added together give
exactly the counters of the whole day or month, and "today so far" computed
live equals the same window computed from history.

Thresholds are not baked in: waits are kept as per-second histograms
(0..``MAX_THRESHOLD_S`` s, then one overflow bucket) for answered and for
abandoned entries, and survey answers per key. The service-level threshold,
the short-abandon threshold and the satisfied keys are applied when KPIs are
read (``kpi.definitions.kpis_from_counters``), so a scheme can change them
without re-rolling history. The ACW cap is the exception: the capped length is
what is summed, so counters built with one ``acw_max_s`` must not be added to
counters built with another.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from operator import add, sub

from kpi.inputs import MAX_THRESHOLD_S, SURVEY_KEYS, EntryRecord, KpiParams
from kpi.outcome import Outcome

WAIT_BUCKETS = MAX_THRESHOLD_S + 2
"""Buckets 0..MAX_THRESHOLD_S hold waits of exactly that many seconds; the
last bucket holds every longer wait."""

_ZERO_WAITS = (0,) * WAIT_BUCKETS
_ZERO_SURVEY = (0,) * len(SURVEY_KEYS)


def _wait_bucket(wait_s: int) -> int:
    return min(wait_s, MAX_THRESHOLD_S + 1)


@dataclass(frozen=True, slots=True)
class KpiCounters:
    """Sums and counts over a set of queue entries. ``a + b`` is the union."""

    answered: int = 0
    abandoned: int = 0
    timed_out: int = 0
    no_agents: int = 0
    exited_with_key: int = 0
    transferred: int = 0
    lost: int = 0
    """Entries still waiting when their Asterisk node restarted (offered, never answered)."""
    answered_wait_hist: tuple[int, ...] = _ZERO_WAITS
    abandoned_wait_hist: tuple[int, ...] = _ZERO_WAITS
    sum_wait_answered: int = 0
    n_talk: int = 0
    sum_talk: int = 0
    n_acw: int = 0
    sum_acw: int = 0
    """Sum of ACW lengths, each capped at the ``acw_max_s`` used to build it."""
    n_handle: int = 0
    sum_handle: int = 0
    """Sum of talk + capped ACW over answered entries where both are known."""
    survey_by_key: tuple[int, ...] = _ZERO_SURVEY

    def __post_init__(self) -> None:
        # Rollups are read back from the database: refuse inconsistent rows
        # rather than report a wrong figure.
        if len(self.answered_wait_hist) != WAIT_BUCKETS:
            raise ValueError(f"answered_wait_hist must have {WAIT_BUCKETS} buckets")
        if len(self.abandoned_wait_hist) != WAIT_BUCKETS:
            raise ValueError(f"abandoned_wait_hist must have {WAIT_BUCKETS} buckets")
        if len(self.survey_by_key) != len(SURVEY_KEYS):
            raise ValueError(f"survey_by_key must have {len(SURVEY_KEYS)} keys")
        # Every live change builds counters (``callctl.live.today.shift``): names and
        # kinds are looked up once, and a tuple's smallest value is found in C.
        for name, is_tuple in _FIELD_KINDS:
            value = getattr(self, name)
            if (min(value) if is_tuple else value) < 0:
                raise ValueError(f"{name} must not be negative")
        if sum(self.answered_wait_hist) != self.answered:
            raise ValueError("answered_wait_hist does not add up to answered")
        if sum(self.abandoned_wait_hist) != self.abandoned:
            raise ValueError("abandoned_wait_hist does not add up to abandoned")

    def __add__(self, other: KpiCounters) -> KpiCounters:
        if not isinstance(other, KpiCounters):
            return NotImplemented
        # The sum of two checked counters needs no check: nothing negative, each
        # histogram the same length and adding up to its count (the live view adds
        # its queues' counters on every change).
        summed = _new_counters(KpiCounters)
        for name, is_tuple in _FIELD_KINDS:
            mine, theirs = getattr(self, name), getattr(other, name)
            _put_counter(summed, name, tuple(map(add, mine, theirs)) if is_tuple else mine + theirs)
        return summed

    def replaced(self, old: KpiCounters, new: KpiCounters) -> KpiCounters:
        """These counters with ``old`` (a part of them) replaced by ``new``, built once.

        The live view does this on every fact. Counters built by the constructor
        are checked; here each histogram still adds up to its count and keeps its
        length by construction, so only what a wrong ``old`` would break is checked
        (no counter may go negative), and the rest of the constructor is skipped.
        """
        if old == new:
            return self
        result = _new_counters(KpiCounters)
        for name, is_tuple in _FIELD_KINDS:
            mine, out, into = getattr(self, name), getattr(old, name), getattr(new, name)
            if not is_tuple:
                value = mine - out + into
                if value < 0:
                    raise ValueError(f"{name} must not be negative")
            elif out == into:
                # One entry's counters touch a bucket or two of each histogram at most.
                value = mine
            else:
                value = tuple(map(add, map(sub, mine, out), into))
                if min(value) < 0:
                    raise ValueError(f"{name} must not be negative")
            _put_counter(result, name, value)
        return result

    @property
    def entries(self) -> int:
        """All entries with an outcome, before any short-abandon exclusion."""
        return (
            self.answered
            + self.abandoned
            + self.timed_out
            + self.no_agents
            + self.exited_with_key
            + self.transferred
            + self.lost
        )

    def answered_within(self, service_level_s: int) -> int:
        """Answered entries with ``wait_s <= service_level_s``."""
        _check_threshold(service_level_s)
        return sum(self.answered_wait_hist[: service_level_s + 1])

    def short_abandoned(self, short_abandon_s: int) -> int:
        """Abandoned entries with ``wait_s < short_abandon_s``."""
        _check_threshold(short_abandon_s)
        return sum(self.abandoned_wait_hist[:short_abandon_s])

    @property
    def survey_answers(self) -> int:
        return sum(self.survey_by_key)

    def survey_answers_in(self, keys: Iterable[int]) -> int:
        return sum(self.survey_by_key[key] for key in set(keys))


_FIELD_KINDS: tuple[tuple[str, bool], ...] = tuple(
    (f.name, isinstance(f.default, tuple)) for f in fields(KpiCounters)
)
"""Each counter's name and whether it is a tuple (histogram, survey keys), in field order."""


# What a frozen dataclass's __init__ does, for ``replaced`` (which sets every field).
_new_counters = object.__new__
_put_counter = object.__setattr__


def _check_threshold(threshold_s: int) -> None:
    if not 0 <= threshold_s <= MAX_THRESHOLD_S:
        raise ValueError(f"threshold must be within 0..{MAX_THRESHOLD_S} s, got {threshold_s}")


_OUTCOME_FIELD = {
    Outcome.ABANDONED: "abandoned",
    Outcome.TIMEOUT: "timed_out",
    Outcome.EMPTY: "no_agents",
    Outcome.KEY: "exited_with_key",
    Outcome.TRANSFER: "transferred",
    Outcome.LOST: "lost",
}


def counters_from_entries(entries: Iterable[EntryRecord], params: KpiParams) -> KpiCounters:
    """Fold entries into counters; only ``params.acw_caps`` is used here (each
    entry's ACW capped by its line's ``acw_max_s``)."""
    counts = dict.fromkeys(_OUTCOME_FIELD.values(), 0)
    answered_waits = [0] * WAIT_BUCKETS
    abandoned_waits = [0] * WAIT_BUCKETS
    survey = [0] * len(SURVEY_KEYS)
    answered = sum_wait = n_talk = sum_talk = n_acw = sum_acw = n_handle = sum_handle = 0

    for entry in entries:
        if entry.outcome is not Outcome.ANSWERED:
            counts[_OUTCOME_FIELD[entry.outcome]] += 1
            if entry.outcome is Outcome.ABANDONED:
                abandoned_waits[_wait_bucket(entry.wait_s)] += 1
            continue
        answered += 1
        answered_waits[_wait_bucket(entry.wait_s)] += 1
        sum_wait += entry.wait_s
        acw = None if entry.acw_s is None else min(entry.acw_s, params.acw_caps.cap_for(entry.line))
        if entry.talk_s is not None:
            n_talk += 1
            sum_talk += entry.talk_s
        if acw is not None:
            n_acw += 1
            sum_acw += acw
        if entry.talk_s is not None and acw is not None:
            n_handle += 1
            sum_handle += entry.talk_s + acw
        if entry.survey is not None:
            survey[entry.survey] += 1

    return KpiCounters(
        answered=answered,
        answered_wait_hist=tuple(answered_waits),
        abandoned_wait_hist=tuple(abandoned_waits),
        sum_wait_answered=sum_wait,
        n_talk=n_talk,
        sum_talk=sum_talk,
        n_acw=n_acw,
        sum_acw=sum_acw,
        n_handle=n_handle,
        sum_handle=sum_handle,
        survey_by_key=tuple(survey),
        abandoned=counts["abandoned"],
        timed_out=counts["timed_out"],
        no_agents=counts["no_agents"],
        exited_with_key=counts["exited_with_key"],
        transferred=counts["transferred"],
        lost=counts["lost"],
    )


_ONE_WAIT = tuple(
    tuple(int(bucket == hot) for bucket in range(WAIT_BUCKETS)) for hot in range(WAIT_BUCKETS)
)
_ONE_SURVEY = tuple(
    tuple(int(key == hot) for key in range(len(SURVEY_KEYS))) for hot in range(len(SURVEY_KEYS))
)


def counters_of_entry(entry: EntryRecord, params: KpiParams) -> KpiCounters:
    """``counters_from_entries((entry,), params)``, built directly.

    The live view builds one entry's counters on every fact: here each histogram is a
    ready-made one-hot tuple and no field is checked, since an ``EntryRecord`` (checked
    when built) gives a count of 1, a histogram adding up to it and nothing negative.
    """
    values: dict[str, int | tuple[int, ...]] = {}
    if entry.outcome is not Outcome.ANSWERED:
        values[_OUTCOME_FIELD[entry.outcome]] = 1
        if entry.outcome is Outcome.ABANDONED:
            values["abandoned_wait_hist"] = _ONE_WAIT[_wait_bucket(entry.wait_s)]
    else:
        values["answered"] = 1
        values["answered_wait_hist"] = _ONE_WAIT[_wait_bucket(entry.wait_s)]
        values["sum_wait_answered"] = entry.wait_s
        talk = entry.talk_s
        acw = None if entry.acw_s is None else min(entry.acw_s, params.acw_caps.cap_for(entry.line))
        if talk is not None:
            values["n_talk"], values["sum_talk"] = 1, talk
        if acw is not None:
            values["n_acw"], values["sum_acw"] = 1, acw
        if talk is not None and acw is not None:
            values["n_handle"], values["sum_handle"] = 1, talk + acw
        if entry.survey is not None:
            values["survey_by_key"] = _ONE_SURVEY[entry.survey]
    counters = _new_counters(KpiCounters)
    for name, value in _ZERO_VALUES:
        _put_counter(counters, name, values.get(name, value))
    return counters


_ZERO_VALUES: tuple[tuple[str, int | tuple[int, ...]], ...] = tuple(
    (name, getattr(KpiCounters(), name)) for name, _ in _FIELD_KINDS
)


def sum_counters(parts: Iterable[KpiCounters]) -> KpiCounters:
    """Add counters of disjoint windows (e.g. the 15-minute rollups of a month)."""
    total = KpiCounters()
    for part in parts:
        total = total + part
    return total
