"""GET /api/v1/kpis carries the callbacks (回访) due in its window: 回访率 (reached ÷
due) and 24-hour timeliness, of the line or agent filtered on, against a real
PostgreSQL; the wallboard reads the same section."""

from __future__ import annotations

import random
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from callctl.auth.roles import Role
from callctl.db import asyncpg_dsn

pytestmark = pytest.mark.db

MakeToken = Callable[..., Awaitable[str]]


async def test_kpis_carry_callback_rate_and_timeliness(
    api_client: httpx.AsyncClient, make_token: MakeToken, database_url: str
) -> None:
    start = datetime(2031, 1, 1, tzinfo=UTC) + timedelta(hours=random.randrange(200_000))
    end = start + timedelta(hours=1)
    line = str(random.randrange(10**7, 10**8))
    # (due from, status, reached after creation, agent): 5 due in the window, 3 reached,
    # 2 of them within 24 h; one more due after the window, one on another line.
    tasks = [
        (start + timedelta(minutes=1), "reached", timedelta(hours=2), "1001"),
        (start + timedelta(minutes=2), "reached", timedelta(hours=23), "1002"),
        (start + timedelta(minutes=3), "reached", timedelta(hours=30), "1001"),
        (start + timedelta(minutes=4), "exhausted", None, "1001"),
        (start + timedelta(minutes=5), "invalid", None, None),
        (end + timedelta(minutes=1), "reached", timedelta(hours=1), "1001"),
    ]
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        for i, (due, status, after, agent) in enumerate(tasks):
            await conn.execute(
                "INSERT INTO callback_tasks (source, source_ref, line, number, created_at, "
                "due_from, status, reached_at, agent) "
                "VALUES ('api', $1, $2, '13800138000', $3, $3, $4, $5, $6)",
                f"kpi-{uuid.uuid4().hex}-{i}",
                line,
                due,
                status,
                None if after is None else due + after,
                agent,
            )
        await conn.execute(
            "INSERT INTO callback_tasks (source, source_ref, line, number, created_at, due_from) "
            "VALUES ('api', $1, '99999999', '13800138000', $2, $2)",
            f"kpi-{uuid.uuid4().hex}",
            start + timedelta(minutes=6),
        )
    finally:
        await conn.close()

    token = await make_token(Role.SUPERVISOR)
    headers = {"Authorization": f"Bearer {token}"}
    window = {"start": start.isoformat(), "end": end.isoformat()}
    r = await api_client.get("/api/v1/kpis", params={**window, "line": line}, headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    callbacks = body["callbacks"]
    assert callbacks["counts"] == {"due": 5, "reached": 3, "reached_within_24h": 2}
    assert callbacks["figures"]["callback_rate"] == {
        "value": 60.0,
        "unit": "percent",
        "numerator": 3,
        "denominator": 5,
    }
    assert callbacks["figures"]["timeliness_24h"]["value"] == 40.0
    assert body["labels"]["callback_rate"]["zh-CN"] == "回访率"
    assert body["labels"]["timeliness_24h"]["zh-CN"] == "24小时回访及时率"

    r = await api_client.get(
        "/api/v1/kpis", params={**window, "line": line, "agent": "1001"}, headers=headers
    )
    assert r.json()["callbacks"]["counts"] == {"due": 3, "reached": 2, "reached_within_24h": 1}

    r = await api_client.get("/api/v1/kpis", params={**window, "queue": "hotline"}, headers=headers)
    assert r.json()["callbacks"] is None  # a queue has no callbacks of its own

    empty = {
        "start": (end + timedelta(hours=2)).isoformat(),
        "end": (end + timedelta(hours=3)).isoformat(),
    }
    r = await api_client.get("/api/v1/kpis", params={**empty, "line": line}, headers=headers)
    figures = r.json()["callbacks"]["figures"]
    assert figures["callback_rate"]["value"] is None  # nothing due: no value, never 0 %
