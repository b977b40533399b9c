"""The wallboard shows today's satisfaction (满意率) and survey take-up (参评率) in
headless Chromium, from the live view, equal to /api/v1/kpis, against callctl on a
database of its own holding four answered calls today, three of them rated."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import asyncpg
import httpx
import pytest
from chromium_cdp import chromium_page
from service_helpers import HTTP_PORT, own_db, start_callctl, wait_healthy

from callctl.auth.provision import provision_user
from callctl.auth.roles import Role
from callctl.db import asyncpg_dsn
from callctl.facts.models import HangupSide, QueueEntryFact, SurveyAnswerFact
from callctl.ingest.upserts import commit_facts, create_stage_tables
from callctl.lab.lab_model import LAB_QUEUE, LAB_SURVEY_LINE
from callctl.settings import Settings
from kpi.outcome import Outcome

pytestmark = pytest.mark.integration

__all__ = ["own_db"]

KEYS = (1, 1, 3, None)
"""Each seeded call's survey key; None: the caller hung up during the survey."""


async def _seed(url: str) -> None:
    # Ten minutes ago: today in Asia/Shanghai unless the test runs in the first ten
    # minutes after its midnight (then the page and the API both count nothing of it).
    start = int(time.time()) - 600
    facts: list[tuple[object, str]] = []
    for i, key in enumerate(KEYS):
        entered = start + 20 * i
        entry = QueueEntryFact(
            node="lab", callid=f"wb-survey-{entered}.{i}", queue=LAB_QUEUE, seq=1,
            entered_at=entered, caller_num=f"1370000{i:04d}", outcome=Outcome.ANSWERED,
            wait_s=3, ended_wait_at=entered + 3, agent="1001", ring_attempts=1, talk_s=5,
            hangup_side=HangupSide.AGENT, completed_at=entered + 8, line=LAB_SURVEY_LINE,
        )  # fmt: skip
        facts.append((entry, "ami"))
        if key is not None:
            answer = SurveyAnswerFact(
                entry.node, entry.callid, entry.queue, entry.seq, key, entered + 12, "1001"
            )
            facts.append((answer, "ami"))
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await create_stage_tables(conn)
        await commit_facts(conn, facts)
    finally:
        await conn.close()


async def test_wallboard_shows_satisfaction_and_take_up(
    lab: Settings, own_db: str, tmp_path: Path, artifacts_dir: Path
) -> None:
    await _seed(own_db)
    token = await provision_user(own_db, "wallboard-sv", Role.SUPERVISOR, label="wallboard test")
    callctl = start_callctl(own_db, tmp_path / "spool", tmp_path / "callctl.log")
    try:
        await wait_healthy()
        async with chromium_page(tmp_path / "chromium", tmp_path / "chromium.log") as page:
            await page.call(
                "Page.navigate", url=f"http://127.0.0.1:{HTTP_PORT}/wallboard#token={token}"
            )
            # The queue_log follower brings this run's earlier lab calls (surveyed ones
            # too) into today: the page must show what /api/v1/kpis says, ours included.
            shown: list[object] = []
            expected: list[object] = []
            counts: dict[str, int] = {}
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{HTTP_PORT}",
                headers={"Authorization": f"Bearer {token}"},
            ) as api:
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    (row,) = (await api.get("/api/v1/kpis")).json()["rows"]
                    counts, figures = row["counts"], row["figures"]
                    expected = [
                        f"{figures['satisfaction']['value']:.2f}%",
                        f"{figures['survey_take_up']['value']:.2f}%",
                        f"({counts['survey_satisfied']}/{counts['survey_answers']})",
                    ]
                    shown = await page.evaluate(
                        "['satisfaction', 'survey-take-up', 'survey-counts']"
                        ".map((id) => document.getElementById(id).textContent)"
                    )
                    if shown == expected:
                        break
                    await asyncio.sleep(0.5)
            assert shown == expected
            assert counts["survey_answers"] >= 3 and counts["survey_satisfied"] >= 2
            if counts["answered"] == len(KEYS):  # alone: 2 of 3 satisfied, 3 of 4 rated
                assert expected == ["66.67%", "75.00%", "(2/3)"]
            label = await page.evaluate(
                "document.querySelector('#fig-satisfaction .label').textContent"
            )
            assert label == "今日满意率"
            await page.screenshot(artifacts_dir / "wallboard-survey.png")
    finally:
        callctl.terminate()
        try:
            callctl.wait(30)
        except subprocess.TimeoutExpired:
            callctl.kill()
            callctl.wait()
            raise
