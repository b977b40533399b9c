"""Agents needed for an interval's forecast calls to meet a line's target.

Erlang C when the callers' patience is unknown (nobody hangs up), Erlang A
(``forecast.erlang``) with the patience observed from abandon times. The
target is a service level (share answered within ``threshold_s``), an answer
rate, or both; shrinkage (breaks, training, meetings: time paid but not on the
phones) turns the agents on the phones into the agents to schedule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from forecast.erlang import QueueFigures, erlang_a_figures, erlang_c_figures

MAX_AGENTS = 100_000
"""No interval needs more; a target that would is unreachable."""


class StaffingInputError(ValueError):
    """A target, shrinkage or demand out of range; ``field`` names what."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class Model(StrEnum):
    ERLANG_C = "erlang_c"
    ERLANG_A = "erlang_a"


def _fraction(field: str, value: float | None, *, upper_open: bool = True) -> None:
    if value is None:
        return
    if not math.isfinite(value) or value <= 0 or value > 1 or (upper_open and value == 1):
        raise StaffingInputError(field, f"must be above 0% and below 100%, got {value * 100:g}%")


@dataclass(frozen=True, slots=True)
class StaffingTarget:
    """What an interval must achieve (fractions, 0.9 = 90%)."""

    service_level: float | None = 0.9
    """Share of offered calls answered within ``threshold_s`` (15秒接通率)."""
    threshold_s: float = 15.0
    answer_rate: float | None = None
    """Share of offered calls answered (人工接通率); needs a patience to matter."""
    shrinkage: float = 0.0
    """Share of scheduled time not on the phones: scheduled = ceil(agents / (1 - shrinkage))."""

    def __post_init__(self) -> None:
        if self.service_level is None and self.answer_rate is None:
            raise StaffingInputError("target", "set a service level, an answer rate or both")
        _fraction("service_level", self.service_level)
        _fraction("answer_rate", self.answer_rate)
        if not math.isfinite(self.threshold_s) or not 0 <= self.threshold_s <= 3600:
            raise StaffingInputError("threshold_s", f"must be 0..3600 s, got {self.threshold_s:g}")
        if not math.isfinite(self.shrinkage) or not 0 <= self.shrinkage < 1:
            raise StaffingInputError(
                "shrinkage", f"must be 0% or more and below 100%, got {self.shrinkage * 100:g}%"
            )

    @classmethod
    def from_percent(
        cls,
        *,
        service_level_pct: float | None,
        threshold_s: float,
        answer_rate_pct: float | None,
        shrinkage_pct: float,
    ) -> StaffingTarget:
        """The target from percentages, as settings and the API give them."""

        def frac(value: float | None) -> float | None:
            return None if value is None else value / 100.0

        return cls(
            service_level=frac(service_level_pct),
            threshold_s=threshold_s,
            answer_rate=frac(answer_rate_pct),
            shrinkage=shrinkage_pct / 100.0,
        )


@dataclass(frozen=True, slots=True)
class Demand:
    """An interval's expected traffic."""

    calls: float
    interval_s: float
    handle_s: float
    """Mean handle time (talk + ACW) of an answered call, seconds."""
    patience_s: float | None = None
    """Mean patience of waiting callers; None: Erlang C (no abandonment)."""

    def __post_init__(self) -> None:
        if not math.isfinite(self.calls) or self.calls < 0:
            raise StaffingInputError("calls", f"must be >= 0, got {self.calls:g}")
        if not math.isfinite(self.interval_s) or self.interval_s <= 0:
            raise StaffingInputError("interval_s", f"must be > 0, got {self.interval_s:g}")
        if not math.isfinite(self.handle_s) or self.handle_s <= 0:
            raise StaffingInputError("handle_s", f"must be > 0, got {self.handle_s:g}")
        if self.patience_s is not None and (
            not math.isfinite(self.patience_s) or self.patience_s <= 0
        ):
            raise StaffingInputError("patience_s", f"must be > 0, got {self.patience_s:g}")

    @property
    def arrival_rate(self) -> float:
        return self.calls / self.interval_s

    @property
    def load(self) -> float:
        """Offered load, Erlangs."""
        return self.arrival_rate * self.handle_s


@dataclass(frozen=True, slots=True)
class Staffing:
    agents: int
    """Agents on the phones the target needs."""
    scheduled: int
    """Agents to schedule once shrinkage is allowed for."""
    model: Model
    figures: QueueFigures | None
    """What the model predicts with ``agents`` (None when no call is expected)."""


def figures_for(demand: Demand, target: StaffingTarget, agents: int) -> QueueFigures:
    if demand.patience_s is None:
        return erlang_c_figures(agents, demand.arrival_rate, demand.handle_s, target.threshold_s)
    return erlang_a_figures(
        agents, demand.arrival_rate, demand.handle_s, demand.patience_s, target.threshold_s
    )


def meets(figures: QueueFigures, target: StaffingTarget) -> bool:
    if target.service_level is not None and figures.service_level < target.service_level:
        return False
    return target.answer_rate is None or figures.answer_rate >= target.answer_rate


def agents_needed(demand: Demand, target: StaffingTarget) -> Staffing:
    """The fewest agents meeting ``target`` (service level and answer rate grow with agents)."""
    model = Model.ERLANG_C if demand.patience_s is None else Model.ERLANG_A
    if demand.calls == 0:
        return Staffing(0, 0, model, None)
    # Erlang C needs more agents than Erlangs. Erlang A may need fewer, but not fewer than
    # the target's share of them: the answered calls' load A·answer_rate is carried by the
    # agents, so answer_rate <= n/A, and the service level is at most the answer rate.
    # Starting there spares summing the long queues of a hopelessly understaffed centre.
    if model is Model.ERLANG_C:
        low = max(1, math.floor(demand.load) + 1)
    else:
        share = max(target.service_level or 0.0, target.answer_rate or 0.0)
        low = max(1, math.ceil(share * demand.load - 1e-9))
    if meets(figures_for(demand, target, low), target):
        high = low
    else:
        step = max(1, math.ceil(math.sqrt(demand.load)))
        high = low + step
        while not meets(figures_for(demand, target, high), target):
            low = high
            step *= 2
            high = low + step
            if high > MAX_AGENTS:
                raise StaffingInputError("target", f"not reachable with {MAX_AGENTS} agents")
        while high - low > 1:  # low fails, high meets
            middle = (low + high) // 2
            if meets(figures_for(demand, target, middle), target):
                high = middle
            else:
                low = middle
    agents = high
    scheduled = math.ceil(agents / (1.0 - target.shrinkage) - 1e-9)
    return Staffing(agents, scheduled, model, figures_for(demand, target, agents))
