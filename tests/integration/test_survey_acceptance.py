"""Acceptance: the post-call survey's answers, from RFC 4733 DTMF to /kpis.

Real Asterisk, SIPp callers of the lab's survey line (12346) and SIPp agents who
hang up first; callctl as a subprocess, SIGKILLed during the run and started
again, so that some answers reach the database only through queue_log. The API's
satisfaction (满意率) and take-up (参评率) must equal the scripted keys exactly.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from service_helpers import HTTP_PORT, control, own_db, start_callctl, wait_healthy

from ami.connection import NodeConnection
from callctl.auth.provision import provision_user
from callctl.auth.roles import Role
from callctl.db import asyncpg_dsn
from callctl.lab import sipp
from callctl.lab.lab_model import LAB_SURVEY_LINE
from callctl.settings import Settings

pytestmark = pytest.mark.integration

__all__ = ["control", "own_db"]

SCRIPT = {1: 10, 2: 8, 3: 6}
"""Callers per key pressed; 1 and 2 count as satisfied (the lab line's default)."""
HANG_UPS = 6
"""Callers who hang up during the survey: no answer."""


async def _db(url: str, query: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


def _queue_log_answers(path: Path, since: int) -> Counter[str]:
    keys: Counter[str] = Counter()
    for raw in path.read_text(encoding="utf-8").splitlines():
        parts = raw.split("|")
        if len(parts) >= 7 and parts[4] == "CALLCTL_SURVEY" and int(parts[0]) >= since:
            keys[parts[6]] += 1
    return keys


async def test_survey_answers_give_satisfaction_and_take_up_through_a_kill(
    lab: Settings, own_db: str, control: NodeConnection, tmp_path: Path
) -> None:
    log = tmp_path / "callctl.log"
    callctl = start_callctl(own_db, tmp_path / "spool", log)
    agents = None
    remote = f"{lab.sip_host}:{lab.sip_port}"
    try:
        await wait_healthy()
        token = await provision_user(own_db, "survey.supervisor", Role.SUPERVISOR, label="t")
        since = datetime.now(UTC).replace(microsecond=0)
        await asyncio.sleep(1.1)
        agents = await sipp.start_agents(
            work_dir=tmp_path / "agents", local_ip=lab.agents_ip, port=5060, ring_s=1, talk_s=2
        )

        async def pressing(digit: int, calls: int) -> sipp.SippResult:
            return await sipp.run_survey_callers(
                sipp.SurveyRun(calls=calls, digit=digit, service=LAB_SURVEY_LINE, rate_per_s=0.7),
                work_dir=tmp_path / f"key{digit}",
                local_ip=lab.trunk_ip,
                remote=remote,
                timeout_s=90,
            )

        async def hanging_up() -> sipp.SippResult:
            # Agents hang up after 2 s; these callers 4.5 s after the answer, in the survey.
            return await sipp.run_callers(
                sipp.CallerRun(calls=HANG_UPS, rate_per_s=0.5, talk_s=4.5, service=LAB_SURVEY_LINE),
                work_dir=tmp_path / "hangup",
                local_ip=lab.trunk_ip,
                remote=remote,
                timeout_s=90,
            )

        async def kill_and_restart() -> subprocess.Popen[bytes]:
            # The first answers come ~6 s in, the last ~20 s in: some while callctl is
            # down, some after it is back.
            await asyncio.sleep(4)
            callctl.send_signal(signal.SIGKILL)
            callctl.wait()
            await asyncio.sleep(5)
            return start_callctl(own_db, tmp_path / "spool", log)

        restart = asyncio.create_task(kill_and_restart())
        results = await asyncio.gather(
            *(pressing(digit, calls) for digit, calls in SCRIPT.items()), hanging_up()
        )
        callctl = await restart
        await wait_healthy()
        for result in results:
            assert result.failed == 0, result.screen[-2000:]
        until = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)

        # Asterisk's own record: one CALLCTL_SURVEY line per key pressed, none for hang-ups.
        logged = _queue_log_answers(lab.queue_log_file, int(since.timestamp()))
        assert logged == {str(k): n for k, n in SCRIPT.items()}

        answered_calls = sum(SCRIPT.values()) + HANG_UPS
        deadline = time.monotonic() + 30
        while True:
            rows = await _db(
                own_db,
                "SELECT answer, count(*) AS n FROM survey_answers WHERE answered_at >= $1"
                " GROUP BY answer",
                since,
            )
            entries = await _db(
                own_db,
                "SELECT count(*) AS n FROM queue_entries WHERE entered_at >= $1"
                " AND completed_at IS NOT NULL",
                since,
            )
            stored = {r["answer"]: r["n"] for r in rows}
            if (stored == SCRIPT and entries[0]["n"] == answered_calls) or (
                time.monotonic() > deadline
            ):
                break
            await asyncio.sleep(0.5)
        assert stored == SCRIPT
        assert entries[0]["n"] == answered_calls
        # Each answer is tied to its entry and to the agent who took the call.
        untied = await _db(
            own_db,
            "SELECT s.* FROM survey_answers s LEFT JOIN queue_entries q USING (node, callid,"
            " queue, seq) WHERE s.answered_at >= $1"
            " AND (q.agent IS DISTINCT FROM s.agent OR q.outcome IS DISTINCT FROM 'answered')",
            since,
        )
        assert untied == []

        # callctl was down for part of the run: some answers came from queue_log alone.
        seen = await _db(
            own_db,
            "SELECT count(*) AS n FROM ami_events WHERE name = 'UserEvent'"
            " AND headers->>'UserEvent' = 'CallctlSurvey' AND received_at >= $1",
            since,
        )
        print(f"\nsurvey answers seen live on AMI: {seen[0]['n']} of {sum(SCRIPT.values())}")
        assert 0 < seen[0]["n"] < sum(SCRIPT.values())

        body = await _kpis(token, since, until)
        print(f"\nfrom the API: {body['rows'][0]}")
        (row,) = body["rows"]
        satisfied = SCRIPT[1] + SCRIPT[2]
        answers = sum(SCRIPT.values())
        assert row["counts"]["answered"] == answered_calls
        assert row["counts"]["survey_answers"] == answers
        assert row["counts"]["survey_satisfied"] == satisfied
        satisfaction, take_up = row["figures"]["satisfaction"], row["figures"]["survey_take_up"]
        assert (satisfaction["numerator"], satisfaction["denominator"]) == (satisfied, answers)
        assert (take_up["numerator"], take_up["denominator"]) == (answers, answered_calls)
        assert satisfaction["value"] == round(100 * satisfied / answers, 2)
        assert body["params"]["satisfied_keys"] == [1, 2]
    finally:
        if agents is not None:
            await sipp.stop_agents(agents)
        callctl.send_signal(signal.SIGTERM)
        try:
            callctl.wait(timeout=10)
        except subprocess.TimeoutExpired:
            callctl.kill()
            callctl.wait()


async def _kpis(token: str, start: datetime, end: datetime) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{HTTP_PORT}") as client:
        r = await client.get(
            "/api/v1/kpis",
            params={"start": start.isoformat(), "end": end.isoformat(), "line": LAB_SURVEY_LINE},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body
