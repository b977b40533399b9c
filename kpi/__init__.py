"""KPI arithmetic (pure), SQL over fact tables and rollups.

The pure core, re-exported here: ``Outcome`` (how a queue entry ended),
``EntryRecord`` and ``KpiParams`` (inputs), ``KpiCounters`` (additive sums),
``KpiSet`` (the figures, exact fractions), ``AgentTimeCounters`` and the
presentation helpers.
"""

from kpi.agent_time import AgentTimeCounters, agent_utilisation
from kpi.counters import KpiCounters, counters_from_entries, sum_counters
from kpi.definitions import KpiSet, compute_kpis, kpis_from_counters, ratio
from kpi.inputs import MAX_THRESHOLD_S, EntryRecord, KpiParams
from kpi.outcome import Outcome
from kpi.presentation import as_percent, as_seconds, present_kpis, round_half_up

__all__ = [
    "MAX_THRESHOLD_S",
    "AgentTimeCounters",
    "EntryRecord",
    "KpiCounters",
    "KpiParams",
    "KpiSet",
    "Outcome",
    "agent_utilisation",
    "as_percent",
    "as_seconds",
    "compute_kpis",
    "counters_from_entries",
    "kpis_from_counters",
    "present_kpis",
    "ratio",
    "round_half_up",
    "sum_counters",
]
