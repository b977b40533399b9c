"""Bearer tokens and roles on the real API over a real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from callctl.auth.roles import Role
from callctl.auth.tokens import token_hash
from callctl.privacy import mask_number

pytestmark = pytest.mark.db

NOW = datetime.now(UTC).replace(microsecond=0)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def insert_entry(pool: Any, callid: str, caller: str, agent: str = "1001") -> None:
    await pool.execute(
        """
        INSERT INTO queue_entries (node, callid, queue, seq, linkedid, line, entered_at,
            caller_num, outcome, wait_s, agent, talk_s, source)
        VALUES ('lab', $1, 'hotline', 1, $1, '12345', $2, $3, 'answered', 4, $4, 30, 'ami')
        ON CONFLICT DO NOTHING
        """,
        callid,
        NOW - timedelta(minutes=1),
        caller,
        agent,
    )


async def test_no_token_is_401_with_a_stable_error_id(api_client: httpx.AsyncClient) -> None:
    r = await api_client.get("/api/v1/entries")
    assert r.status_code == 401
    assert r.json()["error"]["id"] == "auth.missing_token"
    assert r.headers["www-authenticate"] == "Bearer"


async def test_unknown_and_malformed_tokens_are_401(api_client: httpx.AsyncClient) -> None:
    for token in ("cct_" + "A" * 43, "not-a-token", "cct_x\r\nX-Injected: 1"[:20]):
        r = await api_client.get("/api/v1/me", headers=bearer(token))
        assert r.status_code == 401, token
        assert r.json()["error"]["id"] == "auth.invalid_token"


async def test_health_needs_no_token(api_client: httpx.AsyncClient) -> None:
    r = await api_client.get("/health")
    assert r.status_code == 200


async def test_wrong_role_is_403(api_client: httpx.AsyncClient, make_token: Any) -> None:
    token = await make_token(Role.SUPERVISOR)
    r = await api_client.get("/api/v1/users", headers=bearer(token))
    assert r.status_code == 403
    body = r.json()["error"]
    assert body["id"] == "auth.forbidden"
    assert body["detail"] == {"allowed": ["admin"]}


async def test_me_reports_the_tokens_user(api_client: httpx.AsyncClient, make_token: Any) -> None:
    token = await make_token(Role.AUDITOR)
    r = await api_client.get("/api/v1/me", headers=bearer(token))
    assert r.status_code == 200
    assert r.json()["role"] == "auditor"


async def test_admin_creates_user_and_token_then_revokes_it(
    api_client: httpx.AsyncClient, make_token: Any, api_app: Any
) -> None:
    admin = bearer(await make_token(Role.ADMIN))
    r = await api_client.post(
        "/api/v1/users",
        headers=admin,
        json={"username": "wang.fang", "role": "supervisor", "display_name": "王芳"},
    )
    assert r.status_code == 201, r.text
    user_id = r.json()["id"]
    r = await api_client.post(f"/api/v1/users/{user_id}/tokens", headers=admin, json={})
    assert r.status_code == 201
    token = r.json()["token"]
    assert (await api_client.get("/api/v1/me", headers=bearer(token))).status_code == 200
    # Only the hash is stored.
    stored = await api_app.state.db.fetchval(
        "SELECT count(*) FROM api_tokens WHERE token_hash = $1::bytea", token.encode()
    )
    assert stored == 0
    r = await api_client.post(f"/api/v1/users/{user_id}/tokens/revoke", headers=admin)
    assert r.json() == {"revoked": 1}
    r = await api_client.get("/api/v1/me", headers=bearer(token))
    assert r.status_code == 401


async def test_duplicate_user_is_409_and_bad_username_422(
    api_client: httpx.AsyncClient, make_token: Any
) -> None:
    admin = bearer(await make_token(Role.ADMIN))
    body = {"username": "li.lei", "role": "ops"}
    assert (await api_client.post("/api/v1/users", headers=admin, json=body)).status_code == 201
    r = await api_client.post("/api/v1/users", headers=admin, json=body)
    assert r.status_code == 409
    assert r.json()["error"]["id"] == "users.exists"
    r = await api_client.post(
        "/api/v1/users", headers=admin, json={"username": "evil\nname", "role": "ops"}
    )
    assert r.status_code == 422
    assert r.json()["error"]["detail"] == {"field": "username"}
    r = await api_client.post(
        "/api/v1/users", headers=admin, json={"username": "x", "role": "root"}
    )
    assert r.status_code == 422
    assert r.json()["error"]["id"] == "request.invalid"


async def test_disabled_user_token_stops_working(
    api_client: httpx.AsyncClient, make_token: Any
) -> None:
    admin = bearer(await make_token(Role.ADMIN))
    r = await api_client.post(
        "/api/v1/users", headers=admin, json={"username": "zhao", "role": "ops"}
    )
    user_id = r.json()["id"]
    token = (
        await api_client.post(f"/api/v1/users/{user_id}/tokens", headers=admin, json={})
    ).json()["token"]
    assert (await api_client.get("/api/v1/me", headers=bearer(token))).status_code == 200
    assert (
        await api_client.post(f"/api/v1/users/{user_id}/disable", headers=admin)
    ).status_code == 204
    assert (await api_client.get("/api/v1/me", headers=bearer(token))).status_code == 401


async def test_numbers_masked_for_supervisor_without_the_right(
    api_client: httpx.AsyncClient, make_token: Any, api_app: Any
) -> None:
    await insert_entry(api_app.state.db, "1700000000.101", "13812345678")
    masked = bearer(await make_token(Role.SUPERVISOR))
    clear = bearer(await make_token(Role.SUPERVISOR, can_see_numbers=True))
    params = {
        "start": (NOW - timedelta(hours=1)).isoformat(),
        "end": (NOW + timedelta(hours=1)).isoformat(),
    }

    def numbers(r: httpx.Response) -> set[str]:
        assert r.status_code == 200, r.text
        return {e["caller_num"] for e in r.json() if e["callid"] == "1700000000.101"}

    assert numbers(await api_client.get("/api/v1/entries", headers=masked, params=params)) == {
        "138****5678"
    }
    assert numbers(await api_client.get("/api/v1/entries", headers=clear, params=params)) == {
        "13812345678"
    }
    r = await api_client.get("/api/v1/entries.csv", headers=masked, params=params)
    assert r.text.startswith("\ufeff进线时间,")
    assert "138****5678" in r.text and "13812345678" not in r.text


async def test_agent_sees_only_its_own_entries(
    api_client: httpx.AsyncClient, make_token: Any, api_app: Any
) -> None:
    await insert_entry(api_app.state.db, "1700000000.201", "13900000001", agent="1001")
    await insert_entry(api_app.state.db, "1700000000.202", "13900000002", agent="1002")
    agent = bearer(await make_token(Role.AGENT, agent_id="1001"))
    params = {
        "start": (NOW - timedelta(hours=1)).isoformat(),
        "end": (NOW + timedelta(hours=1)).isoformat(),
    }
    r = await api_client.get("/api/v1/entries", headers=agent, params=params)
    assert {e["agent"] for e in r.json()} == {"1001"}
    r = await api_client.get("/api/v1/entries", headers=agent, params={**params, "agent": "1002"})
    assert r.status_code == 403
    assert r.json()["error"]["id"] == "auth.other_agent"


async def test_bad_parameters_are_422(api_client: httpx.AsyncClient, make_token: Any) -> None:
    sup = bearer(await make_token(Role.SUPERVISOR))
    cases = [
        ({"start": "yesterday"}, "request.invalid_time"),
        (
            {"start": "2026-11-02T00:00:00+08:00", "end": "2026-11-01T00:00:00+08:00"},
            "request.empty_window",
        ),
        (
            {"start": "2020-01-01T00:00:00+08:00", "end": "2026-01-01T00:00:00+08:00"},
            "request.window_too_long",
        ),
        ({"queue": "hot;line"}, "request.invalid"),
        ({"limit": "0"}, "request.invalid"),
        ({"outcome": "won"}, "request.invalid"),
    ]
    for params, error_id in cases:
        r = await api_client.get("/api/v1/entries", headers=sup, params=params)
        assert r.status_code == 422, params
        assert r.json()["error"]["id"] == error_id, params


async def test_call_detail_drills_down_to_its_ami_events(
    api_client: httpx.AsyncClient, make_token: Any, api_app: Any
) -> None:
    pool = api_app.state.db
    await insert_entry(pool, "1700000000.301", "13812340000")
    # Events go to their month's partition, as the raw-event writer does.
    await pool.execute(
        "SELECT callctl_ensure_event_partition(date_trunc('month', $1::timestamptz)::date)",
        NOW - timedelta(minutes=1),
    )
    await pool.execute(
        "INSERT INTO ami_events (node, received_at, seq, name, linkedid, uniqueid, headers) "
        "VALUES ('lab', $1, 1, 'QueueCallerJoin', '1700000000.301', '1700000000.301', $2::jsonb)",
        NOW - timedelta(minutes=1),
        '{"Event": "QueueCallerJoin", "CallerIDNum": "13812340000", "Queue": "hotline"}',
    )
    sup = bearer(await make_token(Role.SUPERVISOR))
    r = await api_client.get("/api/v1/calls/lab/1700000000.301", headers=sup)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [e["name"] for e in body["events"]] == ["QueueCallerJoin"]
    assert body["events"][0]["headers"]["CallerIDNum"] == mask_number("13812340000")
    assert body["entries"][0]["caller_num"] == "138****0000"
    r = await api_client.get("/api/v1/calls/lab/nope", headers=sup)
    assert r.status_code == 404
    assert r.json()["error"]["id"] == "calls.not_found"


async def test_agent_state_history(
    api_client: httpx.AsyncClient, make_token: Any, api_app: Any
) -> None:
    await api_app.state.db.execute(
        "INSERT INTO agent_state_intervals (node, agent, state, reason, started_at, ended_at) "
        "VALUES ('lab', '1007', 'paused', '小休', $1, $2)",
        NOW - timedelta(minutes=10),
        NOW - timedelta(minutes=5),
    )
    sup = bearer(await make_token(Role.SUPERVISOR))
    params = {"start": (NOW - timedelta(hours=1)).isoformat(), "end": NOW.isoformat()}
    r = await api_client.get("/api/v1/agents/1007/states", headers=sup, params=params)
    assert r.status_code == 200, r.text
    assert [(s["state"], s["reason"]) for s in r.json()["states"]] == [("paused", "小休")]
    other = bearer(await make_token(Role.AGENT, agent_id="1008"))
    r = await api_client.get("/api/v1/agents/1007/states", headers=other, params=params)
    assert r.status_code == 403


async def test_cli_user_add_creates_the_first_admin(
    api_client: httpx.AsyncClient, database_url: str
) -> None:
    import asyncio
    import os
    import sys

    env = {**os.environ, "CALLCTL_DATABASE_URL": database_url}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "callctl.cli",
        "user",
        "add",
        "first.admin",
        "--role",
        "admin",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    token = out.decode().split("API token (shown once): ")[1].strip()
    r = await api_client.get("/api/v1/me", headers=bearer(token))
    assert r.json()["username"] == "first.admin" and r.json()["role"] == "admin"
    # A second time: refused, clearly, nothing created.
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "callctl.cli",
        "user",
        "add",
        "first.admin",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    assert proc.returncode == 2
    assert "already exists" in err.decode()


async def test_token_use_is_recorded(
    api_client: httpx.AsyncClient, make_token: Any, api_app: Any
) -> None:
    token = await make_token(Role.SUPERVISOR)
    assert (await api_client.get("/api/v1/me", headers=bearer(token))).status_code == 200
    used = await api_app.state.db.fetchval(
        "SELECT last_used_at FROM api_tokens WHERE token_hash = $1", token_hash(token)
    )
    assert used is not None
