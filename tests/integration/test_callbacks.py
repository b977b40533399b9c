"""Callbacks (回访) against the lab: the dialer rings a free agent (SIPp), then dials the
citizen (a SIPp UAS answering, busy or silent as scripted) within the pacing limit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from calls_helpers import client, running_app, token, wait_for
from fastapi import FastAPI
from service_helpers import own_db  # noqa: F401  (fixture)

from callctl.auth.roles import Role
from callctl.lab import sipp
from callctl.settings import Settings

pytestmark = pytest.mark.integration
CITIZENS_IP = "127.0.0.7"
LIMIT = 2


@pytest.fixture
async def app(lab: Settings, own_db: str) -> AsyncIterator[FastAPI]:  # noqa: F811
    settings = lab.model_copy(
        update={
            "callback_trunk": "trunk",
            "callback_trunk_host": f"{CITIZENS_IP}:5060",
            "callback_max_in_flight": LIMIT,
            "callback_poll_s": 0.5,
            "callback_ring_s": 6,
        }
    )
    async for running in running_app(settings, own_db):
        yield running


@pytest.fixture
async def uas(lab: Settings, sipp_dir: Path) -> AsyncIterator[None]:
    agents = await sipp.start_agents(
        work_dir=sipp_dir, local_ip=lab.agents_ip, port=5060, ring_s=0.3, talk_s=30.0
    )
    try:
        citizens = await sipp.start_citizens(
            work_dir=sipp_dir, local_ip=CITIZENS_IP, port=5060, talk_s=2.0
        )
        try:
            yield
        finally:
            await sipp.stop_agents(citizens)
    finally:
        await sipp.stop_agents(agents)


def max_overlap(attempts: list[Any]) -> int:
    """Most attempts in flight at one instant."""
    edges = sorted(
        [(a["started_at"], 1) for a in attempts] + [(a["ended_at"], -1) for a in attempts],
        key=lambda e: (e[0], e[1]),
    )
    now = peak = 0
    for _, step in edges:
        now += step
        peak = max(peak, now)
    return peak


async def test_callbacks_answered_busy_no_answer_within_pacing(
    lab: Settings, app: FastAPI, uas: None
) -> None:
    pool = app.state.db
    boss = await token(app, Role.SUPERVISOR)
    async with client(app) as http:
        # Bad numbers: 422 naming the field, nothing stored.
        for number in ("13800000001\r\n", "138;1", "0085212345678"):
            r = await http.post(
                "/api/v1/callbacks",
                json={"work_order": "WO-bad", "line": "12345", "number": number},
                headers=boss,
            )
            assert r.status_code == 422 and r.json()["error"]["detail"]["field"] == "number"
        tasks: dict[str, int] = {}
        for work_order, number, line in (
            ("WO-answer", "13800000001", "12345"),
            ("WO-busy", "13800000002", "12345"),
            ("WO-silent", "13800000003", "12345"),
        ):
            r = await http.post(
                "/api/v1/callbacks",
                json={"work_order": work_order, "line": line, "number": number, "max_attempts": 1},
                headers=boss,
            )
            assert r.status_code == 201 and r.json()["created"], r.text
            tasks[work_order] = r.json()["id"]
        r = await http.post(
            "/api/v1/callbacks",
            json={"work_order": "WO-x", "line": "12399", "number": "13800000001"},
            headers=boss,
        )
        assert r.status_code == 422 and r.json()["error"]["detail"]["field"] == "line"
        r = await http.post(  # the same work order again: the same task
            "/api/v1/callbacks",
            json={"work_order": "WO-answer", "line": "12345", "number": "13800000001"},
            headers=boss,
        )
        assert r.json() == {"id": tasks["WO-answer"], "created": False}

        # The queue_log follower also brings the lab's earlier after-hours messages (the
        # IVR tests') in as callback tasks, which the dialer calls too: every task is
        # waited for, this test's three are checked one by one.
        async def settled() -> list[Any]:
            rows = await pool.fetch("SELECT id, status, result, attempts FROM callback_tasks")
            done = [r for r in rows if r["status"] in ("reached", "exhausted", "invalid")]
            return rows if len(done) == len(rows) >= 3 else []

        all_rows = await wait_for(settled, 180, "every callback settled")
        rows = {r["id"]: r for r in all_rows}
        assert (rows[tasks["WO-answer"]]["status"], rows[tasks["WO-answer"]]["result"]) == (
            "reached",
            "answered",
        )
        assert (rows[tasks["WO-busy"]]["status"], rows[tasks["WO-busy"]]["result"]) == (
            "exhausted",
            "busy",
        )
        assert (rows[tasks["WO-silent"]]["status"], rows[tasks["WO-silent"]]["result"]) == (
            "exhausted",
            "no_answer",
        )

        every_attempt = await pool.fetch("SELECT * FROM callback_attempts ORDER BY started_at")
        attempts = [a for a in every_attempt if a["task_id"] in tasks.values()]
        assert sorted((a["task_id"], a["result"]) for a in attempts) == sorted(
            [
                (tasks["WO-answer"], "answered"),
                (tasks["WO-busy"], "busy"),
                (tasks["WO-silent"], "no_answer"),
            ]
        )
        assert all(a["agent"] is not None for a in attempts)

        # Every attempt rang the agent first, so each one was recorded on the agent's
        # channel (under the reserved queue name) and is found by the dialer's channel id.
        async def recorded() -> list[Any]:
            rows = await pool.fetch(
                "SELECT r.callid, r.queue, r.agent, r.channels FROM recordings r"
                " JOIN callback_attempts a ON a.channel_id = r.callid"
                " WHERE a.task_id = ANY($1::bigint[])",
                list(tasks.values()),
            )
            return rows if len(rows) >= len(attempts) else []

        recordings = await wait_for(recorded, 30, "a recording of every callback attempt")
        assert sorted((r["callid"], r["agent"]) for r in recordings) == sorted(
            (a["channel_id"], a["agent"]) for a in attempts
        )
        assert all(r["queue"] == "_callback" and r["channels"] == 2 for r in recordings)
        assert max_overlap(every_attempt) <= LIMIT
        assert app.state.callback_dialer.peak_in_flight <= LIMIT

        r = await http.get(f"/api/v1/callbacks/{tasks['WO-answer']}", headers=boss)
        body = r.json()
        assert body["number"] == "138****0001"  # masked without can_see_numbers
        assert [a["result"] for a in body["attempt_log"]] == ["answered"]
        r = await http.get("/api/v1/callbacks/kpis", headers=boss)
        kpis = r.json()
        reached = sum(r["status"] == "reached" for r in all_rows)
        assert (kpis["due"], kpis["reached"], kpis["reached_within_24h"]) == (
            len(all_rows),
            reached,
            reached,
        )
        rate = Decimal(100 * reached) / len(all_rows)
        assert kpis["callback_rate"] == str(rate.quantize(Decimal("0.01"), ROUND_HALF_UP))

        # Forbidden hours now on line 12345: a new task there waits, with agents free.
        local_now = datetime.now(ZoneInfo("Asia/Shanghai"))
        start = (local_now - timedelta(minutes=30)).strftime("%H:%M")
        end = (local_now + timedelta(minutes=60)).strftime("%H:%M")
        r = await http.put(
            "/api/v1/callbacks/calendars/12345",
            json={"forbidden": [f"{start}-{end}"]},
            headers=boss,
        )
        assert r.status_code == 200, r.text
        r = await http.post(
            "/api/v1/callbacks",
            json={"work_order": "WO-quiet", "line": "12345", "number": "13800000001"},
            headers=boss,
        )
        quiet_id = r.json()["id"]
        await asyncio.sleep(3)  # six dialer rounds
        quiet = await pool.fetchrow(
            "SELECT status, attempts FROM callback_tasks WHERE id = $1", quiet_id
        )
        assert (quiet["status"], quiet["attempts"]) == ("pending", 0)
    assert datetime.now(UTC) - attempts[0]["started_at"] < timedelta(minutes=2)
