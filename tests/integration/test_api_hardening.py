"""The API against an attacker's probe (one test per finding), over a real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
import websockets
from fastapi import FastAPI
from pydantic import SecretStr
from websockets.exceptions import ConnectionClosed, InvalidStatus

from callctl.auth.roles import Role
from callctl.settings import Settings

pytestmark = pytest.mark.db

MakeToken = Callable[..., Awaitable[str]]
NOW = datetime.now(UTC).replace(microsecond=0)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Captured(logging.Handler):
    """Every record any logger emits, as the line it would print."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(logging.Formatter("%(name)s %(message)s").format(record))


@pytest.fixture
def captured() -> Iterator[Captured]:
    handler = Captured()
    names = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "callctl")
    loggers = [logging.getLogger(n) for n in names]
    saved = [(lg.level, lg.propagate) for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
        lg.propagate = False
    yield handler
    for lg, (level, propagate) in zip(loggers, saved, strict=True):
        lg.removeHandler(handler)
        lg.setLevel(level)
        lg.propagate = propagate


@pytest.fixture
async def server(api_app: FastAPI, captured: Captured) -> AsyncIterator[str]:
    """The app served by uvicorn with its access log on, every log line captured."""
    config = uvicorn.Config(
        api_app, host="127.0.0.1", port=0, lifespan="off", log_level="debug", access_log=True
    )
    served = uvicorn.Server(config)
    task = asyncio.create_task(served.serve())
    for _ in range(500):
        if served.started:
            break
        await asyncio.sleep(0.01)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):  # uvicorn set its own up
        logging.getLogger(name).addHandler(captured)
    port = served.servers[0].sockets[0].getsockname()[1]
    yield f"127.0.0.1:{port}"
    served.should_exit = True
    await task


async def ws_close(url: str, first: str | bytes | None = None, **kwargs: Any) -> tuple[int, str]:
    async with websockets.connect(url, **kwargs) as ws:
        if first is not None:
            await ws.send(first)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


# --- 1. a caller's number in a raw event ---------------------------------------------------


async def test_call_detail_masks_every_header_that_may_hold_a_number(
    api_client: httpx.AsyncClient, make_token: MakeToken, api_app: FastAPI
) -> None:
    pool = api_app.state.db
    callid = "1700000001.501"
    await pool.execute(
        "INSERT INTO queue_entries (node, callid, queue, seq, linkedid, line, entered_at, "
        "caller_num, outcome, wait_s, agent, talk_s, source) VALUES ('lab', $1, 'hotline', 1, "
        "$1, '12345', $2, '13800138000', 'answered', 4, '1001', 30, 'ami')",
        callid,
        NOW - timedelta(minutes=1),
    )
    await pool.execute(
        "SELECT callctl_ensure_event_partition(date_trunc('month', $1::timestamptz)::date)",
        NOW - timedelta(minutes=1),
    )
    headers = {
        "Event": "AgentConnect",
        "DestConnectedLineNum": "13800138000",
        "ConnectedLineNum": "<unknown>",
        "X-Unheard-Of": "call back 13912345678 please",
        "Uniqueid": callid,
    }
    await pool.execute(
        "INSERT INTO ami_events (node, received_at, seq, name, linkedid, uniqueid, headers) "
        "VALUES ('lab', $1, $4, 'AgentConnect', $2, $2, $3::jsonb)",
        NOW - timedelta(minutes=1),
        callid,
        json.dumps(headers),
        secrets.randbelow(2**31),  # the key (node, received_at, seq) is shared by the database
    )
    restricted = bearer(await make_token(Role.SUPERVISOR))
    r = await api_client.get(f"/api/v1/calls/lab/{callid}", headers=restricted)
    assert r.status_code == 200, r.text
    shown = r.json()["events"][0]["headers"]
    assert shown["DestConnectedLineNum"] == "138****8000"
    assert shown["ConnectedLineNum"] == "<unknown>"
    assert shown["X-Unheard-Of"] == "call back 139****5678 please"
    assert shown["Uniqueid"] == callid
    clear = bearer(await make_token(Role.SUPERVISOR, can_see_numbers=True))
    r = await api_client.get(f"/api/v1/calls/lab/{callid}", headers=clear)
    assert r.json()["events"][0]["headers"] == headers


# --- 2. body size -----------------------------------------------------------------------------


async def test_a_body_over_the_limit_is_413_before_authentication(
    api_client: httpx.AsyncClient,
) -> None:
    big = b"{" + b" " * (1024 * 1024 + 1) + b"}"
    r = await api_client.post(
        "/api/v1/users", content=big, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413, r.text
    assert r.json()["error"]["id"] == "request.too_large"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it is read
        for _ in range(40):
            yield b" " * 65536

    r = await api_client.post(
        "/api/v1/users", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413, r.text


# --- 3. tokens in logs ------------------------------------------------------------------------


async def test_no_log_line_holds_a_token_whatever_way_it_came(
    server: str, make_token: MakeToken, captured: Captured
) -> None:
    token = await make_token(Role.AUDITOR)
    url = f"ws://{server}/ws/wallboard"
    async with httpx.AsyncClient(base_url=f"http://{server}") as client:
        assert (await client.get("/api/v1/me", headers=bearer(token))).status_code == 200
        await client.get(f"/api/v1/me?access_token={token}")
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"type": "auth", "token": token}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "snapshot"
    async with websockets.connect(url, subprotocols=["callctl.bearer", token]) as ws:  # type: ignore[list-item]
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "snapshot"
    code, _ = await ws_close(f"{url}?access_token={token}")
    assert code == 4401
    # A token that fails (revoked, mistyped) is logged as a failure, never itself.
    wrong = "cct_" + secrets.token_urlsafe(32)
    async with httpx.AsyncClient(base_url=f"http://{server}") as client:
        assert (await client.get("/api/v1/me", headers=bearer(wrong))).status_code == 401
        assert (await client.get("/metrics", headers=bearer(wrong))).status_code == 401
        await client.get(f"/api/v1/me?access_token={wrong}")
    assert (await ws_close(url, json.dumps({"type": "auth", "token": wrong})))[0] == 4401
    closed = await ws_close(url, subprotocols=["callctl.bearer", wrong])  # type: ignore[list-item]
    assert closed[0] == 4401
    logging.getLogger("anything.else").warning("a client sent %s", token)
    await asyncio.sleep(0.2)  # the access log line of the last socket
    assert any("/ws/wallboard" in line for line in captured.lines), captured.lines
    assert any("access_token=[redacted]" in line for line in captured.lines), captured.lines
    assert any("authentication failed" in line for line in captured.lines), captured.lines
    leaked = [
        line
        for line in captured.lines
        for known in (token, wrong)
        if known in line or known[4:20] in line
    ]
    assert leaked == []


# --- 4. bounds and JSON 500s ------------------------------------------------------------------


async def test_out_of_range_dates_and_integers_are_422(
    api_client: httpx.AsyncClient, make_token: MakeToken
) -> None:
    sup = bearer(await make_token(Role.SUPERVISOR))
    for params in (
        {"start": "0001-01-01", "end": "0001-01-02"},
        {"start": "9999-12-30T00:00:00", "end": "9999-12-31T23:59:59"},
        {"start": "1999-12-31", "end": "2000-01-02"},
    ):
        r = await api_client.get("/api/v1/entries", headers=sup, params=params)
        assert r.status_code == 422, (params, r.text)
        assert r.json()["error"]["detail"]["field"] == "start"
    for path in ("/api/v1/entries", "/api/v1/kpis/entries?figure=offered"):
        r = await api_client.get(path, headers=sup, params={"offset": str(2**63)})
        assert r.status_code == 422, (path, r.text)
    r = await api_client.get("/api/v1/kpis", headers=sup, params={"start": "0001-01-01"})
    assert r.status_code == 422
    # Days too: a report's first day, an outage day (an overflow at the zone's midnight).
    for day in ("0001-01-01", "9999-12-31", "2100-01-01"):
        params = {"kind": "daily", "start": day}
        r = await api_client.get("/api/v1/reports/render", headers=sup, params=params)
        assert r.status_code == 422, (day, r.text)
        assert r.json()["error"]["detail"][0]["loc"] == ["query", "start"]
    huge = str(2**63)
    for path in (
        f"/api/v1/conferences/{huge}",
        f"/api/v1/reports/{huge}/file",
        f"/api/v1/callbacks?offset={huge}",
        f"/api/v1/recordings/audit?recording_id={huge}",
    ):
        auditor = bearer(await make_token(Role.AUDITOR)) if "recordings" in path else sup
        r = await api_client.get(path, headers=auditor)
        assert r.status_code == 422, (path, r.text)
    admin = bearer(await make_token(Role.ADMIN))
    for day in ("0001-01-01", "9999-12-31"):
        r = await api_client.put(
            f"/api/v1/outage-days/day/{day}", headers=admin, json={"reason": "停电"}
        )
        assert r.status_code == 422, (day, r.text)


async def test_an_unhandled_error_is_a_json_500_with_a_request_id(
    api_app: FastAPI, captured: Captured
) -> None:
    async def broken() -> None:
        raise RuntimeError("secret internals")

    api_app.add_api_route("/api/v1/test-broken", broken)
    transport = httpx.ASGITransport(app=api_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://callctl.test") as client:
        r = await client.get("/api/v1/test-broken")
    assert r.status_code == 500
    body = r.json()["error"]
    assert body["id"] == "server.error"
    assert "secret internals" not in r.text and "Traceback" not in r.text
    request_id = body["detail"]["request_id"]
    assert r.headers["x-request-id"] == request_id
    logged = [line for line in captured.lines if request_id in line]
    assert logged and any("RuntimeError: secret internals" in line for line in captured.lines)


# --- 5. unauthenticated surfaces --------------------------------------------------------------


async def test_metrics_and_docs_need_a_token_or_a_setting(
    api_client: httpx.AsyncClient, make_token: MakeToken, settings: Settings, database_url: str
) -> None:
    r = await api_client.get("/metrics")
    assert r.status_code == 401
    sup = bearer(await make_token(Role.SUPERVISOR))
    assert (await api_client.get("/metrics", headers=sup)).status_code == 403
    ops = bearer(await make_token(Role.OPS))
    r = await api_client.get("/metrics", headers=ops)
    assert r.status_code == 200 and "callctl_auth_failures_total" in r.text
    assert 'callctl_event_to_wallboard_frame_seconds_bucket{le="+Inf"} 0.0' in r.text
    for path in ("/docs", "/openapi.json", "/redoc"):
        assert (await api_client.get(path)).status_code == 404, path

    from callctl.app import create_app

    scrape = "scrape-" + "x" * 30
    on = settings.model_copy(update={"metrics_token": SecretStr(scrape), "api_docs": True})
    app = create_app(on, ingest=False, database_url=database_url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/metrics", headers=bearer(scrape))).status_code == 200
            assert (await client.get("/metrics", headers=bearer(scrape + "y"))).status_code == 401
            page = await client.get("/docs")
            assert page.status_code == 200
            srcs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
            assert srcs and all(s.startswith("/docs/assets/") for s in srcs), srcs
            for src in srcs:
                asset = await client.get(src)
                assert asset.status_code == 200 and len(asset.content) > 100, src
            assert (await client.get("/docs/assets/..%2Fsettings.py")).status_code == 404
            assert (await client.get("/openapi.json")).status_code == 200


async def test_every_operation_but_health_needs_a_token(
    settings: Settings, database_url: str
) -> None:
    """What the README says: every endpoint but /health (and the pages, which ask for a
    token in the browser) refuses a request without one, whatever the operation."""
    from callctl.app import create_app

    settings = settings.model_copy(update={"api_docs": True, "auth_failures_per_minute": 100_000})
    app = create_app(settings, ingest=False, database_url=database_url)
    async with app.router.lifespan_context(app):
        paths = app.openapi()["paths"]
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            answers: dict[str, int] = {}
            for path, operations in paths.items():
                concrete = re.sub(r"\{[^}]+\}", "1", path)
                for method in operations:
                    r = await client.request(method.upper(), concrete)
                    answers[f"{method.upper()} {path}"] = r.status_code
    assert len(answers) > 80
    open_ = {op: status for op, status in answers.items() if status != 401}
    assert open_ == {"GET /health": 200}


# --- 6. binary websocket frames ---------------------------------------------------------------


async def test_a_binary_first_frame_closes_1003(server: str) -> None:
    code, reason = await ws_close(f"ws://{server}/ws/wallboard", b"\x00\x01binary")
    assert code == 1003 and "binary" in reason


# --- 7. token expiry --------------------------------------------------------------------------


async def test_token_expiry_needs_a_zone_and_the_future(
    api_client: httpx.AsyncClient, make_token: MakeToken, api_app: FastAPI
) -> None:
    admin = bearer(await make_token(Role.ADMIN))
    user = await api_client.post(
        "/api/v1/users", headers=admin, json={"username": "expiry.user", "role": "ops"}
    )
    user_id = user.json()["id"]
    naive = (datetime.now(UTC) + timedelta(days=1)).replace(tzinfo=None).isoformat()
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    for expires_at in (naive, past):
        r = await api_client.post(
            f"/api/v1/users/{user_id}/tokens", headers=admin, json={"expires_at": expires_at}
        )
        assert r.status_code == 422, (expires_at, r.text)
        assert r.json()["error"]["detail"][0]["loc"] == ["body", "expires_at"]
    stored = await api_app.state.db.fetchval(
        "SELECT count(*) FROM api_tokens WHERE user_id = $1", user_id
    )
    assert stored == 0
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    r = await api_client.post(
        f"/api/v1/users/{user_id}/tokens", headers=admin, json={"expires_at": future}
    )
    assert r.status_code == 201


# --- 8. self-escalation and the audit log -----------------------------------------------------


async def test_no_admin_escalates_itself_and_every_change_is_audited(
    api_client: httpx.AsyncClient, api_app: FastAPI
) -> None:
    from callctl.auth.provision import create_user_with_token

    pool = api_app.state.db
    async with pool.acquire() as conn:
        admin_id, token = await create_user_with_token(conn, "plain.admin", Role.ADMIN, label="t")
    admin = bearer(token)
    r = await api_client.patch(
        f"/api/v1/users/{admin_id}", headers=admin, json={"can_see_numbers": True}
    )
    assert r.status_code == 403 and r.json()["error"]["id"] == "users.self_change"
    r = await api_client.post(
        "/api/v1/users",
        headers=admin,
        json={"username": "sock.puppet", "role": "admin", "can_see_numbers": True},
    )
    assert r.status_code == 403 and r.json()["error"]["id"] == "users.cannot_grant"
    assert (
        await api_client.post(f"/api/v1/users/{admin_id}/disable", headers=admin)
    ).status_code == 403
    assert not await pool.fetchval("SELECT can_see_numbers FROM users WHERE id = $1", admin_id)
    assert await pool.fetchval("SELECT count(*) FROM users WHERE username = 'sock.puppet'") == 0

    r = await api_client.post(
        "/api/v1/users", headers=admin, json={"username": "audited", "role": "ops"}
    )
    other = r.json()["id"]
    r = await api_client.patch(f"/api/v1/users/{other}", headers=admin, json={"role": "supervisor"})
    assert r.status_code == 200 and r.json()["role"] == "supervisor"
    await api_client.post(f"/api/v1/users/{other}/tokens", headers=admin, json={"label": "x"})
    await api_client.post(f"/api/v1/users/{other}/tokens/revoke", headers=admin)
    rows = await pool.fetch(
        "SELECT actor, client, action, before, after FROM audit_log "
        "WHERE target_id = $1 ORDER BY id",
        str(other),
    )
    assert [r["action"] for r in rows] == [
        "user.create",
        "user.update",
        "token.issue",
        "token.revoke",
    ]
    update = rows[1]
    assert update["actor"] == "plain.admin" and update["client"]
    assert json.loads(update["before"])["role"] == "ops"
    assert json.loads(update["after"])["role"] == "supervisor"
    assert "cct_" not in json.dumps([dict(r) for r in rows], default=str)
    for statement in (
        "UPDATE audit_log SET actor = 'x'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ):
        with pytest.raises(Exception, match="append-only"):
            await pool.execute(statement)
    r = await api_client.get("/api/v1/audit", headers=admin)
    assert r.status_code == 200 and r.json()[0]["action"] == "token.revoke"


# --- 9. authentication failures ---------------------------------------------------------------


async def test_auth_failures_are_logged_counted_and_throttled(
    api_client: httpx.AsyncClient, make_token: MakeToken, captured: Captured, api_app: FastAPI
) -> None:
    limit = api_app.state.settings.auth_failures_per_minute
    bad = "cct_" + "B" * 43
    for _ in range(limit):
        r = await api_client.get("/api/v1/me", headers=bearer(bad))
        assert r.status_code == 401
    r = await api_client.get("/api/v1/me", headers=bearer(bad))
    assert r.status_code == 429 and r.json()["error"]["id"] == "auth.throttled"
    assert int(r.headers["retry-after"]) > 0
    good = await make_token(Role.OPS)
    assert (await api_client.get("/api/v1/me", headers=bearer(good))).status_code == 429
    failures = [line for line in captured.lines if "authentication failed" in line]
    assert len(failures) == limit and all("127.0.0.1" in f for f in failures)
    assert not any(bad[4:20] in line for line in captured.lines)
    api_app.state.auth_throttle._failures.clear()
    metrics = (await api_client.get("/metrics", headers=bearer(good))).text
    assert f'callctl_auth_failures_total{{reason="invalid_token"}} {float(limit)}' in metrics
    assert 'callctl_auth_failures_total{reason="throttled"} 2.0' in metrics


# --- 11. loose input --------------------------------------------------------------------------


async def test_loose_input_is_refused(
    api_client: httpx.AsyncClient, make_token: MakeToken, api_app: FastAPI
) -> None:
    admin = bearer(await make_token(Role.ADMIN, can_see_numbers=True))
    r = await api_client.post(
        "/api/v1/users",
        headers=admin,
        json={"username": "typo.user", "role": "ops", "can_see_number": True},
    )
    assert r.status_code == 422 and r.json()["error"]["detail"][0]["loc"] == [
        "body",
        "can_see_number",
    ]
    r = await api_client.post(
        "/api/v1/users", headers=admin, json={"username": "Wang.Fang2", "role": "ops"}
    )
    assert r.status_code == 201
    r = await api_client.post(
        "/api/v1/users", headers=admin, json={"username": "wang.fang2", "role": "ops"}
    )
    assert r.status_code == 409
    user_id = (await api_client.get("/api/v1/users", headers=admin)).json()[-1]["id"]
    for body in ({"label": "ok\u202ekcab"}, {"label": "a\u200bb"}):
        r = await api_client.post(f"/api/v1/users/{user_id}/tokens", headers=admin, json=body)
        assert r.status_code == 422, body
    r = await api_client.post(
        "/api/v1/users",
        headers=admin,
        json={"username": "bidi", "role": "ops", "display_name": "王\u202e芳"},
    )
    assert r.status_code == 422
    pool = api_app.state.db
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM users WHERE lower(username) IN ('typo.user', 'bidi')"
        )
        == 0
    )
    assert await pool.fetchval("SELECT count(*) FROM api_tokens WHERE user_id = $1", user_id) == 0


async def test_personal_data_is_never_cached(
    api_client: httpx.AsyncClient, make_token: MakeToken
) -> None:
    sup = bearer(await make_token(Role.SUPERVISOR))
    for path in ("/api/v1/entries", "/api/v1/entries.csv", "/api/v1/me", "/api/v1/kpis"):
        r = await api_client.get(path, headers=sup)
        assert r.status_code == 200, path
        assert r.headers["cache-control"] == "no-store", path


async def test_the_websocket_checks_the_origin(server: str, make_token: MakeToken) -> None:
    token = await make_token(Role.AUDITOR)
    url = f"ws://{server}/ws/wallboard"
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(url, origin="https://evil.example"):  # type: ignore[arg-type]
            pass
    assert refused.value.response.status_code == 403
    async with websockets.connect(url, origin=f"http://{server}") as ws:  # type: ignore[arg-type]
        await ws.send(json.dumps({"type": "auth", "token": token}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "snapshot"
