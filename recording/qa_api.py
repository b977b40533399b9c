"""REST for QA (质检): sampling rules, the sample, scorecards, scores, agents' results.

Supervisors and admins write rules and scorecards and score calls; readers read.
An agent reads only its own results.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from callctl.api.deps import DbPool, ReaderOrAgent, require
from callctl.api.errors import ApiError
from callctl.api.filters import agent_scope
from callctl.api.openapi import error_responses
from callctl.api.window import parse_window
from callctl.auth.principal import Principal
from callctl.auth.roles import Role
from callctl.db_types import fetch_one
from recording.qa import (
    Item,
    QaError,
    RuleKind,
    SamplingRule,
    Scorecard,
    check_rule,
    check_scorecard,
    score,
)
from recording.qa_sampling import sample_recordings

router = APIRouter(prefix="/qa", responses=error_responses(409))
Scorer = Annotated[Principal, Depends(require(Role.SUPERVISOR, Role.ADMIN))]


def _bad(exc: QaError) -> ApiError:
    return ApiError(422, exc.error_id, str(exc), {"field": exc.field})


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a typo is a 422, not dropped
    kind: RuleKind
    line: str | None = Field(default=None, pattern=r"^[0-9]{3,20}$")
    share: float = Field(default=1.0, gt=0, le=1)
    agent: str | None = Field(default=None, pattern=r"^[0-9]{2,10}$")
    threshold_s: int | None = Field(default=None, gt=0, le=86400)
    dissatisfied_keys: list[int] | None = Field(
        default=None,
        min_length=1,
        max_length=10,
        description="dissatisfied rule: the answers that sample a call; unset: those of "
        "the call's line's survey (keys not counted as satisfied; 3 不满意 by default)",
    )


class RuleOut(RuleIn):
    id: int
    enabled: bool


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a typo is a 422, not dropped
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    label: str = Field(min_length=1, max_length=80, description="e.g. 服务用语规范")
    weight: float = Field(ge=0, le=100)
    fatal: bool = False


class ScorecardIn(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a typo is a 422, not dropped
    name: str = Field(min_length=1, max_length=80)
    items: list[ItemIn] = Field(min_length=1, max_length=100)
    pass_mark: float = Field(default=60, ge=0, le=100)


class ScorecardOut(ScorecardIn):
    id: int


class ScoreIn(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a typo is a 422, not dropped
    recording_id: int = Field(ge=1)
    scorecard_id: int = Field(ge=1)
    marks: dict[str, float]
    fatal_errors: list[str] = Field(default=[])


class ScoreOut(BaseModel):
    id: int
    recording_id: int
    scorecard_id: int
    agent: str | None
    scorer: str
    score: float
    fatal: bool
    error: bool


class AgentResultOut(BaseModel):
    agent: str
    scored: int
    average_score: float | None
    errors: int
    error_rate: float | None = Field(description="差错率: errors ÷ scored")


class SampleOut(BaseModel):
    recording_id: int
    rule_id: int
    kind: str
    agent: str | None
    line: str | None
    started_at: datetime


@router.post("/rules", response_model=RuleOut, status_code=201)
async def add_rule(body: RuleIn, who: Scorer, pool: DbPool) -> RuleOut:
    try:
        check_rule(
            SamplingRule(
                0,
                body.kind,
                body.line,
                body.share,
                body.agent,
                body.threshold_s,
                None if body.dissatisfied_keys is None else tuple(body.dissatisfied_keys),
            )
        )
    except QaError as exc:
        raise _bad(exc) from None
    async with pool.acquire() as conn:
        rule_id = await conn.fetchval(
            "INSERT INTO qa_sampling_rules (line, kind, share, agent, threshold_s,"
            " dissatisfied_keys) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            body.line,
            body.kind.value,
            body.share,
            body.agent,
            body.threshold_s,
            body.dissatisfied_keys,
        )
    return RuleOut(**body.model_dump(), id=rule_id, enabled=True)


@router.get("/rules", response_model=list[RuleOut])
async def rules(who: ReaderOrAgent, pool: DbPool) -> list[RuleOut]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT id, kind, line, share, agent, threshold_s, dissatisfied_keys, enabled"
            " FROM qa_sampling_rules ORDER BY id"
        )
    return [RuleOut(**dict(r)) for r in rows]


@router.post("/sample", response_model=list[SampleOut])
async def run_sampling(request: Request, who: Scorer, pool: DbPool) -> list[SampleOut]:
    """Apply every enabled rule to the recent recordings now (the collector also does
    it after each scan); returns the newly sampled."""
    by_line = await request.app.state.dissatisfied_keys()
    async with pool.acquire() as conn, conn.transaction():
        added = await sample_recordings(conn, dissatisfied_by_line=by_line)
        return await _samples(conn, ids=added)


async def _samples(
    conn: asyncpg.Connection, *, ids: list[tuple[int, int]] | None = None
) -> list[SampleOut]:
    rows = await conn.fetch(
        "SELECT s.recording_id, s.rule_id, q.kind, r.agent, r.line, r.started_at"
        " FROM qa_samples s JOIN qa_sampling_rules q ON q.id = s.rule_id"
        " JOIN recordings r ON r.id = s.recording_id ORDER BY r.started_at, s.rule_id"
    )
    wanted = None if ids is None else set(ids)
    return [
        SampleOut(**dict(r))
        for r in rows
        if wanted is None or (r["recording_id"], r["rule_id"]) in wanted
    ]


@router.get("/samples", response_model=list[SampleOut])
async def samples(who: Scorer, pool: DbPool) -> list[SampleOut]:
    async with pool.acquire() as conn:
        return await _samples(conn)


@router.post(
    "/scorecards",
    response_model=ScorecardOut,
    status_code=201,
    responses=error_responses(409),
)
async def add_scorecard(body: ScorecardIn, who: Scorer, pool: DbPool) -> ScorecardOut:
    card = Scorecard(
        tuple(Item(i.id, i.label, i.weight, i.fatal) for i in body.items), body.pass_mark
    )
    try:
        check_scorecard(card)
    except QaError as exc:
        raise _bad(exc) from None
    items = json.dumps([i.model_dump() for i in body.items], ensure_ascii=False)
    async with pool.acquire() as conn:
        try:
            card_id = await conn.fetchval(
                "INSERT INTO qa_scorecards (name, items, pass_mark) VALUES ($1, $2::jsonb, $3)"
                " RETURNING id",
                body.name,
                items,
                body.pass_mark,
            )
        except asyncpg.UniqueViolationError:
            raise ApiError(
                409, "qa.scorecard_exists", f"scorecard {body.name!r} exists", {"field": "name"}
            ) from None
    return ScorecardOut(**body.model_dump(), id=card_id)


async def _scorecard(conn: asyncpg.Connection, card_id: int) -> Scorecard:
    row = await conn.fetchrow(
        "SELECT items::text, pass_mark FROM qa_scorecards WHERE id = $1", card_id
    )
    if row is None:
        raise ApiError(
            422, "qa.unknown_scorecard", f"no scorecard {card_id}", {"field": "scorecard_id"}
        )
    items = json.loads(row["items"])
    return Scorecard(
        tuple(Item(i["id"], i["label"], i["weight"], i["fatal"]) for i in items),
        row["pass_mark"],
    )


@router.post("/scores", response_model=ScoreOut, status_code=201)
async def add_score(request: Request, body: ScoreIn, who: Scorer, pool: DbPool) -> ScoreOut:
    """Score one recorded call with a scorecard (one score per call and card; scoring
    again replaces it)."""
    async with pool.acquire() as conn, conn.transaction():
        card = await _scorecard(conn, body.scorecard_id)
        agent = await conn.fetchval(
            "SELECT agent FROM recordings WHERE id = $1 AND deleted_at IS NULL", body.recording_id
        )
        if agent is None and not await conn.fetchval(
            "SELECT 1 FROM recordings WHERE id = $1 AND deleted_at IS NULL", body.recording_id
        ):
            raise ApiError(
                422,
                "qa.unknown_recording",
                f"no recording {body.recording_id}",
                {"field": "recording_id"},
            )
        try:
            result = score(card, body.marks, frozenset(body.fatal_errors))
        except QaError as exc:
            raise _bad(exc) from None
        score_id = await conn.fetchval(
            "INSERT INTO qa_scores (recording_id, scorecard_id, agent, scorer, item_scores,"
            " score, fatal, error) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8)"
            " ON CONFLICT (recording_id, scorecard_id) DO UPDATE SET scorer = EXCLUDED.scorer,"
            " scored_at = now(), item_scores = EXCLUDED.item_scores, score = EXCLUDED.score,"
            " fatal = EXCLUDED.fatal, error = EXCLUDED.error RETURNING id",
            body.recording_id,
            body.scorecard_id,
            agent,
            who.username,
            json.dumps({"marks": body.marks, "fatal_errors": body.fatal_errors}),
            result.score,
            result.fatal,
            result.error,
        )
    return ScoreOut(
        id=score_id,
        recording_id=body.recording_id,
        scorecard_id=body.scorecard_id,
        agent=agent,
        scorer=who.username,
        score=result.score,
        fatal=result.fatal,
        error=result.error,
    )


@router.get("/agents/{agent}", response_model=AgentResultOut)
async def agent_result(
    request: Request,
    agent: Annotated[str, PathParam(pattern=r"^[0-9]{2,10}$")],
    who: ReaderOrAgent,
    pool: DbPool,
    start: Annotated[str | None, Query()] = None,
    end: Annotated[str | None, Query()] = None,
) -> AgentResultOut:
    """An agent's QA score (质检得分) and error rate (差错率) over calls started in the
    window (default today)."""
    agent_scope(who, agent)
    window = parse_window(start, end, request.app.state.settings.timezone)
    async with pool.acquire() as conn:
        row = await fetch_one(
            conn,
            "SELECT count(*) AS scored, avg(s.score) AS average, count(*) FILTER"
            " (WHERE s.error) AS errors FROM qa_scores s JOIN recordings r"
            " ON r.id = s.recording_id WHERE s.agent = $1 AND r.started_at >= $2"
            " AND r.started_at < $3",
            agent,
            window.start,
            window.end,
        )
    scored = int(row["scored"])
    return AgentResultOut(
        agent=agent,
        scored=scored,
        average_score=None if row["average"] is None else round(float(row["average"]), 2),
        errors=int(row["errors"]),
        error_rate=None if scored == 0 else round(int(row["errors"]) / scored, 4),
    )
