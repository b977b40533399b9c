"""What the KPI arithmetic consumes: one record per queue entry, and the scheme's settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from kpi.outcome import Outcome

# Wait times are kept per whole second up to this bound so that the
# service-level and short-abandon thresholds can still be chosen after
# 15-minute counters have been summed (see ``kpi.counters``). Contracts use
# 15, 20 or 30 s and short abandons of a few seconds, well inside it.
MAX_THRESHOLD_S = 60

# Survey answers are one DTMF digit.
SURVEY_KEYS = range(10)


@dataclass(frozen=True, slots=True)
class EntryRecord:
    """One queue entry with an outcome, reduced to what the KPIs need.

    ``talk_s`` and ``acw_s`` are ``None`` while unknown (call or after-call work
    still in progress); an answered call known to have had no ACW has
    ``acw_s == 0``. ``survey`` is the DTMF key the caller pressed, ``None`` when
    there was no answer (the caller hung up first). Only answered entries may
    carry talk, ACW or survey values.
    """

    outcome: Outcome
    wait_s: int
    talk_s: int | None = None
    acw_s: int | None = None
    survey: int | None = None

    def __post_init__(self) -> None:
        if self.wait_s < 0:
            raise ValueError(f"wait_s must be >= 0, got {self.wait_s}")
        for name, value in (("talk_s", self.talk_s), ("acw_s", self.acw_s)):
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        if self.survey is not None and self.survey not in SURVEY_KEYS:
            raise ValueError(f"survey must be a DTMF digit 0-9, got {self.survey}")
        if self.outcome is not Outcome.ANSWERED and (
            self.talk_s is not None or self.acw_s is not None or self.survey is not None
        ):
            raise ValueError(f"a {self.outcome} entry cannot carry talk, ACW or survey values")


@dataclass(frozen=True, slots=True)
class KpiParams:
    """The settings of a service line or scheme that change the arithmetic.

    ``service_level_s`` and ``short_abandon_s`` are applied when KPIs are read
    from counters; ``acw_max_s`` is applied when counters are built (the capped
    ACW is what is summed).
    """

    service_level_s: int = 15
    short_abandon_s: int = 0
    acw_max_s: int = 300
    satisfied_keys: frozenset[int] = field(default_factory=lambda: frozenset({1, 2}))

    def __post_init__(self) -> None:
        for name, value in (
            ("service_level_s", self.service_level_s),
            ("short_abandon_s", self.short_abandon_s),
        ):
            if not 0 <= value <= MAX_THRESHOLD_S:
                raise ValueError(f"{name} must be within 0..{MAX_THRESHOLD_S}, got {value}")
        if self.acw_max_s < 0:
            raise ValueError(f"acw_max_s must be >= 0, got {self.acw_max_s}")
        if not self.satisfied_keys <= frozenset(SURVEY_KEYS):
            keys = sorted(self.satisfied_keys)
            raise ValueError(f"satisfied_keys must be DTMF digits, got {keys}")
