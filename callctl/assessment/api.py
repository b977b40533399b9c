"""REST: the monthly assessment, its schemes, the month's external inputs and outage days."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import ValidationError

from callctl.api.deps import Admin, DbPool, Reader, require
from callctl.api.errors import ApiError
from callctl.api.filters import ID_PATTERN
from callctl.api.window import Day
from callctl.assessment import repository
from callctl.assessment.schemas import (
    AnnualOut,
    AssessmentOut,
    CountingOut,
    GapDayOut,
    InputEntryOut,
    InputsIn,
    InputsOut,
    MonthScoreOut,
    OutageIn,
    OutageOut,
    OutagesOut,
    RuleOut,
    TailBandOut,
    TotalOut,
)
from callctl.assessment.service import (
    MonthAssessment,
    NoScore,
    UnknownScheme,
    assess_month,
    assess_year,
)
from callctl.auth.principal import Principal
from callctl.auth.roles import Role
from kpi.assessment.query import local_days, month_window
from kpi.assessment.scheme import Scheme, check_month

router = APIRouter(prefix="/api/v1", tags=["assessment"])

Editor = Annotated[Principal, Depends(require(Role.SUPERVISOR, Role.ADMIN))]
SchemeName = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_-]{0,39}$")]
Month = Annotated[str, Path(description="YYYY-MM")]

# The entries behind each call figure's numerator and denominator (``/kpis/entries``).
DRILL = {
    "answer_rate": ("answered", "offered"),
    "service_level": ("answered_within_sl", "offered"),
    "abandon_rate": ("abandoned", "offered"),
    "avg_acw_s": ("answered", "answered"),
    "satisfaction": ("answered", "answered"),
}


def _month(value: str) -> str:
    try:
        return check_month(value)
    except ValueError as exc:
        raise ApiError(422, "request.invalid_month", str(exc), {"field": "month"}) from exc


def _links(m: MonthAssessment, kpi: str) -> dict[str, str]:
    parts = DRILL.get(kpi)
    if parts is None:
        return {}
    query: dict[str, str] = {
        "start": m.start.isoformat(),
        "end": m.end.isoformat(),
        "service_level_s": str(m.params.service_level_s),
        "short_abandon_s": str(m.params.short_abandon_s),
    }
    if m.params.sl_clock != "queue":
        query["sl_clock"] = m.params.sl_clock
    if m.version.scheme.counting.per_call:
        query["per_call"] = "true"
    if m.line is not None:
        query["line"] = m.line
    names = ("numerator", "denominator")
    return {
        name: "/api/v1/kpis/entries?" + urlencode({"figure": figure, **query})
        for name, figure in zip(names, parts, strict=True)
    }


def assessment_out(m: MonthAssessment) -> AssessmentOut:
    a, scheme, p = m.assessment, m.version.scheme, m.params
    counting = scheme.counting
    return AssessmentOut(
        scheme=scheme.name, label=scheme.label, month=m.month,
        version_valid_from=m.version.valid_from, version_created_by=m.version.created_by,
        start=m.start, end=m.end, line=m.line,
        counting=CountingOut(
            per_call=counting.per_call, service_level_s=p.service_level_s,
            sl_clock=counting.sl_clock, short_abandon_s=p.short_abandon_s,
            satisfied_keys=sorted(p.satisfied_keys), monthly_average=counting.monthly_average,
            acw_max_s=dict(p.acw_caps.by_line), acw_max_s_default=p.acw_caps.default_s,
        ),
        rules=[
            RuleOut(
                id=r.rule_id, label=r.label, kpi=r.kpi, unit=r.unit.value, figure=r.figure,
                numerator=r.numerator, denominator=r.denominator, target=r.target,
                passed=r.passed, steps=r.steps, outcome=r.outcome,
                outcome_unit=r.outcome_unit.value, tier=r.tier, words=r.words,
                other_reading=r.other_reading, exclusions=list(r.notes),
                entries=_links(m, r.kpi),
            )
            for r in a.rules
        ],
        totals=[
            TotalOut(
                unit=t.unit.value, penalties=t.penalties, rewards=t.rewards,
                penalties_capped=t.penalties_capped, rewards_capped=t.rewards_capped,
                net=t.net, words=t.words,
            )
            for t in a.totals
        ],
        score=a.score, payment_pct=a.payment_pct, tail_loss_pct=a.tail_loss_pct,
        contract_money=a.contract_money, summary=a.summary,
        inputs={k.value: v for k, v in sorted(m.external.items())},
        outage_days=[_outage(o) for _, o in sorted(m.outages.items())],
    )  # fmt: skip


def _outage(o: repository.OutageMark) -> OutageOut:
    return OutageOut(
        day=o.day, reason=o.reason, active=o.active, marked_by=o.marked_by, marked_at=o.marked_at
    )


@router.get("/assessments/{scheme}/{month}", response_model=AssessmentOut)
async def get_assessment(
    request: Request,
    scheme: SchemeName,
    month: Month,
    pool: DbPool,
    principal: Reader,
    line: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
) -> AssessmentOut:
    """月度考核: each rule's figure, target, outcome and arithmetic; totals, caps, tier."""
    month = _month(month)
    caps = await request.app.state.acw_caps()
    tz = request.app.state.settings.timezone
    async with pool.acquire() as conn:
        try:
            result = await assess_month(conn, scheme, month, line=line, acw_caps=caps, tz=tz)
        except UnknownScheme as exc:
            raise ApiError(
                404, "assessment.unknown_scheme", f"no scheme named {scheme!r}",
                {"field": "scheme"},
            ) from exc  # fmt: skip
    return assessment_out(result)


@router.get("/assessments/{scheme}/annual/{year}", response_model=AnnualOut)
async def get_annual(
    request: Request,
    scheme: SchemeName,
    year: Annotated[int, Path(ge=2000, le=2100)],
    pool: DbPool,
    principal: Reader,
    line: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    through: Annotated[str | None, Query(description="last month counted, YYYY-MM")] = None,
) -> AnnualOut:
    """年度得分与尾款 (Sichuan): the mean of the ended months' scores, the tail payment lost."""
    if through is not None:
        try:
            check_month(through)
        except ValueError as exc:
            raise ApiError(422, "request.invalid_month", str(exc), {"field": "through"}) from exc
        if int(through[:4]) != year:
            raise ApiError(422, "request.invalid_month", f"through must be a month of {year}",
                           {"field": "through"})  # fmt: skip
    caps = await request.app.state.acw_caps()
    settings = request.app.state.settings
    today = datetime.now(ZoneInfo(settings.timezone)).date()
    async with pool.acquire() as conn:
        try:
            result = await assess_year(
                conn, scheme, year, through=through, line=line, acw_caps=caps,
                tz=settings.timezone, today=today,
            )  # fmt: skip
        except UnknownScheme as exc:
            raise ApiError(
                404, "assessment.unknown_scheme", f"no scheme named {scheme!r}",
                {"field": "scheme"},
            ) from exc  # fmt: skip
        except NoScore as exc:
            raise ApiError(
                422, "assessment.no_score", f"the scheme {scheme!r} gives no score to average",
                {"field": "scheme"},
            ) from exc  # fmt: skip
    suffix = "" if line is None else "?" + urlencode({"line": line})
    loss = result.tail_loss_pct
    return AnnualOut(
        scheme=result.scheme.name, label=result.scheme.label, year=year, line=line,
        months=[
            MonthScoreOut(month=month, score=score,
                          link=f"/api/v1/assessments/{scheme}/{month}{suffix}")
            for month, score in result.scores
        ],
        annual_score=result.score,
        tail_curve=[
            TailBandOut(below=b.below, down_to=b.down_to, pct_per_point=b.pct_per_point)
            for b in result.scheme.tail_curve
        ],
        tail_loss_pct=loss, tail_paid_pct=None if loss is None else Decimal(100) - loss,
        words=result.words,
    )  # fmt: skip


@router.get("/assessment-schemes")
async def list_schemes(pool: DbPool, principal: Reader) -> dict[str, list[str]]:
    async with pool.acquire() as conn:
        return {"schemes": await repository.scheme_names(conn)}


@router.get("/assessment-schemes/{scheme}/{month}")
async def get_scheme(scheme: SchemeName, month: Month, pool: DbPool, principal: Reader) -> Any:
    """The version of a scheme in force in a month (a preset until one is stored)."""
    month = _month(month)
    async with pool.acquire() as conn:
        version = await repository.scheme_for_month(conn, scheme, month)
        history = await repository.scheme_versions(conn, scheme)
    if version is None:
        raise ApiError(404, "assessment.unknown_scheme", f"no scheme named {scheme!r}")
    return {
        "scheme": version.scheme.model_dump(mode="json"),
        "preset": version.created_by is None,
        "versions": history,
    }


@router.put("/assessment-schemes/{scheme}", status_code=201)
async def put_scheme(
    scheme: SchemeName, body: dict[str, Any], pool: DbPool, principal: Admin
) -> dict[str, Any]:
    """A new version of a scheme, in force from its ``valid_from`` month."""
    try:
        parsed = Scheme.model_validate({**body, "name": scheme})
    except ValidationError as exc:
        detail = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        raise ApiError(422, "assessment.invalid_scheme", "the scheme is not valid", detail) from exc
    async with pool.acquire() as conn:
        version_id = await repository.store_scheme(conn, parsed, principal.username)
    return {"id": version_id, "name": parsed.name, "valid_from": parsed.valid_from}


@router.get("/assessment-inputs/{month}", response_model=InputsOut)
async def get_inputs(month: Month, pool: DbPool, principal: Reader) -> InputsOut:
    month = _month(month)
    async with pool.acquire() as conn:
        current = await repository.current_inputs(conn, month)
        history = await repository.input_history(conn, month)
    return InputsOut(
        month=month,
        current={k.value: v for k, v in sorted(current.items())},
        history=[InputEntryOut(**vars_of(h)) for h in history],
    )


def vars_of(entry: repository.InputEntry) -> dict[str, Any]:
    return {
        "key": entry.key,
        "value": entry.value,
        "entered_by": entry.entered_by,
        "entered_at": entry.entered_at,
    }


@router.put("/assessment-inputs/{month}", response_model=InputsOut)
async def put_inputs(month: Month, body: InputsIn, pool: DbPool, principal: Editor) -> InputsOut:
    """QA error rate, complaints, returned orders, ranking, dispatch accuracy … of a month."""
    month = _month(month)
    async with pool.acquire() as conn, conn.transaction():
        await repository.store_inputs(conn, month, body.values, principal.username)
    return await get_inputs(month, pool, principal)


@router.get("/outage-days/{month}", response_model=OutagesOut)
async def get_outages(
    request: Request, month: Month, pool: DbPool, principal: Reader
) -> OutagesOut:
    """Marked outage days of a month, their history, and days proposed from callctl's gaps."""
    month = _month(month)
    tz = request.app.state.settings.timezone
    start, end = month_window(month, tz)
    days = local_days(start, end, tz)
    async with pool.acquire() as conn:
        marks = await repository.outage_marks(conn, days[0], days[-1] + timedelta(days=1))
        gaps = await repository.gap_days(conn, start, end, tz)
    active = repository.active_outages(marks)
    return OutagesOut(
        month=month,
        active=[_outage(o) for _, o in sorted(active.items())],
        history=[_outage(o) for o in marks],
        proposals=[GapDayOut(**g) for g in gaps],
    )


@router.put("/outage-days/day/{day}", response_model=OutageOut, status_code=201)
async def mark_outage(day: Day, body: OutageIn, pool: DbPool, principal: Editor) -> OutageOut:
    """Mark a day as a platform outage (系统原因、停电), with the reason."""
    async with pool.acquire() as conn:
        await repository.mark_outage(conn, day, body.reason, True, principal.username)
        marks = await repository.outage_marks(conn, day, day + timedelta(days=1))
    return _outage(marks[-1])


@router.delete("/outage-days/day/{day}", response_model=OutageOut)
async def withdraw_outage(day: Day, body: OutageIn, pool: DbPool, principal: Editor) -> OutageOut:
    """Withdraw a day's outage mark (kept in the history, with the reason)."""
    async with pool.acquire() as conn:
        marks = await repository.outage_marks(conn, day, day + timedelta(days=1))
        if not marks or not marks[-1].active:
            raise ApiError(404, "assessment.no_outage", f"{day} is not marked", {"field": "day"})
        await repository.mark_outage(conn, day, body.reason, False, principal.username)
        marks = await repository.outage_marks(conn, day, day + timedelta(days=1))
    return _outage(marks[-1])
