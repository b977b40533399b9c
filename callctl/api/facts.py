"""Facts behind the figures: queue entries, one call's entries and AMI events, agents' states."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel

from callctl.api.csv_export import CSV_RESPONSE, csv_response, csv_text
from callctl.api.deps import AppSettings, DbPool, Reader, ReaderOrAgent
from callctl.api.errors import ApiError
from callctl.api.filters import (
    ID_PATTERN,
    MAX_OFFSET,
    FactFilter,
    Facts,
    Lang,
    TimeParam,
    agent_scope,
)
from callctl.api.window import parse_window
from callctl.auth.principal import Principal
from callctl.db_types import Pool, Record
from callctl.privacy import mask_event_headers, mask_number
from kpi.outcome import Outcome, outcome_label

router = APIRouter(prefix="/api/v1", tags=["facts"])

OUTCOMES = tuple(outcome.value for outcome in Outcome)


class QueueEntryOut(BaseModel):
    node: str
    callid: str
    queue: str
    seq: int
    linkedid: str | None
    line: str | None
    entered_at: datetime
    caller_num: str | None
    position: int | None
    outcome: str | None
    ended_wait_at: datetime | None
    wait_s: int | None
    agent: str | None
    ring_attempts: int
    talk_s: int | None
    hangup_side: str | None
    completed_at: datetime | None
    acw_s: int | None
    source: str


class AmiEventOut(BaseModel):
    received_at: datetime
    seq: int
    name: str
    uniqueid: str | None
    headers: dict[str, str]


class CallDetail(BaseModel):
    entries: list[QueueEntryOut]
    events: list[AmiEventOut]


class StateIntervalOut(BaseModel):
    state: str
    reason: str
    started_at: datetime
    ended_at: datetime | None
    callid: str | None


class AgentHistory(BaseModel):
    agent: str
    start: datetime
    end: datetime
    states: list[StateIntervalOut]


def _entry(row: Record, principal: Principal) -> QueueEntryOut:
    data = dict(row)
    data.pop("updated_at", None)
    if not principal.can_see_numbers:
        data["caller_num"] = mask_number(data["caller_num"])
    return QueueEntryOut(**data)


def _masked_headers(headers: dict[str, str], principal: Principal) -> dict[str, str]:
    return headers if principal.can_see_numbers else mask_event_headers(headers)


async def _fetch_entries(
    pool: Pool,
    principal: Principal,
    f: FactFilter,
    outcome: str | None,
    limit: int,
    offset: int,
) -> list[QueueEntryOut]:
    f = f.for_principal(principal)
    rows = await pool.fetch(
        """
        SELECT * FROM queue_entries
        WHERE entered_at >= $1 AND entered_at < $2
          AND ($3::text IS NULL OR queue = $3) AND ($4::text IS NULL OR line = $4)
          AND ($5::text IS NULL OR agent = $5) AND ($6::text IS NULL OR outcome = $6)
          AND ($9::text IS NULL OR node = $9)
        ORDER BY entered_at, node, callid, queue, seq
        LIMIT $7 OFFSET $8
        """,
        f.window.start,
        f.window.end,
        f.queue,
        f.line,
        f.agent,
        outcome,
        limit,
        offset,
        f.node,
    )
    return [_entry(r, principal) for r in rows]


OutcomeParam = Annotated[str | None, Query(pattern="^(" + "|".join(OUTCOMES) + ")$")]


@router.get("/entries", response_model=list[QueueEntryOut])
async def list_entries(
    f: Facts,
    principal: ReaderOrAgent,
    pool: DbPool,
    outcome: OutcomeParam = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 500,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[QueueEntryOut]:
    """Queue entries that entered in the window (default: today, Asia/Shanghai)."""
    return await _fetch_entries(pool, principal, f, outcome, limit, offset)


CSV_HEADERS = {
    "zh-CN": {
        "entered_at": "进线时间",
        "line": "热线",
        "queue": "队列",
        "caller_num": "主叫号码",
        "outcome": "结果",
        "wait_s": "等待秒数",
        "agent": "坐席",
        "talk_s": "通话秒数",
        "acw_s": "话后处理秒数",
        "hangup_side": "挂机方",
        "callid": "呼叫ID",
    },
    "en": {},
}


@router.get("/entries.csv", response_class=Response, responses=CSV_RESPONSE)
async def entries_csv(
    f: Facts,
    principal: ReaderOrAgent,
    pool: DbPool,
    settings: AppSettings,
    outcome: OutcomeParam = None,
    lang: Lang = "zh-CN",
    limit: Annotated[int, Query(ge=1, le=1_000_000)] = 100_000,
) -> Response:
    """The same entries as CSV (UTF-8 with BOM, so that Excel reads the Chinese headers)."""
    entries = await _fetch_entries(pool, principal, f, outcome, limit, 0)
    columns = list(CSV_HEADERS["zh-CN"])
    zone = ZoneInfo(settings.timezone)

    def row(entry: QueueEntryOut) -> list[object]:
        values = entry.model_dump()
        values["entered_at"] = entry.entered_at.astimezone(zone).isoformat()
        if entry.outcome is not None:
            values["outcome"] = outcome_label(entry.outcome, lang)
        return [values[c] for c in columns]

    header = [CSV_HEADERS[lang].get(c, c) for c in columns]
    return csv_response(csv_text(header, map(row, entries)), "queue_entries.csv")


@router.get("/calls/{node}/{callid}", response_model=CallDetail)
async def call_detail(
    node: str,
    callid: str,
    principal: Reader,
    pool: DbPool,
) -> CallDetail:
    """A call's queue entries and the raw AMI events behind them (drill-down)."""
    for name, value in (("node", node), ("callid", callid)):
        if not _valid_id(value):
            raise ApiError(422, "request.invalid_id", f"{name}: not a valid id", {"field": name})
    entries = await pool.fetch(
        "SELECT * FROM queue_entries WHERE node = $1 AND (callid = $2 OR linkedid = $2) "
        "ORDER BY entered_at, queue, seq",
        node,
        callid,
    )
    if not entries:
        raise ApiError(404, "calls.not_found", f"no queue entry for call {callid} on {node}")
    linkedids = sorted({r["linkedid"] or r["callid"] for r in entries})
    events = await pool.fetch(
        "SELECT received_at, seq, name, uniqueid, headers FROM ami_events "
        "WHERE node = $1 AND linkedid = ANY($2::text[]) ORDER BY received_at, seq",
        node,
        linkedids,
    )
    return CallDetail(
        entries=[_entry(r, principal) for r in entries],
        events=[
            AmiEventOut(
                received_at=e["received_at"],
                seq=e["seq"],
                name=e["name"],
                uniqueid=e["uniqueid"],
                headers=_masked_headers(_headers(e["headers"]), principal),
            )
            for e in events
        ],
    )


def _valid_id(value: str) -> bool:
    return re.fullmatch(ID_PATTERN, value) is not None


def _headers(raw: Any) -> dict[str, str]:
    data = json.loads(raw) if isinstance(raw, str) else raw
    return {str(k): str(v) for k, v in data.items()}


@router.get("/agents/{agent}/states", response_model=AgentHistory)
async def agent_states(
    agent: str,
    principal: ReaderOrAgent,
    pool: DbPool,
    settings: AppSettings,
    start: TimeParam = None,
    end: TimeParam = None,
) -> AgentHistory:
    """The agent's state intervals overlapping the window (default: today)."""
    if not _valid_id(agent):
        raise ApiError(422, "request.invalid_id", "agent: not a valid id", {"field": "agent"})
    scoped = agent_scope(principal, agent)
    assert scoped is not None
    window = parse_window(start, end, settings.timezone)
    rows = await pool.fetch(
        """
        SELECT state, reason, started_at, ended_at, callid FROM agent_state_intervals
        WHERE agent = $1 AND started_at < $3 AND (ended_at IS NULL OR ended_at > $2)
        ORDER BY started_at, state
        """,
        scoped,
        window.start,
        window.end,
    )
    return AgentHistory(
        agent=scoped,
        start=window.start,
        end=window.end,
        states=[StateIntervalOut(**dict(r)) for r in rows],
    )
