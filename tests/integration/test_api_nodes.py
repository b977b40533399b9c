"""KPIs and entries over several nodes: all nodes together, or one with ``node=``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from callctl.auth.roles import Role

pytestmark = pytest.mark.db

NOW = datetime.now(UTC).replace(microsecond=0)
QUEUE = "nodes-q"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def insert_entry(pool: Any, node: str, callid: str, outcome: str) -> None:
    answered = outcome == "answered"
    await pool.execute(
        """
        INSERT INTO queue_entries (node, callid, queue, seq, linkedid, line, entered_at,
            caller_num, outcome, wait_s, agent, talk_s, source)
        VALUES ($1, $2, $3, 1, $2, '12345', $4, '13800000000', $5, 4, $6, $7, 'ami')
        ON CONFLICT DO NOTHING
        """,
        node,
        callid,
        QUEUE,
        NOW - timedelta(minutes=1),
        outcome,
        "1001" if answered else None,
        30 if answered else None,
    )


@pytest.fixture
async def two_nodes(api_app: Any) -> None:
    # The same callid on both nodes: Asterisk's uniqueids are per node.
    await insert_entry(api_app.state.db, "a", "1700000000.1", "answered")
    await insert_entry(api_app.state.db, "a", "1700000000.2", "answered")
    await insert_entry(api_app.state.db, "b", "1700000000.1", "abandoned")


async def test_kpis_and_entries_aggregate_nodes_and_filter_by_node(
    two_nodes: None, api_client: httpx.AsyncClient, make_token: Any
) -> None:
    headers = bearer(await make_token(Role.SUPERVISOR))
    window = {
        "start": (NOW - timedelta(hours=1)).isoformat(),
        "end": (NOW + timedelta(minutes=1)).isoformat(),
        "queue": QUEUE,
    }

    async def counts(**extra: str) -> dict[str, int]:
        r = await api_client.get("/api/v1/kpis", params={**window, **extra}, headers=headers)
        assert r.status_code == 200, r.text
        [row] = r.json()["rows"]
        return {k: row["counts"][k] for k in ("offered", "answered", "abandoned")}

    assert await counts() == {"offered": 3, "answered": 2, "abandoned": 1}
    assert await counts(node="a") == {"offered": 2, "answered": 2, "abandoned": 0}
    assert await counts(node="b") == {"offered": 1, "answered": 0, "abandoned": 1}

    r = await api_client.get("/api/v1/entries", params=window, headers=headers)
    assert sorted((e["node"], e["callid"]) for e in r.json()) == [
        ("a", "1700000000.1"),
        ("a", "1700000000.2"),
        ("b", "1700000000.1"),
    ]
    r = await api_client.get("/api/v1/entries", params={**window, "node": "b"}, headers=headers)
    assert [(e["node"], e["outcome"]) for e in r.json()] == [("b", "abandoned")]

    r = await api_client.get(
        "/api/v1/kpis/entries",
        params={**window, "figure": "answered", "node": "a"},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    assert {e["node"] for e in r.json()["entries"]} == {"a"}
    assert len(r.json()["entries"]) == 2

    r = await api_client.get(
        "/api/v1/kpis.csv", params={**window, "node": "b", "lang": "en"}, headers=headers
    )
    assert r.status_code == 200
    assert r.text.splitlines()[1].split(",")[1:6] == ["1", "0", "0", "1", "0"]

    r = await api_client.get("/api/v1/kpis", params={**window, "node": "a\nb"}, headers=headers)
    assert r.status_code == 422
