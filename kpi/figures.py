"""The figures of a ``KpiSet``: labels, and which entries each count is made of.

``entry_in_figure`` is the per-entry predicate behind each count of
``kpis_from_counters``; the drill-down lists the entries it admits, so the
number of entries shown is the figure's numerator (tested against the
arithmetic).
"""

from __future__ import annotations

from enum import StrEnum

from kpi.inputs import EntryRecord, KpiParams
from kpi.outcome import Outcome


class Figure(StrEnum):
    """Counts that can be drilled down to their queue entries."""

    OFFERED = "offered"
    ANSWERED = "answered"
    ANSWERED_WITHIN_SL = "answered_within_sl"
    ABANDONED = "abandoned"
    SHORT_ABANDONED = "short_abandoned"
    TIMEOUT = "timeout"
    NO_AGENTS = "no_agents"
    KEY = "key"
    TRANSFER = "transfer"
    LOST = "lost"


FIGURE_OUTCOMES: dict[Figure, frozenset[Outcome]] = {
    Figure.OFFERED: frozenset(Outcome),
    Figure.ANSWERED: frozenset({Outcome.ANSWERED}),
    Figure.ANSWERED_WITHIN_SL: frozenset({Outcome.ANSWERED}),
    Figure.ABANDONED: frozenset({Outcome.ABANDONED}),
    Figure.SHORT_ABANDONED: frozenset({Outcome.ABANDONED}),
    Figure.TIMEOUT: frozenset({Outcome.TIMEOUT}),
    Figure.NO_AGENTS: frozenset({Outcome.EMPTY}),
    Figure.KEY: frozenset({Outcome.KEY}),
    Figure.TRANSFER: frozenset({Outcome.TRANSFER}),
    Figure.LOST: frozenset({Outcome.LOST}),
}
"""Outcomes an entry of each figure can have: a safe pre-filter for SQL."""


def is_short_abandon(record: EntryRecord, params: KpiParams) -> bool:
    return record.outcome is Outcome.ABANDONED and record.wait_s < params.short_abandon_s


def entry_in_figure(figure: Figure, record: EntryRecord, params: KpiParams) -> bool:
    """Whether ``record`` counts toward ``figure`` under ``params``."""
    if figure is Figure.SHORT_ABANDONED:
        return is_short_abandon(record, params)
    if is_short_abandon(record, params):
        return False  # a short abandon leaves the population entirely
    match figure:
        case Figure.OFFERED:
            return True
        case Figure.ANSWERED_WITHIN_SL:
            return record.outcome is Outcome.ANSWERED and record.wait_s <= params.service_level_s
        case _:
            return record.outcome in FIGURE_OUTCOMES[figure]


FIGURE_LABELS: dict[str, dict[str, str]] = {
    "offered": {"zh-CN": "呼入总量", "en": "offered"},
    "answered": {"zh-CN": "人工接通量", "en": "answered"},
    "answered_in_sl": {"zh-CN": "15秒内接通量", "en": "answered within service level"},
    "abandoned": {"zh-CN": "放弃量", "en": "abandoned"},
    "short_abandoned": {"zh-CN": "短时放弃量", "en": "short abandons"},
    "lost": {"zh-CN": "丢失量（系统重启）", "en": "lost (node restarted)"},
    "survey_answers": {"zh-CN": "参评量", "en": "survey answers"},
    "survey_satisfied": {"zh-CN": "满意量", "en": "satisfied answers"},
    "answer_rate": {"zh-CN": "人工接通率", "en": "answer rate"},
    "service_level": {"zh-CN": "15秒接通率", "en": "service level"},
    "abandon_rate": {"zh-CN": "放弃率", "en": "abandon rate"},
    "asa_s": {"zh-CN": "平均应答时长", "en": "average speed of answer"},
    "avg_talk_s": {"zh-CN": "平均通话时长", "en": "average talk time"},
    "avg_acw_s": {"zh-CN": "平均事后处理时间", "en": "average after-call work"},
    "avg_handle_s": {"zh-CN": "平均处理时长", "en": "average handle time"},
    "satisfaction": {"zh-CN": "满意率", "en": "satisfaction"},
    "survey_take_up": {"zh-CN": "参评率", "en": "survey take-up"},
    "utilisation": {"zh-CN": "工时有效利用率", "en": "agent utilisation"},
}
