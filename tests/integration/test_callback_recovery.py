"""Callbacks (回访) against the lab, beyond the happy path: an invalid number (the
citizen's side answers 404) ends the task as invalid; attempts left in flight when
callctl stopped are settled when it starts again: one still up is watched again and
ends answered without a second dial, one whose result ingest stored gets that result,
one that left no trace ends as interrupted and is retried later."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from calls_helpers import client, running_app, token, wait_for
from fastapi import FastAPI
from service_helpers import own_db  # noqa: F401  (fixture)

from callctl.auth.roles import Role
from callctl.db import asyncpg_dsn
from callctl.lab import sipp
from callctl.settings import Settings

pytestmark = pytest.mark.integration
CITIZENS_IP = "127.0.0.7"


def dialer_settings(lab: Settings) -> Settings:
    return lab.model_copy(
        update={
            "callback_trunk": "trunk",
            "callback_trunk_host": f"{CITIZENS_IP}:5060",
            "callback_max_in_flight": 2,
            "callback_poll_s": 0.5,
            "callback_ring_s": 6,
        }
    )


@pytest.fixture
async def uas(lab: Settings, sipp_dir: Path) -> AsyncIterator[None]:
    """Agents answer and stay 40 s; citizens talk 10 s then hang up (number ending
    in 4: 404 Not Found)."""
    agents = await sipp.start_agents(
        work_dir=sipp_dir, local_ip=lab.agents_ip, port=5060, ring_s=0.3, talk_s=40.0
    )
    try:
        citizens = await sipp.start_citizens(
            work_dir=sipp_dir, local_ip=CITIZENS_IP, port=5060, talk_s=10.0
        )
        try:
            yield
        finally:
            await sipp.stop_agents(citizens)
    finally:
        await sipp.stop_agents(agents)


async def new_task(
    app: FastAPI, work_order: str, number: str, attempts: int = 2, later: bool = False
) -> int:
    """A task through REST; ``later``: due in an hour (out of the dialer's reach)."""
    boss = await token(app, Role.SUPERVISOR)
    body: dict[str, Any] = {
        "work_order": work_order,
        "line": "12345",
        "number": number,
        "max_attempts": attempts,
        "retry_after_s": 600,
    }
    if later:
        body["due_from"] = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    async with client(app) as http:
        r = await http.post("/api/v1/callbacks", json=body, headers=boss)
    assert r.status_code == 201, r.text
    task_id: int = r.json()["id"]
    return task_id


async def left_dialling(pool: Any, task_id: int, channel_id: str) -> None:
    """As a stopped callctl leaves it: the task dialling, its attempt open."""
    started = datetime.now(UTC) - timedelta(seconds=20)
    await pool.execute(
        "UPDATE callback_tasks SET status = 'dialling', attempts = 1, agent = '1001' WHERE id = $1",
        task_id,
    )
    await pool.execute(
        "INSERT INTO callback_attempts (task_id, attempt, started_at, agent, channel_id) "
        "VALUES ($1, 1, $2, '1001', $3)",
        task_id,
        started,
        channel_id,
    )


async def task_row(pool: Any, task_id: int) -> Any:
    return await pool.fetchrow(
        "SELECT status, result, attempts FROM callback_tasks WHERE id = $1", task_id
    )


async def test_invalid_number_and_recovery_after_a_restart(
    lab: Settings,
    own_db: str,  # noqa: F811
    uas: None,
) -> None:
    settings = dialer_settings(lab)
    # 1. A run that stops while an attempt is in flight.
    run = running_app(settings, own_db)
    app = await anext(run)
    try:
        pool = app.state.db
        invalid = await new_task(app, "WO-invalid", "13800000004", attempts=3)
        live = await new_task(app, "WO-live", "13800000011")
        await wait_for(
            lambda: pool.fetchval(
                "SELECT count(*) = 2 FROM callback_attempts WHERE task_id = ANY($1::bigint[])",
                [invalid, live],
            ),
            30,
            "both tasks dialled",
        )
        row = await wait_for(
            lambda: pool.fetchrow(
                "SELECT status, result, attempts FROM callback_tasks "
                "WHERE id = $1 AND status <> 'dialling'",
                invalid,
            ),
            20,
            "the invalid number settled",
        )
        # A 404 from the citizen's side: invalid number (空号), done after one attempt.
        assert (row["status"], row["result"], row["attempts"]) == ("invalid", "invalid", 1)
        attempt = await pool.fetchrow(
            "SELECT result FROM callback_attempts WHERE task_id = $1", invalid
        )
        assert attempt["result"] == "invalid"
        assert (await task_row(pool, live))["status"] == "dialling"
        channel_id = await pool.fetchval(
            "SELECT channel_id FROM callback_attempts WHERE task_id = $1", live
        )
        assert channel_id and channel_id.startswith(f"callctl-cb-{live}-1-")
        # Two more left by an earlier run: one whose result ingest stored, one traceless.
        stored = await new_task(app, "WO-stored", "13800000021", later=True)
        traceless = await new_task(app, "WO-gone", "13800000031", later=True)
    finally:
        await run.aclose()  # callctl stops here; the live attempt goes on in Asterisk

    # 2. Between runs: the earlier tasks as a stopped callctl left them.
    db = await asyncpg.connect(asyncpg_dsn(own_db))
    try:
        await left_dialling(db, stored, f"callctl-cb-{stored}-1-feedbeef")
        await left_dialling(db, traceless, f"callctl-cb-{traceless}-1-deadbeef")
        headers = {
            "Event": "UserEvent",
            "UserEvent": "CallctlCallback",
            "Task": str(stored),
            "Attempt": "1",
            "Status": "BUSY",
            "Cause": "17",
        }
        await db.execute(
            "INSERT INTO ami_events (node, received_at, seq, name, linkedid, uniqueid, headers) "
            "VALUES ($1, now() - interval '10 seconds', 1, 'UserEvent', $2, $2, $3::jsonb)",
            lab.node_id,
            f"callctl-cb-{stored}-1-feedbeef",
            json.dumps(headers),
        )
        assert (await task_row(db, live))["status"] == "dialling"
    finally:
        await db.close()

    # 3. callctl starts again: every attempt left dialling is settled, none dialled twice.
    run = running_app(settings, own_db)
    app = await anext(run)
    try:
        pool = app.state.db
        row = await wait_for(
            lambda: pool.fetchrow(
                "SELECT status, result, attempts FROM callback_tasks "
                "WHERE id = $1 AND status <> 'dialling'",
                stored,
            ),
            15,
            "the task whose result was stored settled",
        )
        assert (row["status"], row["result"], row["attempts"]) == ("retry", "busy", 1)
        row = await wait_for(
            lambda: pool.fetchrow(
                "SELECT status, result, attempts FROM callback_tasks "
                "WHERE id = $1 AND status <> 'dialling'",
                traceless,
            ),
            15,
            "the traceless task settled",
        )
        assert (row["status"], row["result"], row["attempts"]) == ("retry", "interrupted", 1)
        # The live one was watched again: its citizen hangs up after 10 s, answered.
        row = await wait_for(
            lambda: pool.fetchrow(
                "SELECT status, result, attempts FROM callback_tasks "
                "WHERE id = $1 AND status <> 'dialling'",
                live,
            ),
            30,
            "the attempt that outlived the restart settled",
        )
        assert (row["status"], row["result"], row["attempts"]) == ("reached", "answered", 1)
        attempts = await pool.fetch(
            "SELECT task_id, attempt, result, ended_at FROM callback_attempts "
            "WHERE task_id = ANY($1::bigint[]) ORDER BY task_id",
            [live, stored, traceless],
        )
        assert [(a["task_id"], a["attempt"], a["result"]) for a in attempts] == [
            (live, 1, "answered"),
            (stored, 1, "busy"),
            (traceless, 1, "interrupted"),
        ]
        assert all(a["ended_at"] is not None for a in attempts)
        boss = await token(app, Role.SUPERVISOR)
        async with client(app) as http:
            r = await http.get(f"/api/v1/callbacks/{traceless}", headers=boss)
            assert r.status_code == 200, r.text
            log = r.json()["attempt_log"]
            assert [a["result"] for a in log] == ["interrupted"]
            assert log[0]["result_label"]["zh-CN"] == "中断（系统重启）"
    finally:
        await run.aclose()
