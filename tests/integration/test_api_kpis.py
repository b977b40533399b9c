"""GET /api/v1/kpis, /kpis.csv and /kpis/entries against a real PostgreSQL.

The facts are the worked example of kpi-definitions.md (queue ``general``,
10 entries), written through ``commit_facts`` in a window of their own.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from callctl.auth.roles import Role
from callctl.db import asyncpg_dsn
from callctl.facts.models import AcwInterval, HangupSide, QueueEntryFact
from callctl.ingest.upserts import commit_facts, create_stage_tables
from kpi.figures import Figure
from kpi.outcome import Outcome

pytestmark = pytest.mark.db

MakeToken = Callable[..., Awaitable[str]]

# (outcome, wait_s, talk_s, acw_s) of the worked example; survey answers are not facts yet.
EXAMPLE = [
    (Outcome.ANSWERED, 3, 120, 30),
    (Outcome.ANSWERED, 14, 60, 200),
    (Outcome.ANSWERED, 15, 90, 0),
    (Outcome.ANSWERED, 16, 45, 60),
    (Outcome.ANSWERED, 40, 300, 400),
    (Outcome.ABANDONED, 2, None, None),
    (Outcome.ABANDONED, 30, None, None),
    (Outcome.TIMEOUT, 60, None, None),
    (Outcome.ANSWERED, 0, 10, 10),
    (Outcome.ANSWERED, 5, 20, 20),
]


@pytest.fixture
async def window(database_url: str) -> AsyncIterator[tuple[datetime, datetime, str]]:
    """Writes the example into an hour of its own; yields (start, end, node)."""
    start = datetime(2031, 1, 1, tzinfo=UTC) + timedelta(hours=random.randrange(200_000))
    node = f"api-{uuid.uuid4().hex[:8]}"
    base = int(start.timestamp())
    facts: list[Any] = []
    for i, (outcome, wait, talk, acw) in enumerate(EXAMPLE):
        entered = base + 60 * i
        agent = talk_s = hangup = done = None
        if outcome is Outcome.ANSWERED:
            agent, talk_s, hangup = ("1001" if i % 2 else "1002"), talk, HangupSide.CALLER
            done = entered + wait + (talk or 0)
            if acw:
                facts.append(
                    AcwInterval(node, agent, done, done + acw, None, f"c{i}", "general", 1)
                )
        entry = QueueEntryFact(
            node=node, callid=f"c{i}", queue="general", seq=1, entered_at=entered,
            caller_num=f"1381234{i:04d}", outcome=outcome, wait_s=wait,
            ended_wait_at=entered + wait, agent=agent, talk_s=talk_s, hangup_side=hangup,
            completed_at=done,
        )  # fmt: skip
        facts.append(entry)
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await create_stage_tables(conn)
        await commit_facts(conn, [(f, "ami") for f in facts])
    finally:
        await conn.close()
    yield start, start + timedelta(hours=1), node


def _params(start: datetime, end: datetime, **extra: Any) -> dict[str, Any]:
    return {"start": start.isoformat(), "end": end.isoformat(), **extra}


async def _get(client: httpx.AsyncClient, token: str, path: str, **params: Any) -> httpx.Response:
    return await client.get(path, params=params, headers={"Authorization": f"Bearer {token}"})


async def test_kpis_reproduce_the_worked_example_with_numerators(
    api_client: httpx.AsyncClient, make_token: MakeToken, window: tuple[datetime, datetime, str]
) -> None:
    start, end, _ = window
    token = await make_token(Role.SUPERVISOR)
    r = await _get(api_client, token, "/api/v1/kpis", **_params(start, end))
    assert r.status_code == 200, r.text
    body = r.json()
    (row,) = body["rows"]
    assert row["group"] is None
    assert row["counts"]["offered"] == 10 and row["counts"]["answered"] == 7
    f = row["figures"]
    assert f["answer_rate"] == {"value": 70.0, "unit": "percent", "numerator": 7, "denominator": 10}
    assert (f["service_level"]["value"], f["service_level"]["numerator"]) == (50.0, 5)
    assert f["abandon_rate"]["value"] == 20.0
    assert f["asa_s"] == {"value": 13.29, "unit": "seconds", "numerator": 93, "denominator": 7}
    assert f["avg_acw_s"]["value"] == 88.57  # #5's 400 s capped at 300
    assert f["satisfaction"]["value"] is None  # no survey answers: no value, never 0 %
    assert body["labels"]["answer_rate"] == {"zh-CN": "人工接通率", "en": "answer rate"}

    r = await _get(api_client, token, "/api/v1/kpis", **_params(start, end, short_abandon_s=5))
    f = r.json()["rows"][0]["figures"]
    assert (f["answer_rate"]["value"], f["service_level"]["value"]) == (77.78, 55.56)

    r = await _get(api_client, token, "/api/v1/kpis", **_params(start, end, group_by="agent"))
    rows = {row["group"]: row for row in r.json()["rows"]}
    assert set(rows) == {"1001", "1002"}
    assert sum(row["counts"]["answered"] for row in rows.values()) == 7
    assert "utilisation" in rows["1001"]["figures"]


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"start": "2031-01-02T00:00:00+08:00", "end": "2031-01-01T00:00:00+08:00"}, "empty"),
        ({"start": "2031-01-01T00:00:00+08:00", "end": "2032-03-01T00:00:00+08:00"}, "too_long"),
        ({"group_by": "fortnight"}, "request.invalid"),
        ({"service_level_s": "61"}, "request.invalid"),
        ({"start": "yesterday"}, "invalid_time"),
        ({"queue": "q1\r\nAction: Originate"}, "request.invalid"),
    ],
)
async def test_bad_parameters_are_422_with_a_clear_error(
    api_client: httpx.AsyncClient, make_token: MakeToken, params: dict[str, str], error: str
) -> None:
    token = await make_token(Role.OPS)
    r = await _get(api_client, token, "/api/v1/kpis", **params)
    assert r.status_code == 422, r.text
    assert error in r.json()["error"]["id"]
    assert r.json()["error"]["message"]


async def test_csv_has_bom_and_zh_cn_headers_or_english(
    api_client: httpx.AsyncClient, make_token: MakeToken, window: tuple[datetime, datetime, str]
) -> None:
    start, end, _ = window
    token = await make_token(Role.AUDITOR)
    r = await _get(api_client, token, "/api/v1/kpis.csv", **_params(start, end))
    assert r.status_code == 200
    assert r.content.startswith("\ufeff".encode())
    lines = r.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("分组,呼入总量,人工接通量")
    assert "人工接通率 (%)" in lines[0]
    assert lines[1].split(",")[1:3] == ["10", "7"]
    assert "70.00" in lines[1].split(",")
    r = await _get(api_client, token, "/api/v1/kpis.csv", **_params(start, end, lang="en"))
    assert r.content.decode("utf-8-sig").splitlines()[0].startswith("group,offered,answered")


@pytest.mark.parametrize("figure", list(Figure))
async def test_drill_down_lists_exactly_the_entries_behind_each_count(
    api_client: httpx.AsyncClient,
    make_token: MakeToken,
    window: tuple[datetime, datetime, str],
    figure: Figure,
) -> None:
    start, end, _ = window
    token = await make_token(Role.SUPERVISOR)
    for short_abandon_s in (0, 5):
        params = _params(start, end, short_abandon_s=short_abandon_s)
        counts = (await _get(api_client, token, "/api/v1/kpis", **params)).json()["rows"][0][
            "counts"
        ]
        key = {"answered_within_sl": "answered_in_sl"}.get(figure.value, figure.value)
        r = await _get(api_client, token, "/api/v1/kpis/entries", figure=figure.value, **params)
        assert r.status_code == 200, r.text
        entries = r.json()["entries"]
        assert len(entries) == counts[key]
        for entry in entries:
            assert entry["caller_num"] is None or "****" in entry["caller_num"]


async def test_drill_down_pages_and_shows_numbers_only_to_who_may_see_them(
    api_client: httpx.AsyncClient, make_token: MakeToken, window: tuple[datetime, datetime, str]
) -> None:
    start, end, _ = window
    token = await make_token(Role.SUPERVISOR, can_see_numbers=True)
    params = _params(start, end, figure="offered", limit=3)
    first = (await _get(api_client, token, "/api/v1/kpis/entries", **params)).json()["entries"]
    second = (await _get(api_client, token, "/api/v1/kpis/entries", **params, offset=3)).json()
    assert [e["callid"] for e in first] == ["c0", "c1", "c2"]
    assert [e["callid"] for e in second["entries"]] == ["c3", "c4", "c5"]
    assert first[0]["caller_num"] == "13812340000"
    assert first[0]["acw_s"] == 30


async def test_agents_read_only_their_own_figures(
    api_client: httpx.AsyncClient, make_token: MakeToken, window: tuple[datetime, datetime, str]
) -> None:
    start, end, _ = window
    token = await make_token(Role.AGENT, agent_id="1001")
    r = await _get(api_client, token, "/api/v1/kpis", **_params(start, end))
    assert r.status_code == 200
    body = r.json()
    assert body["agent"] == "1001"
    assert body["rows"][0]["counts"]["answered"] == 3  # #2, #4, #10 (odd entries answered)
    r = await _get(api_client, token, "/api/v1/kpis", **_params(start, end, agent="1002"))
    assert r.status_code == 403
    assert r.json()["error"]["id"] == "auth.other_agent"
    r = await _get(
        api_client, token, "/api/v1/kpis/entries", **_params(start, end, figure="answered")
    )
    assert {e["agent"] for e in r.json()["entries"]} == {"1001"}
    r = await api_client.get("/api/v1/kpis", params=_params(start, end))
    assert r.status_code == 401
