"""GET /api/v1/forecast against a real PostgreSQL: facts → rollups → forecast → agents.

Six Wednesdays of a line of its own (in 2031, a year the holiday calendar does not
cover: days are classed by weekday and the answer says so), written as facts and
rolled up by the rollup refresher; the forecast of the seventh is the mean of the
last four, staffed with the handle time and patience the facts show.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from callctl.auth.roles import Role
from callctl.db import asyncpg_dsn
from callctl.facts.models import HangupSide, QueueEntryFact
from callctl.ingest.upserts import commit_facts, create_stage_tables
from forecast.staffing import Demand, StaffingTarget, agents_needed
from kpi.outcome import Outcome
from kpi.rollups import refresh_all

pytestmark = pytest.mark.db

MakeToken = Callable[..., Awaitable[str]]
SHANGHAI = ZoneInfo("Asia/Shanghai")
# Calls at 10:00 and 10:15 on each of the six Wednesdays before the target, oldest first.
CALLS_AT_10 = [40, 2, 6, 10, 14, 18]
CALLS_AT_1015 = [1, 1, 3, 3, 5, 5]
TALK_S, ANSWERED_WAIT_S, ABANDONED_WAIT_S = 100, 5, 30


def _entries(node: str, line: str, start: datetime, calls: int) -> list[QueueEntryFact]:
    facts = []
    base = int(start.timestamp())
    for i in range(calls):
        entered = base + 10 * i
        callid = f"{node}-{base}-{i}"
        if i % 4 == 3:  # every fourth caller hangs up after 30 s
            facts.append(
                QueueEntryFact(
                    node=node,
                    callid=callid,
                    queue="fq",
                    seq=1,
                    entered_at=entered,
                    outcome=Outcome.ABANDONED,
                    wait_s=ABANDONED_WAIT_S,
                    ended_wait_at=entered + ABANDONED_WAIT_S,
                    line=line,
                )
            )
            continue
        answered = entered + ANSWERED_WAIT_S
        facts.append(
            QueueEntryFact(
                node=node,
                callid=callid,
                queue="fq",
                seq=1,
                entered_at=entered,
                outcome=Outcome.ANSWERED,
                wait_s=ANSWERED_WAIT_S,
                ended_wait_at=answered,
                agent="1001",
                talk_s=TALK_S,
                hangup_side=HangupSide.CALLER,
                completed_at=answered + TALK_S,
                line=line,
            )
        )
    return facts


@pytest.fixture
async def history(api_app: FastAPI, database_url: str) -> tuple[str, date]:
    """A line with six Wednesdays of calls; yields (line, the Wednesday after them)."""
    line = f"9{random.randrange(10**8):08d}"
    node = f"fc-{uuid.uuid4().hex[:8]}"
    target = date(2031, 1, 1) + timedelta(weeks=random.randrange(1, 50))
    target += timedelta(days=(2 - target.weekday()) % 7)  # a Wednesday
    facts: list[QueueEntryFact] = []
    for weeks_back, (at_10, at_1015) in zip(
        range(6, 0, -1), zip(CALLS_AT_10, CALLS_AT_1015, strict=True), strict=True
    ):
        day = target - timedelta(weeks=weeks_back)
        ten = datetime(day.year, day.month, day.day, 10, tzinfo=SHANGHAI)
        facts += _entries(node, line, ten, at_10)
        facts += _entries(node, line, ten + timedelta(minutes=15), at_1015)
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await create_stage_tables(conn)
        await commit_facts(conn, [(f, "ami") for f in facts])
        await refresh_all(conn, await api_app.state.acw_caps())
    finally:
        await conn.close()
    return line, target


async def _get(client: httpx.AsyncClient, token: str, **params: str) -> httpx.Response:
    return await client.get(
        "/api/v1/forecast", params=params, headers={"Authorization": f"Bearer {token}"}
    )


async def test_forecast_per_interval_from_the_rollups(
    api_client: httpx.AsyncClient, make_token: MakeToken, history: tuple[str, date]
) -> None:
    line, target = history
    token = await make_token(Role.SUPERVISOR)
    r = await _get(api_client, token, line=line, day=target.isoformat())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["calendar"] == {
        "kind": "workday",
        "label": {"zh-CN": "工作日", "en": "workday"},
        "holiday": None,
        "known": False,
    }
    assert body["method"] == "same_weekday"
    assert [date.fromisoformat(d) for d in body["reference_days"]] == [
        target - timedelta(weeks=w) for w in (1, 2, 3, 4)
    ]
    assert len(body["intervals"]) == 96
    by_start = {
        datetime.fromisoformat(i["start"]).astimezone(SHANGHAI).strftime("%H:%M"): i
        for i in body["intervals"]
    }
    expected_10 = sum(CALLS_AT_10[-4:]) / 4
    assert by_start["10:00"]["calls"] == expected_10
    assert by_start["10:15"]["calls"] == sum(CALLS_AT_1015[-4:]) / 4
    assert by_start["03:00"] == {**by_start["03:00"], "calls": 0.0, "agents": 0, "scheduled": 0}
    assert body["total_calls"] == pytest.approx(expected_10 + 4.0)

    # Handle time and patience from the facts: all answered talk 100 s; patience is
    # the waiting time of everyone over the abandons (maximum likelihood).
    assert body["handle_s"] == TALK_S
    answered = abandoned = 0
    for n in (*CALLS_AT_10[-4:], *CALLS_AT_1015[-4:]):  # the last 28 days
        abandoned += n // 4
        answered += n - n // 4
    patience = (answered * ANSWERED_WAIT_S + abandoned * ABANDONED_WAIT_S) / abandoned
    assert body["model"] == "erlang_a"
    assert body["patience_s"] == pytest.approx(round(patience, 1))

    target_90 = StaffingTarget(service_level=0.9, threshold_s=15, shrinkage=0.3)
    staffing = agents_needed(Demand(expected_10, 900, TALK_S, patience), target_90)
    assert (by_start["10:00"]["agents"], by_start["10:00"]["scheduled"]) == (
        staffing.agents,
        staffing.scheduled,
    )
    assert by_start["10:00"]["service_level"] >= 90

    # A stricter target needs at least as many agents.
    r = await _get(api_client, token, line=line, day=target.isoformat(), service_level="99")
    assert r.json()["intervals"][40]["agents"] >= by_start["10:00"]["agents"]


async def test_a_line_without_history_has_no_forecast(
    api_client: httpx.AsyncClient, make_token: MakeToken
) -> None:
    token = await make_token(Role.SUPERVISOR)
    r = await _get(api_client, token, line="7654321", day="2031-06-04")
    assert r.status_code == 404
    error = r.json()["error"]
    assert error["id"] == "forecast.no_history"
    assert "no forecast" in error["message"] and "7654321" in error["message"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"service_level": "101"}, "service_level"),
        ({"service_level": "100"}, "service_level"),
        ({"answer_rate": "150"}, "answer_rate"),
        ({"shrinkage": "-5"}, "shrinkage"),
        ({"shrinkage": "nan"}, "shrinkage"),
        ({"service_level": "inf"}, "service_level"),
        ({"answer_rate": "-inf"}, "answer_rate"),
        ({"day": "2031-02-30"}, "day"),
        ({"line": "12345\r\nAction: Originate"}, "line"),
    ],
)
async def test_bad_input_is_422_naming_the_field(
    api_client: httpx.AsyncClient, make_token: MakeToken, params: dict[str, str], field: str
) -> None:
    token = await make_token(Role.SUPERVISOR)
    r = await _get(api_client, token, **{"line": "12345", **params})
    assert r.status_code == 422, r.text
    assert field in r.text


async def test_agents_may_not_read_the_forecast(
    api_client: httpx.AsyncClient, make_token: MakeToken
) -> None:
    token = await make_token(Role.AGENT)
    r = await _get(api_client, token, line="12345")
    assert r.status_code == 403
