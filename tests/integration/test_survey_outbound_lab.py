"""The automated outbound survey (回访测评) against the lab: a finished answered call on
the survey line is surveyed by calling its caller back through the outbound trunk
(a SIPp citizens UAS that answers and presses a key, RFC 4733); the answer lands in
survey_answers for the original call's entry, marked outbound, and in queue_log.
Bad input, an unknown or unsurveyable call, or the line's forbidden hours are refused
with no AMI action sent."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from calls_helpers import client, running_app, token, wait_for
from fastapi import FastAPI
from service_helpers import own_db  # noqa: F401  (fixture)

from ami.actions import Action
from callctl.auth.roles import Role
from callctl.lab import sipp
from callctl.lab.lab_model import LAB_SURVEY_LINE
from callctl.routing_config.service import RoutingService
from callctl.settings import Settings
from callctl.surveys.api import outbound_surveys
from callctl.surveys.outbound import OutboundSurveys

pytestmark = pytest.mark.integration
CITIZENS_IP = "127.0.0.7"
CITIZEN = f"139{secrets.randbelow(10**8):08d}"
"""A number of its own: the queue_log follower also brings the lab's earlier calls in."""
KEY = 3
URL = "/api/v1/surveys/outbound"


class NoAmi(OutboundSurveys):
    """Reaching AMI fails the test: bad requests must be refused before it."""

    async def _send(self, node: str, action: Action) -> None:
        raise AssertionError("an AMI action was about to be sent")


def trunk_settings(lab: Settings) -> Settings:
    # The callback dialer's trunk settings, given to the survey service only: with them
    # in the app's settings the dialer would also call the lab's old callback tasks.
    return lab.model_copy(
        update={
            "callback_trunk": "trunk",
            "callback_trunk_host": f"{CITIZENS_IP}:5060",
            "callback_ring_s": 10,
        }
    )


@pytest.fixture
async def app(lab: Settings, own_db: str) -> AsyncIterator[FastAPI]:  # noqa: F811
    async for running in running_app(lab, own_db):
        yield running


@pytest.fixture
async def uas(lab: Settings, sipp_dir: Path) -> AsyncIterator[None]:
    agents = await sipp.start_agents(
        work_dir=sipp_dir, local_ip=lab.agents_ip, port=5060, ring_s=0.3, talk_s=2.0
    )
    try:
        citizens = await sipp.start_survey_citizens(
            work_dir=sipp_dir, local_ip=CITIZENS_IP, port=5060, digit=KEY, dtmf_after_s=2.0
        )
        try:
            yield
        finally:
            await sipp.stop_agents(citizens)
    finally:
        await sipp.stop_agents(agents)


def window_around_now(zone: str) -> str:
    now = datetime.now(ZoneInfo(zone))
    return f"{now - timedelta(hours=1):%H:%M}-{now + timedelta(hours=1):%H:%M}"


async def test_outbound_survey_records_the_answer_for_the_original_call(
    lab: Settings, app: FastAPI, uas: None, sipp_dir: Path
) -> None:
    pool = app.state.db
    boss = await token(app, Role.SUPERVISOR)
    agent = await token(app, Role.AGENT, agent_id="1001")
    with_trunk = trunk_settings(lab)
    since = int(datetime.now().timestamp())

    # An inbound call on the survey line: the agent hangs up after 2 s, the caller
    # hangs up 4.5 s after the answer, during the post-call survey (no answer).
    result = await sipp.run_callers(
        sipp.CallerRun(
            calls=1,
            talk_s=4.5,
            service=LAB_SURVEY_LINE,
            callers=[sipp.Caller(CITIZEN, "市民")],
        ),
        work_dir=sipp_dir,
        local_ip=lab.trunk_ip,
        remote=f"{lab.sip_host}:{lab.sip_port}",
        timeout_s=60,
    )
    assert result.failed == 0, result.screen[-2000:]

    async def finished_entry() -> Any:
        return await pool.fetchrow(
            "SELECT e.node, e.callid, e.queue, e.seq, e.agent FROM queue_entries e "
            "JOIN calls c ON c.node = e.node AND c.linkedid = COALESCE(e.linkedid, e.callid) "
            "WHERE e.outcome = 'answered' AND e.completed_at IS NOT NULL "
            "AND c.caller_num = $1 AND c.ended_at IS NOT NULL AND e.entered_at >= $2",
            CITIZEN,
            datetime.fromtimestamp(since, UTC),
        )

    entry = await wait_for(finished_entry, 30, "the answered, finished entry in the facts")
    node, callid = entry["node"], entry["callid"]
    surveyed = "SELECT * FROM survey_answers WHERE node = $1 AND callid = $2"
    assert await pool.fetch(surveyed, node, callid) == []

    async with client(app) as http:
        app.dependency_overrides[outbound_surveys] = lambda: NoAmi(
            pool, with_trunk, RoutingService(pool, lab)
        )
        try:
            # Bad input: 422 naming the field.
            for body, field in (
                ({"node": node, "callid": f"{callid}\r\nAction: Hangup"}, "callid"),
                ({"node": node, "callid": "1.2,3"}, "callid"),
                ({"node": "a b", "callid": callid}, "node"),
                ({"node": node}, "callid"),
                ({"node": node, "callid": callid, "number": "13800000001"}, "number"),
            ):
                r = await http.post(URL, json=body, headers=boss)
                assert r.status_code == 422, (body, r.text)
                assert field in {str(e["loc"][-1]) for e in r.json()["error"]["detail"]}, r.text
            # Not a supervisor.
            r = await http.post(URL, json={"node": node, "callid": callid}, headers=agent)
            assert r.status_code == 403
            # An unknown call, an unknown node.
            r = await http.post(URL, json={"node": node, "callid": "1.nosuchcall"}, headers=boss)
            assert r.status_code == 404 and r.json()["error"]["id"] == "surveys.call_not_found"
            # Inside the line's forbidden hours (the callbacks' calendar).
            r = await http.put(
                f"/api/v1/callbacks/calendars/{LAB_SURVEY_LINE}",
                json={"forbidden": [window_around_now("Asia/Shanghai")]},
                headers=boss,
            )
            assert r.status_code == 200, r.text
            r = await http.post(URL, json={"node": node, "callid": callid}, headers=boss)
            assert r.status_code == 409 and r.json()["error"]["id"] == "surveys.forbidden_hours"
            r = await http.put(
                f"/api/v1/callbacks/calendars/{LAB_SURVEY_LINE}",
                json={"forbidden": []},
                headers=boss,
            )
            assert r.status_code == 200, r.text
        finally:
            app.dependency_overrides.clear()

        app.dependency_overrides[outbound_surveys] = lambda: OutboundSurveys(
            pool, with_trunk, RoutingService(pool, lab)
        )
        try:
            r = await http.post(URL, json={"node": node, "callid": callid}, headers=boss)
            assert r.status_code == 202, r.text
            placed = r.json()
            assert (placed["queue"], placed["seq"], placed["line"]) == (
                entry["queue"],
                entry["seq"],
                LAB_SURVEY_LINE,
            )

            async def answered() -> Any:
                return await pool.fetch(surveyed, node, callid)

            rows = await wait_for(answered, 40, "the outbound survey's answer")
            assert [
                (r["node"], r["callid"], r["queue"], r["seq"], r["answer"], r["channel"])
                for r in rows
            ] == [(node, callid, entry["queue"], entry["seq"], KEY, "outbound")]
            assert rows[0]["agent"] == entry["agent"]

            # Asterisk's own durable record names the original call, marked outbound.
            lines = [
                ln.split("|")
                for ln in lab.queue_log_file.read_text(encoding="utf-8").splitlines()
                if "|CALLCTL_SURVEY|" in ln and int(ln.split("|")[0]) >= since
            ]
            mine = [p for p in lines if p[1] == callid]
            assert [p[5:] for p in mine] == [
                [str(entry["seq"]), str(KEY), LAB_SURVEY_LINE, "outbound"]
            ], lines

            # Surveyed once: a second request is refused.
            r = await http.post(URL, json={"node": node, "callid": callid}, headers=boss)
            assert r.status_code == 409 and r.json()["error"]["id"] == "surveys.not_surveyable"
        finally:
            app.dependency_overrides.clear()
