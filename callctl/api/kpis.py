"""KPIs over any window (JSON, CSV) and the queue entries behind each figure.

Every figure carries its numerator and denominator, so it can be checked by
hand, and every count can be drilled down to its entries (``/kpis/entries``).
Percentages and seconds are shown with two decimals (half up, ``kpi.presentation``).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from callctl.api.csv_export import CSV_RESPONSE, csv_response, csv_text
from callctl.api.deps import DbPool, ReaderOrAgent
from callctl.api.errors import ApiError
from callctl.api.filters import MAX_OFFSET, FactFilter, Facts, Lang
from callctl.auth.principal import Principal
from callctl.callbacks.repository import callback_kpis
from callctl.db_types import Pool
from callctl.privacy import mask_number
from ivr.survey import satisfied_keys_for
from kpi.drilldown import drill_down
from kpi.figures import FIGURE_LABELS, Figure
from kpi.inputs import MAX_THRESHOLD_S, KpiParams, SlClock
from kpi.presentation import as_percent, as_seconds
from kpi.query import GroupBy, KpiQuery, KpiRow, query_kpis

router = APIRouter(prefix="/api/v1", tags=["kpis"])

Unit = Literal["percent", "seconds"]


class FigureOut(BaseModel):
    value: float | None = Field(description="two decimals; null when the denominator is 0")
    unit: Unit
    numerator: int
    denominator: int


class KpiRowOut(BaseModel):
    group: str | None = Field(description="line, queue, agent, or interval/day start (UTC)")
    counts: dict[str, int]
    figures: dict[str, FigureOut]


class KpiParamsOut(BaseModel):
    service_level_s: int
    short_abandon_s: int
    sl_clock: SlClock = Field(
        default="queue",
        description="15秒 clock: queue, from each queue entry; system, from the call's "
        "entry into the system (IVR time and earlier queue entries count)",
    )
    acw_max_s: dict[str, int] = Field(
        description="each line's ACW cap (routing config in force), seconds"
    )
    acw_max_s_default: int = Field(description="the ACW cap of a call whose line is unknown")
    satisfied_keys: list[int] = Field(
        default_factory=lambda: [1, 2],
        description="survey keys counted as satisfied (the line's, see ivr.survey)",
    )


class CallbackFiguresOut(BaseModel):
    """Callbacks (回访) whose due window opened in the report's window."""

    counts: dict[str, int] = Field(description="due, reached, reached_within_24h")
    figures: dict[str, FigureOut] = Field(description="callback_rate, timeliness_24h")


CALLBACK_LABELS = {
    "due": {"zh-CN": "应回访", "en": "callbacks due"},
    "reached": {"zh-CN": "已回访", "en": "callbacks reached"},
    "reached_within_24h": {"zh-CN": "24小时内回访", "en": "reached within 24 h"},
    "callback_rate": {"zh-CN": "回访率", "en": "callback rate"},
    "timeliness_24h": {"zh-CN": "24小时回访及时率", "en": "callback timeliness (24 h)"},
}


class KpiReport(BaseModel):
    start: datetime
    end: datetime
    group_by: GroupBy
    node: str | None = None
    line: str | None
    queue: str | None
    agent: str | None
    params: KpiParamsOut
    rows: list[KpiRowOut]
    callbacks: CallbackFiguresOut | None = Field(
        default=None,
        description="回访率 and 24-hour timeliness of the callbacks due in the window (of the "
        "line, or the agent, filtered on); null when filtered by node or queue",
    )
    labels: dict[str, dict[str, str]] = Field(description="zh-CN and English label per key")


class DrilledEntryOut(BaseModel):
    node: str
    callid: str
    queue: str
    seq: int
    line: str | None
    entered_at: datetime
    caller_num: str | None
    outcome: str
    wait_s: int
    system_wait_s: int | None = Field(
        default=None, description="answered: the wait from system entry (sl_clock=system)"
    )
    call_wait_s: int | None = Field(
        default=None, description="per_call: the wait from the call's first queue entry"
    )
    agent: str | None
    talk_s: int | None
    acw_s: int | None
    hangup_side: str | None


class DrillDownOut(BaseModel):
    figure: Figure
    limit: int
    offset: int
    entries: list[DrilledEntryOut]


def _number(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _percent(numerator: int, denominator: int) -> FigureOut:
    value = as_percent(Fraction(numerator, denominator)) if denominator else None
    return FigureOut(
        value=_number(value), unit="percent", numerator=numerator, denominator=denominator
    )


def _seconds(numerator: int, denominator: int) -> FigureOut:
    value = as_seconds(Fraction(numerator, denominator)) if denominator else None
    return FigureOut(
        value=_number(value), unit="seconds", numerator=numerator, denominator=denominator
    )


def row_out(row: KpiRow) -> KpiRowOut:
    """A row with each figure beside the counts it is the ratio of (the same arithmetic
    as ``KpiSet``: the fractions reduce to its values)."""
    k, c = row.kpis, row.counters
    figures = {
        "answer_rate": _percent(k.answered, k.offered),
        "service_level": _percent(k.answered_in_sl, k.offered),
        "abandon_rate": _percent(k.abandoned, k.offered),
        "asa_s": _seconds(c.sum_wait_answered, c.answered),
        "avg_talk_s": _seconds(c.sum_talk, c.n_talk),
        "avg_acw_s": _seconds(c.sum_acw, c.n_acw),
        "avg_handle_s": _seconds(c.sum_handle, c.n_handle),
        "satisfaction": _percent(k.survey_satisfied, k.survey_answers),
        "survey_take_up": _percent(k.survey_answers, k.answered),
    }
    if row.agent_time is not None:
        time = row.agent_time
        figures["utilisation"] = _percent(time.talking_s + time.acw_s, time.logged_in_s)
    counts = {
        "offered": k.offered,
        "answered": k.answered,
        "answered_in_sl": k.answered_in_sl,
        "abandoned": k.abandoned,
        "short_abandoned": k.short_abandoned,
        "timeout": c.timed_out,
        "no_agents": c.no_agents,
        "key": c.exited_with_key,
        "transfer": c.transferred,
        "lost": k.lost,
        "survey_answers": k.survey_answers,
        "survey_satisfied": k.survey_satisfied,
    }
    return KpiRowOut(group=row.group, counts=counts, figures=figures)


async def _query(
    request: Request,
    principal: Principal,
    f: FactFilter,
    group_by: GroupBy,
    service_level_s: int,
    short_abandon_s: int,
    sl_clock: SlClock = "queue",
) -> tuple[KpiQuery, Any]:
    f = f.for_principal(principal)
    # Each line's acw_max_s as the routing config in force sets it (callctl.app).
    acw_caps = await request.app.state.acw_caps()
    satisfied = satisfied_keys_for(await request.app.state.satisfied_keys(), f.line)
    try:
        params = KpiParams(
            service_level_s=service_level_s, short_abandon_s=short_abandon_s, acw_caps=acw_caps,
            satisfied_keys=satisfied, sl_clock=sl_clock,
        )  # fmt: skip
        q = KpiQuery(
            f.window.start, f.window.end, node=f.node, line=f.line, queue=f.queue,
            agent=f.agent, group_by=group_by, params=params, tz=request.app.state.settings.timezone,
        )  # fmt: skip
    except ValueError as exc:
        raise ApiError(422, "request.invalid", str(exc)) from exc
    return q, params


Threshold = Annotated[int, Query(ge=0, le=MAX_THRESHOLD_S)]
Clock = Annotated[
    SlClock,
    Query(description="15秒 clock: queue (each queue entry) or system (从系统接入, IVR counts)"),
]


@router.get("/kpis", response_model=KpiReport)
async def kpis(
    request: Request,
    f: Facts,
    principal: ReaderOrAgent,
    pool: DbPool,
    group_by: GroupBy = GroupBy.NONE,
    service_level_s: Threshold = 15,
    short_abandon_s: Threshold = 0,
    sl_clock: Clock = "queue",
) -> KpiReport:
    """人工接通率、15秒接通率、放弃率 … for a window (default: today, Asia/Shanghai)."""
    q, params = await _query(
        request, principal, f, group_by,
        service_level_s, short_abandon_s, sl_clock,
    )  # fmt: skip
    async with pool.acquire() as conn:
        rows = await query_kpis(conn, q)
    callbacks = None
    if q.node is None and q.queue is None:  # callback tasks belong to a line, not a queue
        callbacks = await callback_figures(pool, q.start, q.end, q.line, q.agent)
    return KpiReport(
        start=q.start, end=q.end, group_by=q.group_by, node=q.node, line=q.line, queue=q.queue,
        agent=q.agent,
        params=KpiParamsOut(
            service_level_s=params.service_level_s, short_abandon_s=params.short_abandon_s,
            sl_clock=params.sl_clock, acw_max_s=dict(params.acw_caps.by_line),
            acw_max_s_default=params.acw_caps.default_s,
            satisfied_keys=sorted(params.satisfied_keys),
        ),
        rows=[row_out(r) for r in rows],
        callbacks=callbacks,
        labels={**FIGURE_LABELS, **CALLBACK_LABELS},
    )  # fmt: skip


async def callback_figures(
    pool: Pool, start: datetime, end: datetime, line: str | None, agent: str | None
) -> CallbackFiguresOut:
    row = await callback_kpis(pool, start, end, line, agent)
    due, reached, within = int(row["due"]), int(row["reached"]), int(row["reached_24h"])
    return CallbackFiguresOut(
        counts={"due": due, "reached": reached, "reached_within_24h": within},
        figures={
            "callback_rate": _percent(reached, due),
            "timeliness_24h": _percent(within, due),
        },
    )


CSV_COUNTS = ("offered", "answered", "answered_in_sl", "abandoned", "short_abandoned")
CSV_FIGURES = (
    "answer_rate", "service_level", "abandon_rate", "asa_s", "avg_talk_s", "avg_acw_s",
    "avg_handle_s", "satisfaction", "survey_take_up", "utilisation",
)  # fmt: skip
GROUP_LABELS = {"zh-CN": "分组", "en": "group"}
UNIT_LABELS = {"zh-CN": {"percent": "%", "seconds": "秒"}, "en": {"percent": "%", "seconds": "s"}}


def kpi_csv(rows: list[KpiRowOut], lang: str) -> str:
    """UTF-8 with BOM, so that Excel reads the Chinese headers."""
    has_utilisation = any("utilisation" in r.figures for r in rows)
    figures = [f for f in CSV_FIGURES if f != "utilisation" or has_utilisation]
    units = {f: "seconds" if f.endswith("_s") else "percent" for f in figures}
    header = [GROUP_LABELS[lang]]
    header += [FIGURE_LABELS[c][lang] for c in CSV_COUNTS]
    header += [f"{FIGURE_LABELS[f][lang]} ({UNIT_LABELS[lang][units[f]]})" for f in figures]

    def values(row: KpiRowOut) -> list[object]:
        cells: list[object] = [row.group]
        cells += [row.counts[c] for c in CSV_COUNTS]
        for f in figures:
            figure = row.figures.get(f)
            cells.append(None if figure is None or figure.value is None else f"{figure.value:.2f}")
        return cells

    return csv_text(header, map(values, rows))


@router.get("/kpis.csv", response_class=Response, responses=CSV_RESPONSE)
async def kpis_csv(
    request: Request,
    f: Facts,
    principal: ReaderOrAgent,
    pool: DbPool,
    group_by: GroupBy = GroupBy.NONE,
    service_level_s: Threshold = 15,
    short_abandon_s: Threshold = 0,
    sl_clock: Clock = "queue",
    lang: Lang = "zh-CN",
) -> Response:
    """The same figures as CSV (zh-CN headers by default, ``lang=en``)."""
    q, _ = await _query(
        request, principal, f, group_by,
        service_level_s, short_abandon_s, sl_clock,
    )  # fmt: skip
    async with pool.acquire() as conn:
        rows = await query_kpis(conn, q)
    return csv_response(kpi_csv([row_out(r) for r in rows], lang), "kpis.csv")


@router.get("/kpis/entries", response_model=DrillDownOut)
async def kpi_entries(
    request: Request,
    figure: Figure,
    f: Facts,
    principal: ReaderOrAgent,
    pool: DbPool,
    service_level_s: Threshold = 15,
    short_abandon_s: Threshold = 0,
    sl_clock: Clock = "queue",
    per_call: Annotated[
        bool, Query(description="one entry per call: the one it counts by (Haikou)")
    ] = False,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 500,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> DrillDownOut:
    """The queue entries behind a count, in arrival order (caller numbers masked)."""
    q, _ = await _query(
        request, principal, f, GroupBy.NONE,
        service_level_s, short_abandon_s, sl_clock,
    )  # fmt: skip
    async with pool.acquire() as conn:
        found = await drill_down(conn, q, figure, limit=limit, offset=offset, per_call=per_call)
    entries = []
    for e in found:
        caller = e.caller_num if principal.can_see_numbers else mask_number(e.caller_num)
        entries.append(
            DrilledEntryOut(
                node=e.node,
                callid=e.callid,
                queue=e.queue,
                seq=e.seq,
                line=e.line,
                entered_at=e.entered_at,
                caller_num=caller,
                outcome=e.outcome.value,
                wait_s=e.wait_s,
                system_wait_s=e.system_wait_s,
                call_wait_s=e.call_wait_s,
                agent=e.agent,
                talk_s=e.talk_s,
                acw_s=e.acw_s,
                hangup_side=e.hangup_side,
            )
        )
    return DrillDownOut(figure=figure, limit=limit, offset=offset, entries=entries)
