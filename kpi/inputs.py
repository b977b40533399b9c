"""What the KPI arithmetic consumes: one record per queue entry, and the scheme's settings."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from kpi.outcome import Outcome

# Wait times are kept per whole second up to this bound so that the
# service-level and short-abandon thresholds can still be chosen after
# 15-minute counters have been summed (see ``kpi.counters``). Contracts use
# 15, 20 or 30 s and short abandons of a few seconds, well inside it.
MAX_THRESHOLD_S = 60

SlClock = Literal["queue", "system"]

# Survey answers are one DTMF digit.
SURVEY_KEYS = range(10)

DEFAULT_ACW_MAX_S = 300
"""kpi-definitions.md's default ``acw_max_s``, for a hotline with no line configured."""


@dataclass(frozen=True, slots=True)
class AcwCaps:
    """Each service line's ``acw_max_s``, as the routing config in force sets it.

    An ACW interval is capped by the ``acw_max_s`` of the line of the call that
    started it. ``default_s`` caps an interval whose line is unknown (or not a
    line of the config); the routing config gives it as the longest line cap,
    as the ACW watch does for a pause whose line it never learnt.
    ``by_line`` is kept sorted, so that equal caps compare (and serialize) equal.
    """

    by_line: tuple[tuple[str, int], ...] = ()
    default_s: int = DEFAULT_ACW_MAX_S

    def __post_init__(self) -> None:
        for line, cap in (*self.by_line, ("default", self.default_s)):
            if not isinstance(cap, int) or cap < 0:
                raise ValueError(f"acw_max_s of {line} must be an integer >= 0, got {cap!r}")
        lines = [line for line, _ in self.by_line]
        if len(set(lines)) != len(lines):
            raise ValueError(f"a line has two acw_max_s: {sorted(lines)}")
        object.__setattr__(self, "by_line", tuple(sorted(self.by_line)))

    @classmethod
    def of(cls, by_line: Mapping[str, int], default_s: int = DEFAULT_ACW_MAX_S) -> AcwCaps:
        return cls(tuple(by_line.items()), default_s)

    def cap_for(self, line: str | None) -> int:
        if line is not None:
            for known, cap in self.by_line:
                if known == line:
                    return cap
        return self.default_s

    @property
    def lines(self) -> list[str]:
        return [line for line, _ in self.by_line]

    @property
    def caps(self) -> list[int]:
        return [cap for _, cap in self.by_line]

    @property
    def longest_s(self) -> int:
        return max([self.default_s, *self.caps])

    def to_json(self) -> str:
        return json.dumps({"by_line": dict(self.by_line), "default_s": self.default_s})

    @classmethod
    def from_json(cls, text: str) -> AcwCaps:
        data = json.loads(text)
        by_line = data.get("by_line", {})
        if not isinstance(by_line, dict):
            raise ValueError(f"by_line must be an object, got {by_line!r}")
        return cls.of(by_line, data.get("default_s", DEFAULT_ACW_MAX_S))


AcwCapsLoader = Callable[[], Awaitable[AcwCaps]]
"""Reads the line caps of the routing config in force (``callctl.routing_config``):
the one place the KPIs, the rollups, the live view and the ACW watch take them from."""


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
    line: str | None = None
    """The service line of the call; its ``acw_max_s`` caps ``acw_s``."""

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
    from counters; ``acw_caps`` (each line's ``acw_max_s``) is applied when
    counters are built (the capped ACW is what is summed).
    """

    service_level_s: int = 15
    short_abandon_s: int = 0
    acw_caps: AcwCaps = field(default_factory=AcwCaps)
    satisfied_keys: frozenset[int] = field(default_factory=lambda: frozenset({1, 2}))
    sl_clock: SlClock = "queue"
    """The 15-second clock (service level): ``queue``, each entry's own wait; ``system``,
    from the call's entry into the system (IVR time and earlier queue entries count)."""

    def __post_init__(self) -> None:
        if self.sl_clock not in ("queue", "system"):
            raise ValueError(f"sl_clock must be queue or system, got {self.sl_clock!r}")
        for name, value in (
            ("service_level_s", self.service_level_s),
            ("short_abandon_s", self.short_abandon_s),
        ):
            if not 0 <= value <= MAX_THRESHOLD_S:
                raise ValueError(f"{name} must be within 0..{MAX_THRESHOLD_S}, got {value}")
        if not self.satisfied_keys <= frozenset(SURVEY_KEYS):
            keys = sorted(self.satisfied_keys)
            raise ValueError(f"satisfied_keys must be DTMF digits, got {keys}")
